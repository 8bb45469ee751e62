"""docs/fidelity.md and docs/fidelity.json are rendered from a kept run's files, never typed: re-rendered here from
the folder the committed JSON names as its source, and compared."""

import json
from pathlib import Path

import pytest

from mnistsum import fidelity
from mnistsum.errors import InputError

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "docs").glob("fidelity*.json"))


@pytest.mark.parametrize("data_path", PAGES, ids=[p.stem for p in PAGES])
def test_the_committed_fidelity_pages_are_what_their_kept_runs_render(data_path):
    """docs/fidelity_default.md from the default reference run (docs/default_scale/), docs/fidelity.md from the
    report-scale run (docs/report_scale/) once it has run."""
    source = json.loads(data_path.read_text())["source"]
    page, data = fidelity.render(REPO / source, source)
    again = f"mnistsum fidelity --run {source} --page {data_path.with_suffix('.md').relative_to(REPO)} --json ..."
    assert data_path.with_suffix(".md").read_text() == page, f"{data_path.stem}.md differs: run `{again}`"
    assert data_path.read_text() == data, f"{data_path.name} differs: run `{again}`"


def test_the_default_run_is_kept():
    assert (REPO / "docs" / "fidelity_default.json").is_file()


def test_a_folder_without_a_run_is_refused_by_name(tmp_path):
    with pytest.raises(InputError, match=r"no dvc.lock: not a run's files"):
        fidelity.records(tmp_path)
    with pytest.raises(InputError, match=r"no dvc.lock .*run `dvc repro` first"):
        fidelity.keep(tmp_path, tmp_path / "kept")
