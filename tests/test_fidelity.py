"""docs/fidelity.md and docs/fidelity.json are rendered from a kept run's files, never typed: re-rendered here from
the folder the committed JSON names as its source, and compared."""

import json
import os
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


def test_a_kept_stage_missing_one_of_its_files_is_refused_naming_it(tmp_path):
    """A copy that lost one file of a stage is damaged, not "not run": the page would hide the loss."""
    kept = tmp_path / "kept"
    shutil.copytree(REPO / "docs" / "default_scale", kept)
    (kept / "results" / "svm.csv").unlink()
    with pytest.raises(InputError, match=r"no results/svm.csv, though svm's other files are there"):
        fidelity.records(kept)
    for f in fidelity.STAGE_FILES["svm"]:
        (kept / f).unlink(missing_ok=True)
    assert "svm" not in fidelity.kept_stages(kept) and "forest" in fidelity.kept_stages(kept)


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
    scored = [r for r in recorded["records"] if r["scored"] and r["ours"] is not None]
    sigmoid = next(r for r in scored if r["row"] == "sigmoid")
    # every number but sigmoid's computed again, study1's moved into the tolerance and nothing out of it
    within = sum(r["within"] for r in scored) + 1 - sigmoid["within"]
    balance = {"computed": len(scored) - 1, "within": within, "brought_within": 1, "taken_out": 0}
    assert recorded["probes"] == {"seed-7": {"why": "seed variance", "changed": {"base.seed": 7}, "balance": balance}}
    study1 = next(r for r in recorded["records"] if r["row"] == "study1" and r["measure"] == "test")
    assert study1["probes"] == [{"probe": "seed-7", "ours": 0.9, "delta": pytest.approx(0.9 - 0.9081), "within": True}]
    assert all(r["probes"] == [] for r in recorded["records"] if r is not study1)
    text = page.read_text()
    assert (
        f"- **seed-7** (`base.seed=7`): seed variance. Of the {balance['computed']} numbers it computed, "
        f"{balance['within']} within 0.02: 1 of the run's gaps brought within, 0 of the run's numbers within taken"
    ) in text
    kept = json.loads((run / "metrics" / "study1.json").read_text())["test_accuracy"]
    row = f"| study1 | test | 0.9081 | {kept:.4f} | **{kept - 0.9081:+.4f}** | seed-7: 0.9000 (-0.0081) |"
    assert f"| Neural networks (3.1-3.3) {row}" in text
    assert "not probed yet" in text  # the other gaps


def test_a_long_run_is_kept_stage_by_stage_and_restored_into_a_fresh_clone(tmp_path, monkeypatch):
    """A sitting keeps only its stages (the rest render as "not run yet"), adds its wall time, refuses another
    run's params, and restores what it kept into a fresh workspace, nothing more."""
    workspace, kept = tmp_path / "workspace", tmp_path / "kept"
    shutil.copytree(REPO / "docs" / "default_scale", workspace)
    monkeypatch.chdir(workspace)  # the commit recorded is the workspace's (here none: "unknown")
    fidelity.keep(workspace, kept, ["study1", "activation"], seconds=754)
    assert fidelity.kept_stages(kept) == ["study1", "activation"]
    assert not (kept / "metrics" / "base_mlp.json").exists()
    sittings = json.loads((kept / "sittings.json").read_text())["sittings"]
    assert [(s["stages"], s["wall_s"]) for s in sittings] == [(["study1", "activation"], 754)]
    locked = yaml.safe_load((kept / "dvc.lock").read_text())["stages"]  # the clone's other entries stay out
    assert [s for s in locked if s in fidelity.STAGE_FILES] == ["study1", "activation"] and "prepare" in locked
    lock = yaml.safe_load((workspace / "dvc.lock").read_text())
    del lock["stages"]["study1"]  # a workspace that did not restore the kept run: its stages' entries stay kept
    (workspace / "dvc.lock").write_text(yaml.safe_dump(lock))
    fidelity.keep(workspace, kept, ["base_mlp"], seconds=30)
    assert len(json.loads((kept / "sittings.json").read_text())["sittings"]) == 2
    locked = yaml.safe_load((kept / "dvc.lock").read_text())["stages"]
    assert sorted(s for s in locked if s in fidelity.STAGE_FILES) == ["activation", "base_mlp", "study1"]
    assert {"study1", "base_mlp"} <= set(yaml.safe_load((kept / "dvc.lock").read_text())["stages"])

    page, data = fidelity.render(kept, "kept")
    recs = {(r["row"], r["measure"]): r["ours"] for r in json.loads(data)["records"]}
    study1 = json.loads((workspace / "metrics" / "study1.json").read_text())["test_accuracy"]
    assert recs[("study1", "test")] == pytest.approx(study1, abs=1e-6) and recs[("study2", "test")] is None
    assert recs[("tanh", "test")] is not None and recs[("default", "test")] is None
    assert "not run yet (study2, study3, study4, final, logreg, svm, forest, compare still to run)" in page
    assert "| study1, activation | 12.6 min |" in page and "| base_mlp | 0.5 min |" in page

    other = yaml.safe_load((workspace / "params.yaml").read_text())
    other["study2"]["n_trials"] = 3
    (workspace / "params.yaml").write_text(yaml.safe_dump(other))
    with pytest.raises(InputError, match=r"params.yaml: not the params of the run kept in .*kept"):
        fidelity.keep(workspace, kept, ["study2"])
    with pytest.raises(InputError, match=r"changed: study2.n_trials\): a sitting continues that run"):
        fidelity.restore(kept, workspace)
    with pytest.raises(InputError, match=r"--stages report: not a kept stage"):
        fidelity.keep(workspace, kept, ["report"])
    with pytest.raises(InputError, match=r"--seconds nan"):
        fidelity.keep(workspace, kept, ["base_mlp"], seconds=float("nan"))

    probe = fidelity.keep_probe(workspace, kept, "fewer-trials", "study2's budget", ["base_mlp"])
    assert sorted(p.name for p in probe.rglob("*.json")) == ["base_mlp.json", "probe.json"]
    assert fidelity.probes(kept)["fewer-trials"]["changed"] == {"study2.n_trials": 3}

    fresh = tmp_path / "fresh"
    assert fidelity.restore(kept, fresh) == ["base_mlp", "study1", "activation"]
    assert sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file()) == sorted(
        ["dvc.lock", "params.yaml", "metrics/base_mlp.json", "metrics/study1.json", "models/study1.json"]
        + ["metrics/activation.json", "models/activation.json"]
    )


@pytest.mark.slow
def test_two_sittings_on_two_fresh_clones_make_one_run(tmp_path):
    """benchmarks/report_sitting.sh for real (tiny profile): the second clone restores the first sitting's
    stages and runs only its own with `dvc repro -s`; the keeper holds both, its page rendered. A stage dvc
    skips (it had run) adds no sitting."""
    keeper = tmp_path / "keeper"
    (keeper / "docs").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_URI", "DVC_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", REPORT_PROFILE="profiles/tiny.yaml")
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")

    def sitting(name: str, *stages: str) -> str:
        clone = tmp_path / name
        for part in ("mnistsum", "pipelines", "profiles", "sources", "benchmarks", "dvc.yaml", "params.yaml"):
            (shutil.copytree if (REPO / part).is_dir() else shutil.copy2)(REPO / part, clone / part)
        shutil.copytree(REPO / ".dvc", clone / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", name]):
            subprocess.run(cmd, cwd=clone, env=env, check=True, capture_output=True)
        script = ["bash", "benchmarks/report_sitting.sh", str(keeper), *stages]
        proc = subprocess.run(
            script, cwd=clone, env={**env, "PYTHONPATH": str(clone)}, capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    first = sitting("first", "base_mlp", "study1", "base_mlp")  # named twice: dvc skips it, no second sitting
    assert "sitting: base_mlp had run already; nothing new to keep" in first
    log = sitting("second", "activation")
    assert "restored base_mlp, study1 from" in log
    assert "Running stage 'activation'" in log and "Running stage 'study1'" not in log
    kept = keeper / "docs" / "report_scale"
    assert fidelity.kept_stages(kept) == ["base_mlp", "study1", "activation"]
    lock = yaml.safe_load((kept / "dvc.lock").read_text())["stages"]
    assert {"base_mlp", "study1", "activation"} <= set(lock) and "study2" not in lock
    sittings = json.loads((kept / "sittings.json").read_text())["sittings"]
    assert [s["stages"] for s in sittings] == [["base_mlp"], ["study1"], ["activation"]]
    assert all(len(s["commit"]) == 40 for s in sittings)  # the profile's params.yaml is not uncommitted code
    data = json.loads((keeper / "docs" / "fidelity.json").read_text())
    assert data["source"] == "docs/report_scale"
    assert next(r for r in data["records"] if r["row"] == "relu")["ours"] is not None
