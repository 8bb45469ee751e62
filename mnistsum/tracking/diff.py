"""`mnistsum runs diff`: two MLflow runs' params, metrics and tags side by side."""

from __future__ import annotations

import re
import time
from typing import Any

from mlflow.exceptions import MlflowException

from mnistsum import tracking
from mnistsum.errors import InputError

# Tags MLflow writes for itself; they differ between any two runs and hide what matters.
NOISY_TAGS = (
    "mlflow.log-model.history",
    "mlflow.source.name",
    "mlflow.user",
    "mlflow.runName",
    "mlflow.parentRunId",
    "mlflow.source.type",
)


def resolve_run(ref: str, experiment: str | None = None):
    """A run by id (or a unique id prefix of 6+ characters, any case, as printed), or by a name that only one
    run has, in one experiment or all of them; a name several runs share is refused, listing them."""
    client = tracking.configure(read_only=True)
    if re.fullmatch(r"[0-9a-fA-F]{32}", ref):
        try:
            return client.get_run(ref.lower())
        except MlflowException:
            raise InputError(f"no run with id {ref} in {tracking.tracking_uri()}") from None
    if re.fullmatch(r"[0-9a-fA-F]{6,31}", ref):
        every = [e.experiment_id for e in client.search_experiments()]
        prefix = ref.lower()
        hits = [
            r
            for r in (client.search_runs(every, max_results=50000) if every else [])
            if r.info.run_id.startswith(prefix)
        ]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise InputError(f"run id prefix {ref!r} matches {len(hits)} runs; give more characters")
    if experiment:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            known = ", ".join(e.name for e in client.search_experiments())
            raise InputError(f"no experiment named {experiment!r} (known: {known})")
        ids = [found.experiment_id]
    else:
        ids = [e.experiment_id for e in client.search_experiments()]
    safe = ref.replace("'", "\\'")
    runs = (
        client.search_runs(
            ids,
            filter_string=f"attributes.run_name = '{safe}'",
            order_by=["attributes.start_time DESC"],
            max_results=50,
        )
        if ids
        else []
    )
    where = f"experiment {experiment!r}" if experiment else "any experiment"
    if not runs:
        raise InputError(f"no run named {ref!r} in {where} (give a run id or another name)")
    if len(runs) > 1:
        listed = ", ".join(f"{r.info.run_id[:8]} ({_started(r)})" for r in runs[:5])
        raise InputError(
            f"{len(runs)} runs are named {ref!r} in {where}: {listed}{' ...' if len(runs) > 5 else ''}; give a run id"
        )
    return runs[0]


def _started(run) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(run.info.start_time / 1000))


def diff_runs(a, b, show_all: bool = False) -> dict[str, Any]:
    def section(x: dict, y: dict) -> dict[str, list]:
        keys = sorted(set(x) | set(y))
        return {k: [x.get(k), y.get(k)] for k in keys if show_all or x.get(k) != y.get(k)}

    def tags(run) -> dict:
        return {k: v for k, v in run.data.tags.items() if k not in NOISY_TAGS}

    def metrics(run) -> dict:  # how busy the machine was differs between any two runs: shown with --all
        return {k: v for k, v in run.data.metrics.items() if show_all or k not in tracking.MACHINE_METRICS}

    return {
        "runs": [{"id": r.info.run_id, "name": r.info.run_name, "experiment_id": r.info.experiment_id} for r in (a, b)],
        "params": section(a.data.params, b.data.params),
        "metrics": section(metrics(a), metrics(b)),
        "tags": section(tags(a), tags(b)),
    }


def format_diff(diff: dict[str, Any]) -> str:
    a, b = diff["runs"]
    head_a, head_b = f"A: {a['name']} ({a['id'][:8]})", f"B: {b['name']} ({b['id'][:8]})"
    lines = []
    for name in ("params", "metrics", "tags"):
        rows = diff[name]
        lines.append(f"{name} ({len(rows)} {'shown' if rows else 'differ: none'})")
        if not rows:
            continue
        width = max(len(k) for k in rows)

        def show(v: Any) -> str:
            return "-" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))

        col = max(len(head_a), *(len(show(v[0])) for v in rows.values()))
        lines.append(f"  {'':<{width}}  {head_a:<{col}}  {head_b}")
        lines += [f"  {k:<{width}}  {show(v[0]):<{col}}  {show(v[1])}" for k, v in rows.items()]
    return "\n".join(lines)
