"""DVC stage `check_params`: validate the whole params.yaml on any change to it, before any other stage.

Every stage depends on only its own sections, so without this a misspelled top-level section (`studdy1:`)
would go unnoticed while the stages are up to date. The out is a constant marker, so a valid change to one
section re-runs only the stages that read that section."""

import argparse
from pathlib import Path

from mnistsum.errors import exits_cleanly
from mnistsum.files import write_text
from mnistsum.params import load_params


@exits_cleanly
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, required=True, help="marker file written when the params are valid")
    args = parser.parse_args()
    load_params(args.params)
    write_text(args.out, "params.yaml is valid\n")


if __name__ == "__main__":
    main()
