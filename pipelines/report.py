"""DVC stage `report`: the study report regenerated from the stages' MLflow runs, found by the run ids their
summary files record (STAGE=FILE for each), and the headline DVC compares (one file per model, from the stages'
metrics files)."""

import argparse
from pathlib import Path

from mnistsum.errors import InputError, exits_cleanly
from mnistsum.params import load_params
from mnistsum.stages import report


def stage_file(text: str) -> tuple[str, Path]:
    stage, sep, path = text.partition("=")
    if not sep or not stage or not path:
        raise InputError(f"{text!r}: expected STAGE=FILE")
    return stage, Path(path)


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--runs", nargs="+", required=True, help="STAGE=FILE: the summary JSON recording its run_id")
    parser.add_argument("--metrics", nargs="+", required=True, help="STAGE=FILE: the stage's DVC metrics file")
    parser.add_argument("--plots", type=Path, required=True, help="folder of the stages' figures")
    parser.add_argument("--out", type=Path, required=True, help="the report's Markdown file")
    parser.add_argument("--headline", type=Path, required=True, help="folder for the headline, a file per model")
    args = parser.parse_args()
    summaries = dict(stage_file(text) for text in args.runs)
    metrics = dict(stage_file(text) for text in args.metrics)
    paths = report.Paths(summaries, args.plots, args.out, metrics, args.headline)
    path = report.run(load_params(args.params), paths)
    print(f"report: wrote {path}")


if __name__ == "__main__":
    main()
