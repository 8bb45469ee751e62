"""The speed tables of docs/reproduction.md, rendered from the throughput JSON files kept in docs/speed/ (one per
lever, each written by `benchmarks/throughput.py --label ... --out docs/speed/NAME.json`), never typed.

  .venv/bin/python benchmarks/speed_table.py            # rewrites the block between the markers in the page
  .venv/bin/python benchmarks/speed_table.py --check    # exit 1 when the page differs from what the files render
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from stage_times import ORDER as STAGES  # noqa: E402

from mnistsum.machine import BUSY  # noqa: E402

BEGIN = "<!-- speed: rendered by benchmarks/speed_table.py from docs/speed/*.json; do not edit -->"
END = "<!-- end of speed -->"
FAMILIES = ("mlp-trial", "mlp-final", "cnn", "sumnet")


def in_order(paths) -> list[Path]:
    """File names in their numbers' order: stages-10 after stages-9, not after stages-1."""
    return sorted(paths, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])


def load_runs(folder: Path, pattern: str) -> list[dict]:
    """The kept runs whose files match `pattern`, in file-name order, each with its file's name."""
    return [json.loads(p.read_text()) | {"file": p.name} for p in in_order(folder.glob(pattern))]


def load(folder: Path) -> list[dict]:
    """The kept throughput runs, in file-name order (name them 01-..., 02-... for the order the table shows)."""
    return load_runs(folder, "[0-9]*.json")


def load_stages(folder: Path, profile: str = "default") -> list[dict]:
    """The kept stage times of whole runs with one params profile (benchmarks/stage_times.py), in file-name order;
    runs kept before the profile was recorded are default runs."""
    runs = load_runs(folder, "stages-*.json")
    return [r for r in runs if r.get("profile", "default") == profile]


def render_stages(runs: list[dict]) -> str:
    """Seconds per stage, one column per kept run (val / test accuracy under the seconds where a stage has them)."""
    if not runs:
        return ""

    def position(name: str) -> float:  # a group "a to b" right after its first stage
        first = name.split(" to ")[0]
        return STAGES.index(first) + (0.5 if " to " in name else 0) if first in STAGES else len(STAGES)

    names = sorted(dict.fromkeys(stage for r in runs for stage in r["stages"]), key=position)
    lines = [
        "| stage | " + " | ".join(r["label"] for r in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for name in names:
        cells = []
        for r in runs:
            s = r["stages"].get(name)
            if s is None or s["seconds"] is None:
                cells.append("-")
                continue
            acc = (
                f", {s['val']:.4f} / {s['test']:.4f}" if s.get("val") is not None and s.get("test") is not None else ""
            )
            cells.append(
                f"{s['seconds']:,} s{acc}{_cores(s.get('cores_used'))}{_busy(s.get('busy_elsewhere'))}{_sittings(s)}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = [f"**{r['total_seconds']:,} s ({r['total_seconds'] / 60:.0f} min)**" for r in runs]
    lines.append("| all stages | " + " | ".join(totals) + " |")
    if any(r.get("between_stages_seconds") is not None for r in runs):
        between = [
            "-" if r.get("between_stages_seconds") is None else f"{r['between_stages_seconds']:,} s" for r in runs
        ]
        lines.append("| of which between stages | " + " | ".join(between) + " |")
    lines += [
        "",
        "Stage to stage from the MLflow parents' start times, val / test accuracy beside each (`N cores`: how many "
        "cores the stage's own processes kept busy on average, where the run recorded it; `busy N%`: other "
        "processes used that share of the cores during the stage, where the run recorded it; `N sittings`: the stage "
        "was stopped and resumed, its time the sum of its sittings, work a stopped sitting lost included; `of which "
        "between stages`: from each parent's end to the next one's start, summed: DVC's own work, one process's "
        "exit and the next one's start, its imports of TensorFlow, scikit-learn and MLflow included, where the run "
        "was timed with it). The runs:",
        "",
    ]
    lines += [f"- {r['label']}: {r.get('note') or r['label']} ({r['machine']})." for r in runs]
    return "\n".join(lines) + "\n"


def _cores(used: float | None) -> str:
    return f", {used:.1f} cores" if used is not None else ""


def _busy(fraction: float | None) -> str:
    return f", busy {fraction:.0%}" if fraction is not None and fraction >= BUSY else ""


def render(runs: list[dict]) -> str:
    """Three tables: the networks' training pairs/s (with the fraction of the machine's measured peak), the
    scikit-learn estimators' fit and predict seconds, and study1's time with 1 and 2 local workers."""
    if not runs:
        return "(no throughput runs kept in docs/speed/)"
    lines: list[str] = [
        "| run | machine, peak | " + " | ".join(FAMILIES) + " |",
        "|---|---|" + "---|" * len(FAMILIES),
    ]
    for r in runs:
        by = {n["family"]: n for n in r["networks"]}
        cells = [
            f"{by[f]['train_pairs_per_s']:,.0f} ({by[f]['train_gflops'] / r['peak_fp32_gflops']:.0%})"
            + _busy(by[f].get("cores_busy_elsewhere"))
            if f in by
            else "-"
            for f in FAMILIES
        ]
        head = f"{r['label'] or r['file']}: `{r['command']}`"
        lines.append(f"| {head} | {r['machine']}, {r['peak_fp32_gflops']:.0f} GFLOP/s | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Training pairs per second (in brackets the arithmetic rate as a fraction of the float32 matmul peak "
        "measured in the same run; `busy N%`: other processes used that share of the cores while it was timed, "
        "so the rate measures the sharing; runs kept before the benchmark recorded it say nothing).",
        "",
    ]
    sk = [(r, s) for r in runs for s in r["sklearn"]]
    if sk:
        lines += [
            "| run | estimator | engine | fit pairs | fit s | predict s | val accuracy |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['label'] or r['file']} | {s['estimator']} | {s['engine']} | {s['fit_pairs']:,} | {s['fit_s']:.2f} | "
            f"{s['predict_s']:.2f} | {s['val_accuracy']:.4f} |"
            for r, s in sk
        ]
        lines.append("")
    studies = [(r, s) for r in runs for s in r.get("studies", [])]
    if studies:
        lines += ["| run | study1 trials | local workers | seconds | best val accuracy |", "|---|---|---|---|---|"]
        lines += [
            f"| {r['label'] or r['file']} | {s['trials']} | {s['local_workers']} | {s['seconds']:.0f} | "
            f"{s['best_val']:.4f} |"
            for r, s in studies
        ]
        lines.append("")
    return "\n".join(lines).rstrip()


def render_projections(folder: Path, report_runs: list[dict] | None = None) -> str:
    """The report's scale projected from a default run (benchmarks/project_report_scale.py), one table each, with
    a column per kept run of the report's profile (stage_times.py --profile report): measured beside projected."""
    report_runs = report_runs or []
    out = []
    for path in sorted(folder.glob("projection-*.json")):
        p = json.loads(path.read_text())
        out += [
            f"The report's scale projected from the default run's measured costs ({p['machine']}; "
            f"`benchmarks/project_report_scale.py`, {path.name})"
            + (", beside the report's scale as it ran" if report_runs else "")
            + ":",
            "",
            "| stage | measured, default | projected, report's scale | "
            + "".join(f"{r['label']} | " for r in report_runs)
            + "how |",
            "|---|---|---|" + "---|" * len(report_runs) + "---|",
        ]
        for r in p["rows"]:
            measured = "-" if r["measured_s"] is None else f"{r['measured_s']:,} s"
            ran = "".join(f"{_stage_cell(run['stages'].get(r['stage']))} | " for run in report_runs)
            out.append(f"| {r['stage']} | {measured} | {r['projected_s']:,.0f} s | {ran}{r['how']} |")
        total = p["projected_total_s"]
        ran = "".join(f"**{run['total_seconds']:,} s ({run['total_seconds'] / 3600:.1f} h)** | " for run in report_runs)
        out += [f"| all stages | | **{total:,.0f} s ({total / 3600:.1f} h)** | {ran}|", ""]
        out += [f"- {run['label']}: {run.get('note') or run['label']} ({run['machine']})." for run in report_runs]
        out += [""] if report_runs else []
    return "\n".join(out)


def _stage_cell(s: dict | None) -> str:
    if s is None or s["seconds"] is None:
        return "-"
    return f"{s['seconds']:,} s{_sittings(s)}"


def _sittings(s: dict) -> str:
    return f", {s['sittings']} sittings" if s.get("sittings", 1) > 1 else ""


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: its header, the separator, one line per row of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows])


def render_models(folder: Path) -> str:
    """benchmarks/models.py runs (models-*.json), one row per family: what a lever costs in accuracy at equal
    epochs, beside its training time."""
    runs = load_runs(folder, "models-*.json")
    if not runs:
        return ""
    header = ["run", "machine", "precision", "family", "epochs", "test sum accuracy", "digit accuracy", "s/epoch"]
    header.append("training s")
    rows = []
    for run in runs:
        for r in run["rows"]:
            digit = f"{r['digit_accuracy']:.4f}" if r.get("digit_accuracy") is not None else "-"
            cells = [run["file"], run.get("machine", "-"), run.get("precision", "float32"), r["family"]]
            cells += [str(r["epochs_run"]), f"{r['test_accuracy']:.4f}", digit, f"{r['seconds_per_epoch']:.1f}"]
            rows.append([*cells, f"{r['train_seconds']:.0f}"])
    return (
        table(header, rows)
        + "\n\n"
        + (
            "The families trained as the stages train them, for the epochs shown, one run after another on one machine "
            "(`benchmarks/models.py --epochs N --out docs/speed/models-NAME.json`, `--params` for another precision)."
        )
    )


def render_sag_pixels(folder: Path) -> str:
    """benchmarks/sag_pixels.py runs (sag-pixels-*.json): one sag point fitted on dense pixels and on their CSR
    matrix, one row per way."""
    runs = load_runs(folder, "sag-pixels-*.json")
    if not runs:
        return ""
    header = ["run", "machine", "pairs", "C", "max_iter", "pixels", "fit s", "iterations", "stopped by"]
    header += ["val accuracy", "intercepts span"]
    rows = []
    for run in runs:
        for r in run["rows"]:
            cells = [run["file"], run["machine"], f"{run['train_pairs']:,}", f"{run['C']:g}", str(run["max_iter"])]
            cells += [r["pixels"], f"{r['fit_s']:.1f}", str(r["n_iter"]), "tol" if r["met_tol"] else "max_iter"]
            rows.append([*cells, f"{r['val_accuracy']:.4f}", f"{r['intercept_spread']:.2f}"])
    return table(header, rows) + (
        "\n\nThe logreg stage's sag point three ways on the same pixels (`benchmarks/sag_pixels.py`)."
    )


def replace_block(page: str, block: str) -> str:
    if BEGIN not in page or END not in page:
        raise SystemExit(f"error: no speed block ({BEGIN} ... {END}) in the page")
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=Path, default=Path("docs/speed"))
    parser.add_argument("--page", type=Path, default=Path("docs/reproduction.md"))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    page = args.page.read_text()
    parts = [
        render_stages(load_stages(args.speed)),
        render_projections(args.speed, load_stages(args.speed, "report")),
        render(load(args.speed)),
        render_models(args.speed),
        render_sag_pixels(args.speed),
    ]
    new = replace_block(page, "\n".join(p for p in parts if p).strip())
    if args.check:
        sys.exit(0 if new == page else 1)
    tmp = args.page.with_name(args.page.name + ".tmp")
    tmp.write_text(new)
    tmp.replace(args.page)
    print(f"{args.page}: speed tables from {len(load(args.speed))} runs in {args.speed}/")


if __name__ == "__main__":
    main()
