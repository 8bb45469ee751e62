"""Every number the study report gives, beside the same number from one run of the pipeline: `docs/fidelity.md`
and `docs/fidelity.json` (one record per number: section, row, report, ours, delta), rendered from that run's
files, never typed.

A run is a folder holding the files listed in `RUN_FILES` (the stages' metrics, summaries and grid tables, with
the run's `dvc.lock` and `params.yaml`), as the workspace holds them after `dvc repro` or as `keep` copied them
into git (`docs/report_scale/`), so a page can be re-rendered from git and compared with a later run.

Accuracies are scored: within `TOLERANCE` of the report's or not. What the report's searches chose (a learning
rate, layer widths, a dropout rate) and the epoch early stopping ended at are listed beside ours, not scored:
they are outcomes of a search, not measurements of one model.

A gap is explained by a measurement, not a guess: a *probe* is the same run with a few settings changed (`dvc exp
run -S KEY=VALUE`), kept beside it under `probes/NAME/` (`mnistsum fidelity --keep DEST --probe NAME --why ...`).
What a probe changed is read from the two params files, never typed; the page lists, for every gap over the
tolerance, each probe's number for it."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from mnistsum.errors import InputError
from mnistsum.files import read_json, write_text
from mnistsum.quotes import (
    CHOSE_ON_TEST,
    REPORT_ACTIVATION,
    REPORT_CHOSEN,
    REPORT_FINAL_STOPPED_AFTER,
    REPORT_FOREST,
    REPORT_FOREST_TRAIN,
    REPORT_LOGREG,
    REPORT_LOGREG_TRAIN,
    REPORT_LOGREG_VAL,
    REPORT_NN,
    REPORT_SEQUENTIAL_OVER_COMBINED,
    REPORT_SVM,
    REPORT_SVM_TRAIN,
    REPORT_SVM_VAL,
)
from mnistsum.tracking import flatten

TOLERANCE = 0.02
STUDIES = ("study1", "study2", "study3", "study4")
# What the renderer reads, relative to a run's root: all small text files.
RUN_FILES = (
    "dvc.lock",
    "params.yaml",
    *(f"metrics/{s}.json" for s in ("base_mlp", *STUDIES, "activation", "final", "logreg", "svm", "forest", "compare")),
    *(f"models/{s}.json" for s in (*STUDIES, "activation")),
    "models/final/best.json",
    *(f"results/{s}.{ext}" for s in ("logreg", "svm", "forest") for ext in ("csv", "json")),
    "results/compare.json",
)
PAGE_BEGIN = "<!-- rendered by `mnistsum fidelity` from the run's files; do not edit -->"


def keep(src: Path, dest: Path) -> None:
    """Copy a run's files (RUN_FILES under src) into dest, replacing what a previous keep put there."""
    missing = [f for f in RUN_FILES if not (src / f).is_file()]
    if missing:
        raise InputError(f"{src}: no {missing[0]} (and {len(missing) - 1} more): run `dvc repro` first")
    for f in RUN_FILES:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        tmp = (dest / f).with_name((dest / f).name + ".tmp")
        shutil.copyfile(src / f, tmp)
        tmp.replace(dest / f)


def changed_settings(run: Path, probe: Path) -> dict[str, Any]:
    """KEY -> the probe's value, for every params.yaml key whose value differs from the run's."""
    base = flatten(yaml.safe_load((run / "params.yaml").read_text()))
    other = flatten(yaml.safe_load((probe / "params.yaml").read_text()))
    return {k: other.get(k) for k in sorted(set(base) | set(other)) if base.get(k) != other.get(k)}


def keep_probe(src: Path, run: Path, name: str, why: str) -> Path:
    """Keep the workspace under src as a probe of the kept run under run: run/probes/NAME/, with why (one line: the
    cause it measures). Refused when its params do not differ from the run's."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"--probe {name!r}: a folder name of letters, digits, - and _")
    dest = run / "probes" / name
    keep(src, dest)
    changed = changed_settings(run, dest)
    if not changed:
        shutil.rmtree(dest)
        raise InputError(f"{src}/params.yaml: the same as {run}/params.yaml: a probe changes at least one setting")
    write_text(dest / "probe.json", json.dumps({"why": why}, indent=1) + "\n")
    return dest


def probes(run: Path) -> dict[str, dict[str, Any]]:
    """name -> {why, changed, records} for every probe kept beside the run."""
    out = {}
    for folder in sorted((run / "probes").glob("*/")):
        if (folder / "probe.json").is_file():
            out[folder.name] = {
                "why": read_json(folder / "probe.json").get("why", ""),
                "changed": changed_settings(run, folder),
                "records": records(folder),
            }
    return out


def _grid(root: Path, stage: str) -> dict[str, dict[str, float]]:
    """A grid stage's table: label -> its accuracies."""
    with open(root / f"results/{stage}.csv", newline="") as fh:
        return {
            r["label"]: {k: float(r[k]) for k in ("train_accuracy", "val_accuracy", "test_accuracy") if r.get(k)}
            for r in csv.DictReader(fh)
        }


def _record(section: str, row: str, measure: str, report: float, ours: float | None, regime: str, scored=True):
    if isinstance(ours, float) and ours.is_integer() and isinstance(report, int):
        ours = int(ours)  # a count read back as a float
    delta = None if ours is None else round(ours - report, 6)
    return {
        "section": section,
        "row": row,
        "measure": measure,
        "regime": regime,
        "report": report,
        "ours": None if ours is None else (ours if isinstance(ours, int) else round(float(ours), 6)),
        "delta": delta,
        "scored": scored,
        "within": None if delta is None or not scored else abs(delta) <= TOLERANCE,
    }


def records(root: Path) -> list[dict[str, Any]]:
    """One record per number the report gives, with ours from the run under root (None where this run's budget
    did not compute it, e.g. an iteration count its params leave out)."""
    missing = [f for f in RUN_FILES if not (root / f).is_file()]
    if missing:
        raise InputError(f"{root}: no {missing[0]}: not a run's files (`mnistsum fidelity --keep` copies them)")
    metric = {s: read_json(root / f"metrics/{s}.json") for s in ("base_mlp", *STUDIES, "activation", "final")}
    out = []
    nn = "Neural networks (3.1-3.3)"
    for stage, report in REPORT_NN.items():
        if stage == "activation":  # the report's relu row: counted once, in the activation study below
            continue
        m = metric[stage]
        out.append(_record(nn, stage, "test", report, m.get("test_accuracy"), m.get("regime", "?")))
    act = read_json(root / "models/activation.json")
    for name, report in REPORT_ACTIVATION.items():
        ours = act.get("by_activation", {}).get(name, {}).get("test_accuracy")
        out.append(_record("Activation study (3.2)", name, "test", report, ours, metric["activation"]["regime"]))
    for stage, chosen in REPORT_CHOSEN.items():
        config = read_json(root / f"models/{stage}.json")["config"]
        regime = metric[stage]["regime"]
        for key, report in chosen.items():
            ours = config.get(key)
            if isinstance(report, list):
                ours = list(ours or [])
                out.append(
                    _record("Chosen by the studies (3.2)", stage, "layers", len(report), len(ours), regime, False)
                )
                for i, units in enumerate(report):
                    got = ours[i] if i < len(ours) else None
                    out.append(_record("Chosen by the studies (3.2)", stage, f"units[{i}]", units, got, regime, False))
            else:
                out.append(_record("Chosen by the studies (3.2)", stage, key, report, ours, regime, False))
    final = read_json(root / "models/final/best.json")
    out.append(
        _record(
            nn,
            "final",
            "epochs run",
            REPORT_FINAL_STOPPED_AFTER,
            final.get("epochs_run"),
            metric["final"]["regime"],
            False,
        )
    )
    for stage, test, val, train in (
        ("logreg", REPORT_LOGREG, REPORT_LOGREG_VAL, REPORT_LOGREG_TRAIN),
        ("svm", REPORT_SVM, REPORT_SVM_VAL, REPORT_SVM_TRAIN),
        ("forest", REPORT_FOREST, {}, REPORT_FOREST_TRAIN),
    ):
        grid = _grid(root, stage)
        section = {"logreg": "Logistic regression (5.1)", "svm": "SVM (5.2)", "forest": "Random forest (5.3)"}[stage]
        for label in dict.fromkeys([*test, *val, *train]):
            for measure, quoted in (("test", test), ("val", val), ("train", train)):
                if label in quoted:
                    ours = grid.get(label, {}).get(f"{measure}_accuracy")
                    out.append(_record(section, label, measure, quoted[label], ours, "sums"))
    sizes = read_json(root / "results/compare.json")["sizes"]
    largest = sizes[-1]
    ratio = largest["sequential_argmax"]["accuracy"] / max(largest["combined"]["accuracy"], 1e-12)
    rec = _record(
        "Combined vs sequential (6)",
        f"sequential / combined test accuracy at {largest['n']:,} pairs",
        "ratio, at least",
        REPORT_SEQUENTIAL_OVER_COMBINED,
        ratio,
        "sums",
    )
    rec["within"] = ratio >= REPORT_SEQUENTIAL_OVER_COMBINED  # the report's claim is "more than four times"
    out.append(rec)
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "not run"
    if isinstance(v, float) and 0 < abs(v) < 0.01:  # a learning rate: its significant digits
        return f"{v:.3g}"
    return f"{v:.4f}" if isinstance(v, float) and abs(v) < 10 else f"{v:g}"


def _delta(r: dict) -> str:
    if r["delta"] is None:
        return "-"
    whole = isinstance(r["report"], int) and isinstance(r["ours"], int)  # epochs, layers, units
    small = abs(r["report"]) < 0.01  # a learning rate
    text = (
        f"{r['delta']:+g}"
        if whole or abs(r["delta"]) >= 10
        else f"{r['delta']:+.3g}"
        if small
        else f"{r['delta']:+.4f}"
    )
    return f"**{text}**" if r["scored"] and not r["within"] else text


def _run_line(root: Path) -> str:
    params = yaml.safe_load((root / "params.yaml").read_text())
    machine = read_json(root / "metrics/base_mlp.json").get("machine", "unrecorded")
    s1 = params.get("study1", {})
    return (
        f"The run: studies of {s1.get('n_trials')} trials x {s1.get('epochs')} epochs on "
        f"{s1.get('train_fraction')} of the training pairs, split `{params.get('prepare', {}).get('split')}`, "
        f"seed {params.get('base', {}).get('seed')}; made on {machine}."
    )


def render(root: Path, source: str) -> tuple[str, str]:
    """The page and the JSON for the run under root; `source` says where the run's files are kept."""
    recs = records(root)
    measured = probes(root)
    for r in recs:
        key = (r["section"], r["row"], r["measure"])
        r["probes"] = [
            {"probe": name, "ours": p["ours"], "delta": p["delta"], "within": p["within"]}
            for name, probe in measured.items()
            for p in probe["records"]
            # a probe measures a number only where it ran it and got another value
            if (p["section"], p["row"], p["measure"]) == key and p["ours"] is not None and p["ours"] != r["ours"]
        ]
    scored = [r for r in recs if r["scored"] and r["ours"] is not None]
    within = sum(r["within"] for r in scored)
    lines = [
        "# The study report's numbers beside ours",
        "",
        PAGE_BEGIN,
        "",
        f"Every number the study report gives ({len(recs)}), beside the same number from one run of this pipeline "
        f"(its files: `{source}`). {_run_line(root)}",
        "",
        f"Accuracies within {TOLERANCE} of the report's: **{within} of {len(scored)}** compared "
        f"({sum(r['ours'] is None for r in recs)} not run at this run's budget; "
        f"{sum(not r['scored'] for r in recs)} choices and epoch counts listed, not scored). "
        "A delta in bold is over the tolerance. `regime` says what ours trained on: `sums` the given pairs' sum "
        "labels (as the report did), `digits` fresh pairs labelled from the digit labels.",
        "",
    ]
    for section in dict.fromkeys(r["section"] for r in recs):
        lines += [
            f"## {section}",
            "",
            "| row | measure | regime | report | ours | delta |",
            "|---|---|---|---|---|---|",
        ]
        for r in (r for r in recs if r["section"] == section):
            ours = "no such layer" if r["ours"] is None and r["measure"].startswith("units[") else _fmt(r["ours"])
            cells = [r["row"], r["measure"], r["regime"], _fmt(r["report"]), ours, _delta(r)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    gaps = [r for r in scored if not r["within"]]
    lines += ["## The gaps over the tolerance, and what each measured change gave", ""]
    if measured:
        lines += ["Each probe is this run with a few settings changed (read from its params.yaml):", ""]
        for name, probe in measured.items():
            changed = ", ".join(f"`{k}={v}`" for k, v in probe["changed"].items())
            lines.append(f"- **{name}** ({changed}): {probe['why']}")
        lines.append("")
    if gaps:
        lines += [
            "| section | row | measure | report | ours | delta | probes: ours (delta) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in gaps:
            found = "; ".join(f"{p['probe']}: {_fmt(p['ours'])} ({_delta({**r, **p})})" for p in r["probes"])
            cells = [r["section"], r["row"], r["measure"], _fmt(r["report"]), _fmt(r["ours"]), _delta(r)]
            lines.append("| " + " | ".join([*cells, found or "not probed yet"]) + " |")
        lines.append("")
    lines += ["## Where the report's procedure read the test set", ""]
    lines += [f"- {stage}: {note}." for stage, note in CHOSE_ON_TEST.items()]
    page = "\n".join(lines) + "\n"
    kept = {name: {"why": p["why"], "changed": p["changed"]} for name, p in measured.items()}
    data = {"source": source, "tolerance": TOLERANCE, "probes": kept, "records": recs}
    return page, json.dumps(data, indent=1) + "\n"


def write(root: Path, page: Path, json_path: Path, source: str) -> tuple[int, int]:
    """Render the run under root into page and json_path; returns (within tolerance, compared)."""
    text, data = render(root, source)
    write_text(page, text)
    write_text(json_path, data)
    recs = json.loads(data)["records"]
    scored = [r for r in recs if r["scored"] and r["ours"] is not None]
    return sum(r["within"] for r in scored), len(scored)
