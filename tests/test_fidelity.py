"""docs/fidelity.md and docs/fidelity.json are rendered from a kept run's files, never typed: re-rendered here from
the folder the committed JSON names as its source, and compared."""

import json
from pathlib import Path

import pytest

from mnistsum import fidelity
from mnistsum.errors import InputError

REPO = Path(__file__).resolve().parents[1]
PAGE, DATA = REPO / "docs" / "fidelity.md", REPO / "docs" / "fidelity.json"


@pytest.mark.skipif(not DATA.exists(), reason="no fidelity page committed yet (the report-scale run makes it)")
def test_the_committed_fidelity_page_is_what_its_kept_run_renders():
    source = json.loads(DATA.read_text())["source"]
    page, data = fidelity.render(REPO / source, source)
    assert PAGE.read_text() == page, "docs/fidelity.md differs: run `mnistsum fidelity --run " + source + "`"
    assert DATA.read_text() == data, "docs/fidelity.json differs: run `mnistsum fidelity --run " + source + "`"


def test_a_folder_without_a_run_is_refused_by_name(tmp_path):
    with pytest.raises(InputError, match=r"no dvc.lock: not a run's files"):
        fidelity.records(tmp_path)
    with pytest.raises(InputError, match=r"no dvc.lock .*run `dvc repro` first"):
        fidelity.keep(tmp_path, tmp_path / "kept")
