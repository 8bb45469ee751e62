"""Every number the study report gives, beside the same number from one run of the pipeline: `docs/fidelity.md`
and `docs/fidelity.json` (one record per number: section, row, report, ours, delta), rendered from that run's
files, never typed.

A run is a folder holding the files listed in `RUN_FILES` (the stages' metrics, summaries and grid tables, with
the run's `dvc.lock` and `params.yaml`), as the workspace holds them after `dvc repro` or as `keep` copied them
into git (`docs/report_scale/`), so a page can be re-rendered from git and compared with a later run.

A run too long for one sitting is kept stage by stage (`keep(..., stages=...)`, `STAGE_FILES`): each stage's
files go into git the moment it ends, with its wall time and machine in `sittings.json`, and `restore` puts them
back into a fresh clone, where `dvc repro -s STAGE` runs the next ones (benchmarks/report_sitting.sh). A stage
not kept yet renders as "not run".

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
import subprocess
from pathlib import Path
from typing import Any

import yaml

from mnistsum.errors import InputError
from mnistsum.files import read_json, write_text
from mnistsum.machine import machine
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
from mnistsum.tracking import flatten, git_state

TOLERANCE = 0.02
STUDIES = ("study1", "study2", "study3", "study4")
# What the renderer reads, relative to a run's root, stage by stage: all small text files. The CNN's and the
# sumnet's summaries are not on the page (PAGE_STAGES); a later sitting's learning curve reads them.
STAGE_FILES = {
    "base_mlp": ("metrics/base_mlp.json",),
    **{s: (f"metrics/{s}.json", f"models/{s}.json") for s in ("study1", "activation", *STUDIES[1:])},
    "final": ("metrics/final.json", "models/final/best.json"),
    **{s: (f"metrics/{s}.json", f"models/{s}/best.json") for s in ("cnn", "sumnet")},
    # kept for their times and numbers; compare needs the curve's probabilities, which stay out of git
    **{s: (f"metrics/{s}.json",) for s in ("learning_curve", "tsne")},
    **{s: (f"metrics/{s}.json", f"results/{s}.csv", f"results/{s}.json") for s in ("logreg", "svm", "forest")},
    "compare": ("metrics/compare.json", "results/compare.json"),
}
RUN_HEAD = ("dvc.lock", "params.yaml")
PAGE_STAGES = tuple(s for s in STAGE_FILES if s not in ("cnn", "sumnet", "learning_curve", "tsne"))
RUN_FILES = (*RUN_HEAD, *(f for s in PAGE_STAGES for f in STAGE_FILES[s]))
SITTINGS = "sittings.json"
PAGE_BEGIN = "<!-- rendered by `mnistsum fidelity` from the run's files; do not edit -->"


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)


def keep(src: Path, dest: Path, stages: list[str] | None = None, seconds: float | None = None) -> None:
    """Copy a run's files (RUN_FILES under src) into dest, replacing what a previous keep put there. With stages,
    one sitting's: the run's head and those stages' files, into a dest that holds the same run (its params.yaml)
    or nothing yet; with seconds, the sitting's wall time, machine and commit go into dest/sittings.json."""
    unknown = [s for s in stages or () if s not in STAGE_FILES]
    if unknown:
        raise InputError(f"--stages {unknown[0]}: not a kept stage (one of {', '.join(STAGE_FILES)})")
    if seconds is not None and not 0 <= seconds < float("inf"):
        raise InputError(f"--seconds {seconds}: a sitting's wall time, a finite number of seconds >= 0")
    files = list(RUN_FILES) if stages is None else [*RUN_HEAD, *(f for s in stages for f in STAGE_FILES[s])]
    missing = [f for f in files if not (src / f).is_file()]
    if missing:
        raise InputError(f"{src}: no {missing[0]} (and {len(missing) - 1} more): run `dvc repro` first")
    if stages is not None and (dest / "params.yaml").is_file():
        if (dest / "params.yaml").read_bytes() != (src / "params.yaml").read_bytes():
            raise InputError(
                f"{src}/params.yaml: not the params of the run kept in {dest}: a sitting continues that run "
                f"(`mnistsum fidelity --restore {dest}` first)"
            )
    merged = stages is not None
    if merged:  # the kept stages' lock entries stay, whether or not this workspace restored them
        lock = yaml.safe_load((src / "dvc.lock").read_text())
        held = yaml.safe_load((dest / "dvc.lock").read_text()) if (dest / "dvc.lock").is_file() else {}
        lock["stages"] = _sitting_lock(held.get("stages", {}), lock.get("stages", {}), stages, kept_stages(dest))
        write_text(dest / "dvc.lock", yaml.safe_dump(lock, sort_keys=False))
    for f in files:
        if not (merged and f == "dvc.lock"):
            _copy(src / f, dest / f)
    if seconds is not None:
        record = {"stages": list(stages or PAGE_STAGES), "wall_s": round(seconds), "machine": machine()}
        record["commit"] = _code_commit()
        done = read_json(dest / SITTINGS)["sittings"] if (dest / SITTINGS).is_file() else []
        write_text(dest / SITTINGS, json.dumps({"sittings": [*done, record]}, indent=1) + "\n")


def _sitting_lock(held: dict, here: dict, stages: list[str], kept: list[str]) -> dict:
    """The lock entries of a run kept sitting by sitting: the stages kept before and this sitting's, plus the
    stages that feed them (check_params, prepare: not kept stages, their entries the latest). A workspace's
    entries for stages it did not keep (the clone's own, from another run's params) stay out: the kept lock
    says what ran at the kept params and nothing else."""
    fresh = {s for s in here if s in stages or s not in STAGE_FILES}
    before = {s for s in held if s in kept and s not in fresh}
    return {s: here[s] if s in fresh else held[s] for s in [*here, *held] if s in fresh | before}


def _code_commit() -> str:
    """The commit of the code that ran (the workspace's, so keep from there), and whether its code differed: a
    sitting's params.yaml is the profile's, kept beside, so only the library, stages and pipeline count."""
    state = git_state()
    code = ["git", "status", "--porcelain", "--untracked-files=no", "--", "mnistsum", "pipelines", "dvc.yaml"]
    changed = subprocess.run(code, capture_output=True, text=True, timeout=30).stdout.strip()
    return state["git.commit"] + (" (with uncommitted code)" if changed else "")


def restore(kept: Path, workspace: Path) -> list[str]:
    """Put a kept run's files back into a workspace (a fresh clone), so `dvc repro -s` runs its next stages
    there; returns the stages it restored. Its probes and sittings stay where they are."""
    if not all((kept / f).is_file() for f in RUN_HEAD):
        raise InputError(f"{kept}: no dvc.lock or params.yaml: not a kept run (`mnistsum fidelity --keep` makes one)")
    here = workspace / "params.yaml"
    if here.is_file() and here.read_bytes() != (kept / "params.yaml").read_bytes():
        raise InputError(
            f"{here}: not the params of the run kept in {kept} (changed: "
            f"{', '.join(changed_settings(kept, workspace)) or 'formatting'}): a sitting continues that run "
            "with its own params; start a new run elsewhere to change them"
        )
    done = kept_stages(kept)
    for f in (*RUN_HEAD, *(f for s in done for f in STAGE_FILES[s])):
        _copy(kept / f, workspace / f)
    return done


def changed_settings(run: Path, probe: Path) -> dict[str, Any]:
    """KEY -> the probe's value, for every params.yaml key whose value differs from the run's."""
    base = flatten(yaml.safe_load((run / "params.yaml").read_text()))
    other = flatten(yaml.safe_load((probe / "params.yaml").read_text()))
    return {k: other.get(k) for k in sorted(set(base) | set(other)) if base.get(k) != other.get(k)}


def keep_probe(src: Path, run: Path, name: str, why: str, stages: list[str] | None = None) -> Path:
    """Keep the workspace under src as a probe of the kept run under run: run/probes/NAME/, with why (one line: the
    cause it measures); with stages, only theirs (a probe that re-ran base_mlp alone). Refused when its params do
    not differ from the run's."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"--probe {name!r}: a folder name of letters, digits, - and _")
    dest = run / "probes" / name
    keep(src, dest, stages)
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


COMBINED = "Combined vs sequential (6)"


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
    missing = [f for f in RUN_HEAD if not (root / f).is_file()]
    if missing:
        raise InputError(f"{root}: no {missing[0]}: not a run's files (`mnistsum fidelity --keep` copies them)")
    kept = set(kept_stages(root))
    metric = {
        s: read_json(root / f"metrics/{s}.json") if s in kept else {}
        for s in ("base_mlp", *STUDIES, "activation", "final")
    }
    out = []
    nn = "Neural networks (3.1-3.3)"
    for stage, report in REPORT_NN.items():
        if stage == "activation":  # the report's relu row: counted once, in the activation study below
            continue
        m = metric[stage]
        out.append(_record(nn, stage, "test", report, m.get("test_accuracy"), m.get("regime", "-")))
    act = read_json(root / "models/activation.json") if "activation" in kept else {}
    for name, report in REPORT_ACTIVATION.items():
        ours = act.get("by_activation", {}).get(name, {}).get("test_accuracy")
        regime = metric["activation"].get("regime", "-")
        out.append(_record("Activation study (3.2)", name, "test", report, ours, regime))
    for stage, chosen in REPORT_CHOSEN.items():
        config = read_json(root / f"models/{stage}.json")["config"] if stage in kept else None
        regime = metric[stage].get("regime", "-")
        for key, report in chosen.items():
            ours = None if config is None else config.get(key)
            if isinstance(report, list):
                ours = None if config is None else list(ours or [])
                layers = None if ours is None else len(ours)
                out.append(_record("Chosen by the studies (3.2)", stage, "layers", len(report), layers, regime, False))
                for i, units in enumerate(report):
                    got = ours[i] if ours is not None and i < len(ours) else None
                    out.append(_record("Chosen by the studies (3.2)", stage, f"units[{i}]", units, got, regime, False))
            else:
                out.append(_record("Chosen by the studies (3.2)", stage, key, report, ours, regime, False))
    final = read_json(root / "models/final/best.json") if "final" in kept else {}
    out.append(
        _record(
            nn,
            "final",
            "epochs run",
            REPORT_FINAL_STOPPED_AFTER,
            final.get("epochs_run"),
            metric["final"].get("regime", "-"),
            False,
        )
    )
    for stage, test, val, train in (
        ("logreg", REPORT_LOGREG, REPORT_LOGREG_VAL, REPORT_LOGREG_TRAIN),
        ("svm", REPORT_SVM, REPORT_SVM_VAL, REPORT_SVM_TRAIN),
        ("forest", REPORT_FOREST, {}, REPORT_FOREST_TRAIN),
    ):
        grid = _grid(root, stage) if stage in kept else {}
        section = {"logreg": "Logistic regression (5.1)", "svm": "SVM (5.2)", "forest": "Random forest (5.3)"}[stage]
        for label in dict.fromkeys([*test, *val, *train]):
            for measure, quoted in (("test", test), ("val", val), ("train", train)):
                if label in quoted:
                    ours = grid.get(label, {}).get(f"{measure}_accuracy")
                    out.append(_record(section, label, measure, quoted[label], ours, "sums"))
    section, row, ratio = COMBINED, "sequential / combined test accuracy at the largest size", None
    if "compare" in kept:
        n, ratio = _ratios(root)[-1]
        row = f"sequential / combined test accuracy at {n:,} pairs"
    rec = _record(section, row, "ratio, at least", REPORT_SEQUENTIAL_OVER_COMBINED, ratio, "sums")
    if ratio is not None:
        rec["within"] = ratio >= REPORT_SEQUENTIAL_OVER_COMBINED  # the report's claim is "more than four times"
    out.append(rec)
    return out


def _ratios(root: Path) -> list[tuple[int, float]]:
    """(training pairs, sequential / combined test accuracy) at each size of the run's compare stage."""
    return [
        (s["n"], s["sequential_argmax"]["accuracy"] / max(s["combined"]["accuracy"], 1e-12))
        for s in read_json(root / "results/compare.json")["sizes"]
    ]


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


def kept_stages(root: Path) -> list[str]:
    """The stages whose files the run under root holds, in pipeline order; a stage with only some of its files is
    a damaged copy, refused naming the first missing one (never rendered as "not run")."""
    done = []
    for stage, files in STAGE_FILES.items():
        held = [(root / f).is_file() for f in files]
        if all(held):
            done.append(stage)
        elif any(held):
            missing = files[held.index(False)]
            raise InputError(f"{root}: no {missing}, though {stage}'s other files are there: a damaged copy of a run")
    return done


def _run_line(root: Path) -> str:
    params = yaml.safe_load((root / "params.yaml").read_text())
    machines = {read_json(root / STAGE_FILES[s][0]).get("machine", "unrecorded") for s in kept_stages(root)}
    s1 = params.get("study1", {})
    return (
        f"The run: studies of {s1.get('n_trials')} trials x {s1.get('epochs')} epochs on "
        f"{s1.get('train_fraction')} of the training pairs, split `{params.get('prepare', {}).get('split')}`, "
        f"seed {params.get('base', {}).get('seed')}; made on {' and '.join(sorted(machines)) or 'no machine yet'}."
    )


def _not_run(root: Path) -> str:
    left = [s for s in PAGE_STAGES if s not in kept_stages(root)]
    return f"yet ({', '.join(left)} still to run) or " * bool(left) + "at this run's budget"


def _sittings(root: Path) -> list[str]:
    """The stage times of a run kept sitting by sitting (sittings.json), and the stages still to run."""
    if not (root / SITTINGS).is_file():
        return []
    lines = [
        "## The run's sittings",
        "",
        f"Kept stage by stage (`benchmarks/report_sitting.sh`, `{SITTINGS}`): each stage's wall time from `dvc "
        "repro -s` to its end, on the machine and code that ran it.",
        "",
        "| stages | wall time | machine | commit |",
        "|---|---|---|---|",
    ]
    done = read_json(root / SITTINGS)["sittings"]
    for s in done:
        minutes = f"{s['wall_s'] / 60:.1f} min"
        lines.append(f"| {', '.join(s['stages'])} | {minutes} | {s['machine']} | {s['commit'][:12]} |")
    total = sum(s["wall_s"] for s in done) / 3600
    left = [s for s in STAGE_FILES if s not in kept_stages(root)]
    lines += ["", f"{total:.2f} h of stages so far; still to run: {', '.join(left) or 'none'}.", ""]
    return lines


def _balance(recs: list[dict[str, Any]], probed: list[dict[str, Any]]) -> dict[str, int]:
    """What a probe does to all it re-ran, not only to the gaps it was made for: a change that closes one gap may
    open others (a larger training subset lifts the SVM's knees and its plateaus alike)."""
    ours = {(r["section"], r["row"], r["measure"]): r for r in recs if r["scored"] and r["ours"] is not None}
    pairs = [
        (p, ours[key])
        for p in probed
        if p["scored"] and p["ours"] is not None and (key := (p["section"], p["row"], p["measure"])) in ours
    ]
    return {
        "computed": len(pairs),
        "within": sum(p["within"] for p, _ in pairs),
        "brought_within": sum(p["within"] and not r["within"] for p, r in pairs),
        "taken_out": sum(r["within"] and not p["within"] for p, r in pairs),
    }


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
    for probe in measured.values():
        probe["balance"] = _balance(recs, probe["records"])
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
        f"({sum(r['ours'] is None for r in recs)} not run {_not_run(root)}; "
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
        if section == COMBINED and "compare" in kept_stages(root):
            # "More than four times" reads the report's whole figure, whose sizes it does not give.
            at = ", ".join(f"{n:,} pairs {ratio:.2f}" for n, ratio in _ratios(root))
            lines += [f"Ours at each size the run trained: {at}.", ""]
    gaps = [r for r in scored if not r["within"]]
    lines += ["## The gaps over the tolerance, and what each measured change gave", ""]
    if measured:
        lines += ["Each probe is this run with a few settings changed (read from its params.yaml):", ""]
        for name, probe in measured.items():
            changed = ", ".join(f"`{k}={v}`" for k, v in probe["changed"].items())
            b = probe["balance"]
            numbers = "number" if b["computed"] == 1 else "numbers"
            lines.append(
                f"- **{name}** ({changed}): {probe['why']}. Of the {b['computed']} {numbers} it computed, "
                f"{b['within']} within {TOLERANCE}: {b['brought_within']} of the run's gaps brought within, "
                f"{b['taken_out']} of the run's numbers within taken out of it"
            )
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
    lines += _sittings(root)
    lines += ["## Where the report's procedure read the test set", ""]
    lines += [f"- {stage}: {note}." for stage, note in CHOSE_ON_TEST.items()]
    page = "\n".join(lines) + "\n"
    kept = {name: {"why": p["why"], "changed": p["changed"], "balance": p["balance"]} for name, p in measured.items()}
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
