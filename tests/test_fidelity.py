"""docs/fidelity.md and docs/fidelity.json are rendered from a kept run's files, never typed: re-rendered here from
the folder the committed JSON names as its source, and compared."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


def _mnistsum(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnistsum.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_a_probe_is_kept_beside_the_run_and_its_number_shown_for_the_gap_it_measures(tmp_path):
    """A probe's changed settings come from the two params files; its number stands beside each gap it moves."""
    run, workspace = tmp_path / "run", tmp_path / "workspace"
    shutil.copytree(REPO / "docs" / "default_scale", run)
    shutil.copytree(run, workspace)
    same = _mnistsum("fidelity", "--run", str(workspace), "--keep", str(run), "--probe", "same", cwd=tmp_path)
    assert same.returncode == 2 and same.stderr.count("\n") == 1, same.stderr
    assert "a probe changes at least one setting" in same.stderr and not (run / "probes" / "same").exists()

    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["base"]["seed"] = 7
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    metrics = json.loads((workspace / "metrics" / "study1.json").read_text())
    metrics["test_accuracy"] = 0.9
    (workspace / "metrics" / "study1.json").write_text(json.dumps(metrics))
    activation = json.loads((workspace / "models" / "activation.json").read_text())
    del activation["by_activation"]["sigmoid"]  # a probe that ran the other activations only: no number for it
    (workspace / "models" / "activation.json").write_text(json.dumps(activation))
    page, data = tmp_path / "page.md", tmp_path / "page.json"
    args = ["fidelity", "--run", str(workspace), "--keep", str(run), "--probe", "seed-7", "--why", "seed variance"]
    proc = _mnistsum(*args, "--page", str(page), "--json", str(data), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    recorded = json.loads(data.read_text())
    assert recorded["probes"] == {"seed-7": {"why": "seed variance", "changed": {"base.seed": 7}}}
    study1 = next(r for r in recorded["records"] if r["row"] == "study1" and r["measure"] == "test")
    assert study1["probes"] == [{"probe": "seed-7", "ours": 0.9, "delta": pytest.approx(0.9 - 0.9081), "within": True}]
    assert all(r["probes"] == [] for r in recorded["records"] if r is not study1)
    text = page.read_text()
    assert "- **seed-7** (`base.seed=7`): seed variance" in text
    assert (
        "| Neural networks (3.1-3.3) | study1 | test | 0.9081 | 0.8635 | **-0.0446** | seed-7: 0.9000 (-0.0081) |"
        in text
    )
    assert "not probed yet" in text  # the other gaps
