"""Stage times of one `dvc repro`, read from the MLflow store it tracked into, kept as JSON for the speed tables
(benchmarks/speed_table.py renders every docs/speed/stages-*.json side by side).

Each stage's time is from its parent run's start to the next stage's parent start (so it includes DVC's and the
process's own start), when that start follows the parent's end within START_GAP seconds; otherwise (the last stage, or
the next parent is a later re-run such as a `dvc exp run`) to its parent's end. Only the newest parent of each stage
counts (a re-run replaces an earlier one); stages are listed in pipeline order whatever order they ran in.

A run made over several sittings (a stopped stage resumed by the next `dvc repro`) is timed with --sittings: each
stage's time is the sum of all its parents' own durations, the stopped ones too (an upper bound: work a stopped
sitting lost is counted, the gaps between sittings are not).

  .venv/bin/python benchmarks/stage_times.py --store /path/to/clone/mlruns/mlflow.db --label "fresh clone of abc123" \\
      --out docs/speed/stages-abc123.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from mnistsum.machine import machine
from mnistsum.stages.report import STAGES as REPORT_STAGES

# Every tracked stage in pipeline order: prepare, then the stages the report reads.
ORDER = ("prepare", *REPORT_STAGES)
# DVC's own work and the next process's start (TensorFlow's import) between one parent's end and the next one's start.
START_GAP = 120


# The parent run's headline: a study's best, a network's final, the forest's chosen depth.
VAL = ("best_val_accuracy", "final_val_accuracy", "chosen_val_accuracy")
TEST = ("best_test_accuracy", "final_test_accuracy", "chosen_test_accuracy")


def stage_times(store: Path, sittings: bool = False) -> dict[str, dict]:
    """stage -> {seconds, val, test}: the newest parent run of each stage in the store; with sittings, seconds sums
    every parent of the stage."""
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    parents: dict[str, object] = {}
    every: dict[str, list] = {}
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], max_results=5000):
            stage = run.data.tags.get("dvc.stage")
            if stage in ORDER and "mlflow.parentRunId" not in run.data.tags:
                every.setdefault(stage, []).append(run)
                if stage not in parents or run.info.start_time > parents[stage].info.start_time:
                    parents[stage] = run
    found = sorted(parents.values(), key=lambda r: r.info.start_time)
    seconds, before = {}, {}
    for i, run in enumerate(found):
        stage, end = run.data.tags["dvc.stage"], run.info.end_time  # end None: still running
        following = found[i + 1].info.start_time if i + 1 < len(found) else None
        # The gap to the next parent's start, when it follows within START_GAP: DVC between the two, this process's
        # exit and the next one's start (its imports, its store's opening) before its parent run began. It counts
        # in this stage's seconds and is the next stage's `started_after_s`.
        if end is not None and following is not None and end <= following <= end + START_GAP * 1000:
            if not sittings:
                before[found[i + 1].data.tags["dvc.stage"]] = round((following - end) / 1000, 1)
            end = following
        seconds[stage] = None if end is None else round((end - run.info.start_time) / 1000)
    if sittings:
        for stage, runs in every.items():
            done = [r for r in runs if r.info.end_time is not None]
            seconds[stage] = round(sum(r.info.end_time - r.info.start_time for r in done) / 1000) if done else None
    out = {}
    for stage in (s for s in ORDER if s in parents):
        m = parents[stage].data.metrics
        out[stage] = {
            "seconds": seconds[stage],
            "val": next((m[k] for k in VAL if k in m), None),
            "test": next((m[k] for k in TEST if k in m), None),
            "busy_elsewhere": m.get("cores_busy_elsewhere"),  # None: a run made before stages recorded it
            "cores_used": m.get("cores_used"),  # the stage's own processes' CPU over its time; None: not recorded
            "started_after_s": before.get(stage),  # of the stage's seconds, those before its parent run began
        }
        if sittings:
            out[stage]["sittings"] = len(every[stage])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="the run's mlruns/mlflow.db")
    parser.add_argument("--label", required=True, help="the table's column: which run, in a few words")
    parser.add_argument("--note", default="", help="what else to know: commit, date, what ran beside it")
    parser.add_argument("--machine", help="the machine that ran it (default: this one)")
    parser.add_argument("--sittings", action="store_true", help="sum each stage's parents over every sitting")
    parser.add_argument(
        "--profile", default="default", choices=("default", "report"), help="its params: report is profiles/report.yaml"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not args.store.is_file():
        print(f"error: {args.store}: no MLflow store there", file=sys.stderr)
        sys.exit(2)
    stages = stage_times(args.store, args.sittings)
    record = {
        "label": args.label,
        "note": args.note,
        "machine": args.machine or machine(),
        "profile": args.profile,
        "stages": stages,
    }
    record["total_seconds"] = sum(s["seconds"] or 0 for s in stages.values())
    starts = [s["started_after_s"] for s in stages.values() if s["started_after_s"] is not None]
    record["between_stages_seconds"] = round(sum(starts)) if starts else None
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{args.out}: {len(stages)} stages, {record['total_seconds']:,} s")


if __name__ == "__main__":
    main()
