"""Stage `check_params`: validate the whole params.yaml on any change to it, before any other stage.

Every stage depends on only its own sections, so without this a misspelled top-level section (`studdy1:`)
would go unnoticed while the stages are up to date. The out is a constant marker, so a valid change to one
section re-runs only the stages that read that section."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnistsum.files import write_text
from mnistsum.params import Params


@dataclass(frozen=True)
class Paths:
    out: Path  # the marker, written once the params are valid


def run(params: Params, paths: Paths) -> None:
    # The params were validated on loading (mnistsum.stages.command); only a valid file gets here.
    write_text(paths.out, "params.yaml is valid\n")
