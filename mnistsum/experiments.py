"""`mnistsum exps`: DVC experiments against a baseline (the reference commit, or a run named with --baseline), in
a terminal: the params that differ and each stage's headline accuracies (validation / test), one column per
experiment, at most `width` characters; `~` marks a number made on another kind of machine than the baseline's.

`dvc exp show` prints every param and metric of every stage (hundreds of columns); this keeps what a user
compares. It reads `dvc exp show --json`, so it shows exactly what DVC records."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from mnistsum.errors import InputError
from mnistsum.tracking import flatten

HEADLINE = ("val_accuracy", "test_accuracy")
MAX_LABEL = 40  # longer param names are cut
CELL = 12  # characters per column


def exp_show(repo: str = ".") -> list[dict]:
    try:
        out = subprocess.run(["dvc", "exp", "show", "--json"], cwd=repo, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise InputError("dvc is not on PATH (source .venv/bin/activate, or run it through make)") from None
    if out.returncode != 0:
        raise InputError(f"dvc exp show failed in {repo}: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(out.stdout)


def stage_order(repo: str = ".") -> list[str]:
    """The stages as dvc.yaml lists them (the pipeline's order), to order the rows by; none if it is unreadable."""
    try:
        return list(yaml.safe_load((Path(repo) / "dvc.yaml").read_text())["stages"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []


def _rank(metric: str, order: list[str]) -> int:
    """A row's place: that of its stage in the pipeline."""
    model = metric.split(" ", 1)[0]
    owners = [s for s in order if model == s or model.startswith(f"{s}_")]
    return order.index(max(owners, key=len)) if owners else len(order)


def columns(shown: list[dict]) -> list[tuple[str, dict]]:
    """(name, data) of the reference commit, the workspace when it differs, and each experiment, newest last."""
    cols: list[tuple[str, dict]] = []
    workspace = next((e for e in shown if e["rev"] == "workspace"), None)
    for base in (e for e in shown if e["rev"] != "workspace"):
        cols.append((reference_label(base.get("name"), base["rev"]), base["data"] or {}))
        for exp in reversed(base.get("experiments") or []):
            rev = exp["revs"][0]
            cols.append((exp.get("name") or rev.get("name") or rev["rev"][:7], rev.get("data") or {}))
    # The workspace gets a column of its own only when it is not already shown (after `dvc exp run` it holds
    # the experiment's results).
    if workspace is not None and cols and all(_values(workspace["data"] or {}) != _values(d) for _, d in cols):
        cols.insert(1, ("workspace", workspace["data"] or {}))
    return cols


def reference_label(name: str | None, rev: str, cell: int = CELL) -> str:
    """The reference column's heading: `branch@sha` where it fits a cell, else the branch, else the short sha
    (a detached HEAD has no branch; DVC then names the commit by its own sha)."""
    sha = rev[:7]
    if not name or rev.startswith(name):
        return sha
    return f"{name}@{sha}" if len(name) + 8 <= cell else name


def _values(data: dict) -> tuple[dict, dict]:
    params = {}
    for content in (data.get("params") or {}).values():
        params |= {k: v for k, v in flatten((content or {}).get("data") or {}).items()}
    metrics = {}
    for file, content in (data.get("metrics") or {}).items():
        stage = file.rsplit("/", 1)[-1].removesuffix(".json")
        for key, value in ((content or {}).get("data") or {}).items():
            # val and test accuracy, and a stage's other test accuracies (compare's classifiers, a grid's default)
            if isinstance(value, (int, float)) and (key in HEADLINE or key.endswith("_test_accuracy")):
                metrics[f"{stage} {key.removesuffix('_accuracy')}"] = value
    return params, metrics


def _machines(data: dict) -> dict[str, str]:
    """Each stage's machine, as its metrics file records it ("unrecorded" for files from before it did)."""
    return {
        file.rsplit("/", 1)[-1].removesuffix(".json"): str(((content or {}).get("data") or {}).get("machine"))
        if ((content or {}).get("data") or {}).get("machine")
        else "unrecorded"
        for file, content in (data.get("metrics") or {}).items()
    }


def with_baseline(cols: list[tuple[str, dict]], name: str | None) -> list[tuple[str, dict]]:
    """The columns with `name` (an experiment, the workspace or the reference) first: the one others compare to."""
    if name is None:
        return cols
    found = [i for i, (label, _) in enumerate(cols) if label == name]
    if not found:
        raise InputError(f"--baseline {name}: no such column (have: {', '.join(label for label, _ in cols)})")
    return [cols[found[0]], *(c for i, c in enumerate(cols) if i != found[0])]


def table(cols: list[tuple[str, dict]], width: int = 120, order: list[str] | None = None) -> str:
    """The params that differ between columns, then every headline accuracy (in the stages' `order`, where
    given); columns beyond `width` are left out (the oldest experiments first), and the table says how many."""
    if not cols:
        raise InputError("no commit or experiment to show (run dvc exp run -S key=value first)")
    cell = CELL
    every = [_values(data) for _, data in cols]
    changed = [k for k in sorted({k for p, _ in every for k in p}) if len({json.dumps(p.get(k)) for p, _ in every}) > 1]
    named = [*changed, *(k for _, m in every for k in m)]
    label_width = min(MAX_LABEL, max([len("accuracy (val, test)"), *(len(k) + 2 for k in named)]) + 1)
    room = max(1, (width - label_width) // (cell + 1))
    keep = [0, *range(max(1, len(cols) - room + 1), len(cols))] if room > 1 else [0]
    shown, left_out = [cols[i] for i in keep], len(cols) - len(keep)
    values = [every[i] for i in keep]
    changed = [k for k in changed if len({json.dumps(p.get(k)) for p, _ in values}) > 1]
    metric_keys = list(dict.fromkeys(k for _, m in values for k in m))
    if order:
        metric_keys.sort(key=lambda k: _rank(k, order))  # stable: val before test within a model

    def row(label: str, cells: list[Any]) -> str:
        return (
            f"{label[: label_width - 1]:<{label_width}}" + " ".join(f"{_fmt(c)[:cell]:>{cell}}" for c in cells)
        ).rstrip()

    lines = [row("", [name for name, _ in shown])]
    lines.append(row("params changed", []) if changed else row("params changed: none", []))
    lines += [row(f"  {k}", [p.get(k) for p, _ in values]) for k in changed]
    lines.append(row("accuracy (val, test)", []))
    reference = values[0][1]
    machines = [_machines(data) for _, data in shown]
    elsewhere: set[tuple[str, str]] = set()
    for k in metric_keys:
        stage = k.split(" ", 1)[0]
        cells = [m.get(k) for _, m in values]
        marks = []
        for i, c in enumerate(cells):
            mark = "" if i == 0 or c == reference.get(k) else "*"
            base, here = machines[0].get(stage), machines[i].get(stage)
            if i and c is not None and base and here and base != here:
                mark += "~"  # the difference may be the CPU's, not the params'
                elsewhere.add((base, here))
            marks.append(mark)
        lines.append(row(f"  {k}", [f"{_fmt(c)}{mark}" for c, mark in zip(cells, marks)]))
    notes = [f"* differs from the baseline (first column, {shown[0][0]})."]
    for base, here in sorted(elsewhere):
        notes.append(f"~ made on another machine than the baseline: {here}"[:width])
        notes.append(f"  (baseline: {base}): part of the difference is the machine's."[:width])
        notes.append(
            "  A baseline from this machine: dvc exp run -n baseline (no -S), then mnistsum exps --baseline baseline."
        )
    if left_out:
        notes.append(f"{left_out} older experiment(s) left out to fit {width} characters.")
    return "\n".join(lines + notes)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
