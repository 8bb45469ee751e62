"""End to end: `dvc repro` on tiny params in a temporary git copy of the repo, then its outs and MLflow runs."""

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mnistsum import quotes
from mnistsum.machine import machine
from mnistsum.params import materialise

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # dvc repro end to end: minutes
# The stages that train a network; the last two (learning_curve, tsne) write no val/test accuracy.
NEURAL = (
    "base_mlp",
    "study1",
    "activation",
    "study2",
    "study3",
    "study4",
    "final",
    "cnn",
    "sumnet",
    "learning_curve",
    "tsne",
)
KEEP = [
    "mnistsum",
    "pipelines",
    "profiles",
    "sources",
    "dvc.yaml",
    "pyproject.toml",
    "README.md",
    ".gitignore",
    ".dvcignore",
]


def _run(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    for name in KEEP:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
    shutil.copytree(REPO / ".dvc", root / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    materialise(REPO / "profiles" / "tiny.yaml", REPO / "params.yaml", root / "params.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_URI", "DVC_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        PYTHONPATH=str(root),
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    _run(["git", "init", "-q"], root, env)
    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "tiny"], root, env)
    log = _run(["dvc", "repro"], root, env)
    status = _run(["git", "status", "--porcelain", "--untracked-files=all"], root, env)
    return root, env, log + "\n--- git status after dvc repro ---\n" + status


def test_outs_exist(repo):
    root, _, log = repo
    for path in [
        "data/pairs/train.npz",
        "data/pairs/val.npz",
        "data/pairs/test.npz",
        "results/prepare.json",
        "models/final/model.keras",
        "models/final/model.weights.h5",
        "models/final/history.json",
        "plots/final/base_vs_final.png",
        "plots/tsne/tsne_perplexity_sweep.png",
        "results/logreg.md",
        "results/svm.csv",
        "results/forest.csv",
        "plots/compare/compare_accuracy.png",
        "plots/prepare/pairs_first20.png",
        "plots/study1/study1_optimization_history.png",
        "reports/report.md",
        "reports/figures/base_vs_final.png",
        "models/cnn/model.keras",
        "models/sumnet/model.keras",
        "plots/sumnet/sumnet_digit_confusion.png",
        "plots/cnn/cnn_sum_confusion.png",
        "plots/learning_curve/learning_curve.png",
        "plots/tsne/tsne_sumnet_digit_embedding.png",
        "results/learning_curve.json",
        "results/learning_curve_probabilities.npz",
    ]:
        assert (root / path).is_file(), path
    # Every metrics file says the regime its numbers were trained in.
    for path in sorted((root / "metrics").glob("**/*.json")):
        assert "regime" in json.loads(path.read_text()), path.name
    counts = json.loads((root / "results/prepare.json").read_text())
    assert counts["sizes"] == {"train": 480, "val": 120, "test": 300}
    assert "Running stage 'compare'" in log


def test_mlflow_runs(repo):
    root, _, _ = repo
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    # Name the registry too: otherwise MlflowClient falls back to the process-global one earlier tests set.
    client = MlflowClient(uri, registry_uri=uri)
    names = {e.name for e in client.search_experiments()}
    assert {"data", "nn-studies", "tsne", "baselines", "compare"} <= names
    data_run = client.search_runs([client.get_experiment_by_name("data").experiment_id])[0]
    assert data_run.data.params["prepare.train_pairs"] == "600"
    assert data_run.data.tags["dvc.stage"] == "prepare" and len(data_run.data.tags["git.commit"]) == 40
    # The pipeline rewrites dvc.lock and metrics/ as it goes; that alone never makes a run's code dirty.
    nn_runs = client.search_runs([client.get_experiment_by_name("nn-studies").experiment_id], max_results=1000)
    assert {r.data.tags["git.dirty"] for r in nn_runs} == {"false"}
    assert {a.path for a in client.list_artifacts(data_run.info.run_id, "figures")} >= {
        "figures/mnist_labels.png",
        "figures/mnist_first20.png",
        "figures/pair_labels.png",
        "figures/pairs_first20.png",
    }
    assert (root / "mlruns" / "data").is_dir()  # artifacts live under mlruns/
    nn = client.get_experiment_by_name("nn-studies").experiment_id
    for study in ("study1", "study2", "study3", "study4"):
        parent = client.search_runs([nn], filter_string=f"attributes.run_name = '{study}'")[0]
        kids = client.search_runs([nn], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        assert len(kids) == 2, study
    champion = client.get_model_version_by_alias("mnistsum-mlp", "champion")
    assert str(champion.version) == "1"
    for family in ("cnn", "sumnet"):
        assert client.get_model_version_by_alias(f"mnistsum-{family}", "champion").tags["family"] == family
    # The one name users pull holds all three families; its champion is the best of them on validation.
    versions = client.search_model_versions("name = 'mnistsum'")
    assert sorted(v.tags["family"] for v in versions) == ["cnn", "mlp", "sumnet"]
    # The alias moves only to a strictly better version, so among equals (tiny models tie near chance) the first.
    top = max(float(v.tags["val_accuracy"]) for v in versions)
    best = min((v for v in versions if float(v.tags["val_accuracy"]) == top), key=lambda v: int(v.version))
    assert client.get_model_version_by_alias("mnistsum", "champion").version == best.version
    ids = {
        split: hashlib.sha256((root / f"data/pairs/{split}.npz").read_bytes()).hexdigest()
        for split in ("train", "val", "test")
    }
    assert champion.tags["data.val_sha256"] == ids["val"]

    # Every run that trains or evaluates names the pairs it saw, with their digest and split.
    trainers = [
        r
        for e in ("nn-studies", "baselines", "compare", "tsne")
        for r in client.search_runs([client.get_experiment_by_name(e).experiment_id], max_results=1000)
        if r.info.run_name.startswith(
            (
                "study1/trial-",
                "study2/trial-",
                "study3/trial-",
                "study4/trial-",
                "activation=",
                "base_mlp",
                "final",
                "train_pairs=",
                "default",
                "solver=",
                "kernel=",
                "max_depth=",
                "tsne",
            )
        )
    ]
    assert len(trainers) > 30
    for run in trainers:
        digests = {d.tags[0].value: d.dataset.digest for d in run.inputs.dataset_inputs}
        assert digests, run.info.run_name
        assert all(len(v) == 32 for v in digests.values())
    # Every run that trains names its supervision regime; only prepare and the pixels' t-SNE map train nothing.
    known = {"sums", "digits", "digit-labels"}
    for e in ("nn-studies", "baselines", "compare", "tsne"):
        for run in client.search_runs([client.get_experiment_by_name(e).experiment_id], max_results=1000):
            if run.info.run_name == "input":
                assert "regime" not in run.data.tags
                continue
            assert set(run.data.tags["regime"].split(",")) <= known, (e, run.info.run_name)
    assert "regime" not in data_run.data.tags
    final = next(r for r in trainers if r.info.run_name == "final")
    assert {d.tags[0].value: d.dataset.digest for d in final.inputs.dataset_inputs} == {
        split: sha[:32] for split, sha in ids.items()
    }


def test_tree_is_clean_and_experiments_compare(repo):
    """After `dvc repro` only dvc.lock and metrics/ change in git; exp show and metrics diff carry every stage's
    metrics file."""
    root, env, log = repo
    status = log.split("--- git status after dvc repro ---\n")[1].splitlines()
    changed = sorted({line[3:].split("/")[0] for line in status if line.strip()})
    assert changed == ["dvc.lock", "metrics"], status
    shown = json.loads(_run(["dvc", "exp", "show", "--json"], root, env))
    metrics = shown[0]["rev"] == "workspace" and shown[0]["data"]["metrics"]
    # One tier: each stage's own metrics file is its DVC metrics, with its regime.
    stages = (*NEURAL, "logreg", "svm", "forest", "compare")
    assert sorted(metrics) == sorted(f"metrics/{s}.json" for s in stages)
    for stage in stages:
        data = metrics[f"metrics/{stage}.json"]["data"]
        assert "regime" in data, stage
        if stage not in ("learning_curve", "tsne", "compare"):
            assert {"val_accuracy", "test_accuracy"} <= set(data), stage
    assert metrics["metrics/final.json"]["data"] == json.loads((root / "metrics" / "final.json").read_text())

    _run(["git", "add", "-A"], root, env)
    _run(["git", "commit", "-qm", "reference run"], root, env)  # what a fresh clone of main holds
    saved = {name: (root / name).read_bytes() for name in ("dvc.lock", "params.yaml")}
    saved_metrics = {p.relative_to(root / "metrics"): p.read_bytes() for p in (root / "metrics").rglob("*.json")}
    try:
        _run(["dvc", "exp", "run", "-S", "final.max_epochs=2"], root, env)
        # Every stage's metrics file is what DVC diffs (on tiny params two epochs may score as three did, so --all).
        diff = json.loads(_run(["dvc", "metrics", "diff", "--all", "--json"], root, env))
        assert set(diff) == {f"metrics/{s}.json" for s in stages}, diff
        workspace = json.loads((root / "metrics" / "final.json").read_text())
        assert diff["metrics/final.json"]["test_accuracy"]["new"] == workspace["test_accuracy"]
        table = _run(["mnistsum", "exps"], root, env).splitlines()
        assert max(len(line) for line in table) <= 120, table
        changed = [line.split() for line in table if line.strip().startswith("final.max_epochs")]
        assert changed and changed[0][1] == "3" and changed[0][-1] == "2", table  # reference, then the experiment
        assert any(line.strip().startswith("final test") for line in table)
        # The reference was made on this machine: nothing is marked as another machine's.
        assert not any(line.rstrip().endswith("~") for line in table) and "another machine" not in "\n".join(table)
        assert workspace["machine"] == machine()
    finally:
        for name, data in saved.items():
            (root / name).write_bytes(data)
        for name, data in saved_metrics.items():
            (root / "metrics" / name).write_bytes(data)
        _run(["dvc", "checkout", "--force"], root, env)


def test_a_teammate_pulls_the_outs_and_has_nothing_to_run(repo, tmp_path):
    """dvc push to a directory remote, then a second clone pulls: nothing to do, and dvc repro runs no stage."""
    root, env, _ = repo
    remote = tmp_path / "remote"
    # The clone may have a `shared` remote already (the README's sharing block, run before): as written, it works.
    _run(["dvc", "remote", "add", "shared", str(tmp_path / "an-older-remote")], root, env)
    _run(["dvc", "remote", "add", "-f", "-d", "shared", str(remote)], root, env)
    try:
        _run(["git", "add", ".dvc/config"], root, env)
        _run(["git", "commit", "-qm", "shared remote"], root, env)
        assert "pushed" in _run(["dvc", "push"], root, env)
        clone = tmp_path / "teammate"
        _run(["git", "clone", "-q", str(root), str(clone)], tmp_path, env)
        _run(["dvc", "pull"], clone, env | {"PYTHONPATH": str(clone)})
        assert (clone / "models" / "sumnet" / "model.keras").is_file()
        assert json.loads(_run(["dvc", "status", "--json"], clone, env | {"PYTHONPATH": str(clone)}) or "{}") == {}
        out = _run(["dvc", "repro"], clone, env | {"PYTHONPATH": str(clone)})
        assert "Running stage" not in out and "up to date" in out, out
    finally:
        _run(["dvc", "remote", "remove", "shared"], root, env)
        _run(["git", "commit", "-qam", "no remote"], root, env)


def test_editing_a_module_changes_only_the_stages_that_read_it(repo):
    """dvc.yaml's per-stage library deps, through the real DVC: a comment appended to a module makes exactly the
    stages that import it (or load it by name) out of date."""
    root, env, _ = repo
    assert json.loads(_run(["dvc", "status", "--json"], root, env) or "{}") == {}
    neural = set(NEURAL)
    changed = {}
    for rel in ("mnistsum/stages/forest.py", "mnistsum/models/sumnet.py", "mnistsum/metrics.py"):
        original = (root / rel).read_text()
        try:
            (root / rel).write_text(original + "# a comment\n")
            changed[rel] = set(json.loads(_run(["dvc", "status", "--json"], root, env)))
        finally:
            (root / rel).write_text(original)
    assert changed["mnistsum/stages/forest.py"] == {"forest"}
    # compare imports the sumnet's served layer; it reads the sumnet's points from the learning curve's outputs.
    assert changed["mnistsum/models/sumnet.py"] == {"sumnet", "learning_curve", "tsne", "compare"}
    assert {"final", "cnn", "sumnet", "compare"} <= changed["mnistsum/metrics.py"]
    assert not changed["mnistsum/metrics.py"] & {"study1", "forest", "logreg", "svm", "prepare"}
    assert not changed["mnistsum/stages/forest.py"] & neural


def test_second_repro_is_a_noop_and_param_change_reruns_prepare(repo):
    root, env, _ = repo
    assert "Data and pipelines are up to date." in _run(["dvc", "repro"], root, env)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["prepare"]["test_pairs"] = 310
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    diff = _run(["dvc", "params", "diff"], root, env)
    assert "prepare.test_pairs" in diff and "300" in diff and "310" in diff
    out = _run(["dvc", "repro", "prepare"], root, env)
    assert "Running stage 'prepare'" in out
    assert json.loads((root / "results/prepare.json").read_text())["sizes"]["test"] == 310


def test_report_has_every_section_and_no_placeholder(repo):
    root, _, _ = repo
    text = (root / "reports" / "report.md").read_text()
    for heading in (
        "## Neural networks",
        "## Logistic regression",
        "## Support vector machine",
        "## Random forest",
        "## Combined vs sequential",
        "## t-SNE",
        "## Beyond the report",
        "## Figures",
    ):
        assert heading in text, heading
    for stage in ("base_mlp", "study1", "activation", "study2", "study3", "study4", "final"):
        assert f"| {stage} |" in text
    assert "n/a" not in text.split("## Logistic regression")[0]  # every NN number came from a run
    beyond = text.split("## Beyond the report")[1].split("## Figures")[0]
    assert "n/a" not in beyond and "| sumnet |" in beyond
    # Both regimes in the families table and the learning curve, every family measured in each.
    assert "| all | sums |" in beyond and "| all | digits |" in beyond and "not run" not in beyond
    assert "solver=sag C=0.1" in text and "0.2247" in text and "chosen depth" in text
    assert "TODO" not in text and "{" not in text.split("```")[2]


def test_misspelled_section_fails_at_once(repo):
    """Stages read only their own sections; the check_params stage still refuses a typo while all are cached."""
    root, env, _ = repo
    original = (root / "params.yaml").read_text()
    try:
        (root / "params.yaml").write_text(original + "studdy1: {n_trials: 3}\n")
        proc = subprocess.run(["dvc", "repro"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode != 0
        assert "params.yaml: studdy1: unknown key (did you mean 'study1'?)" in proc.stdout + proc.stderr
    finally:
        (root / "params.yaml").write_text(original)
    # Fixed, the check passes again and nothing downstream re-runs.
    out = _run(["dvc", "repro", "prepare"], root, env)
    # (check_params is restored from DVC's run cache: these params were checked before.)
    checked = "Running stage 'check_params'" in out or "Stage 'check_params' is cached" in out
    assert checked and "Running stage 'prepare'" not in out


def test_replacing_the_mnist_file_changes_prepare(repo, mnist):
    """prepare depends on the content of the file at base.mnist_path, not on its name."""
    root, env, _ = repo
    original = (root / "params.yaml").read_text()
    try:
        np.savez(
            root / "mnist.npz",
            x_train=mnist.x_train[:100],
            y_train=mnist.y_train[:100],
            x_test=mnist.x_test[:50],
            y_test=mnist.y_test[:50],
        )
        params = yaml.safe_load(original)
        params["base"]["mnist_path"] = "mnist.npz"
        (root / "params.yaml").write_text(yaml.safe_dump(params))
        _run(["dvc", "commit", "-f", "prepare"], root, env)
        assert "prepare" not in _run(["dvc", "status", "prepare"], root, env)
        np.savez(
            root / "mnist.npz",
            x_train=mnist.x_train[100:200],
            y_train=mnist.y_train[100:200],
            x_test=mnist.x_test[:50],
            y_test=mnist.y_test[:50],
        )  # same path, other digits
        status = _run(["dvc", "status", "prepare"], root, env)
        assert "prepare:" in status and "mnist.npz" in status and "modified" in status
    finally:
        (root / "params.yaml").write_text(original)


def test_worker_reads_its_stage_from_dvc_yaml(repo):
    """`mnistsum worker STAGE` joins the study the stage defines (paths from dvc.yaml); on a finished study it
    runs nothing. A stage without a study is refused in one line."""
    root, env, _ = repo
    _run(["dvc", "repro", "study1"], root, env)  # earlier tests may have changed the data, and so the study
    out = _run(["mnistsum", "worker", "study1", "--worker-id", "3"], root, env)
    assert "(worker 3), 2/2 trials finished" in out and "trial-" not in out
    proc = subprocess.run(
        ["mnistsum", "worker", "prepare"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: stage 'prepare'")


def test_fidelity_page_from_the_run(repo, tmp_path):
    """`mnistsum fidelity` sets every number the report gives beside the run's own, read from the run's files;
    the copy it keeps renders the same page; a kept folder missing a file is one line and exit 2."""
    root, env, _ = repo
    kept, page, data = tmp_path / "kept", tmp_path / "fidelity.md", tmp_path / "fidelity.json"
    cli = [sys.executable, "-m", "mnistsum.cli", "fidelity"]
    out = _run([*cli, "--run", str(root), "--keep", str(kept), "--page", str(page), "--json", str(data)], root, env)
    records = json.loads(data.read_text())["records"]
    quoted = (
        len(quotes.REPORT_NN)
        - 1  # activation's number is the activation study's relu row
        + len(quotes.REPORT_ACTIVATION)
        + 1  # final's epochs
        + 1
        + 5
        + 2  # study3's layer count and widths, study2's learning rate and study4's dropout
        + sum(len(d) for d in (quotes.REPORT_LOGREG, quotes.REPORT_LOGREG_VAL, quotes.REPORT_LOGREG_TRAIN))
        + sum(len(d) for d in (quotes.REPORT_SVM, quotes.REPORT_SVM_VAL, quotes.REPORT_SVM_TRAIN))
        + len(quotes.REPORT_FOREST)
        + len(quotes.REPORT_FOREST_TRAIN)
        + 1  # combined vs sequential
    )
    assert len(records) == quoted >= 100
    by = {(r["section"].split(" (")[0], r["row"], r["measure"]): r for r in records}
    metrics = json.loads((root / "metrics/base_mlp.json").read_text())
    base = by[("Neural networks", "base_mlp", "test")]
    assert base["report"] == 0.7009 and base["ours"] == round(metrics["test_accuracy"], 6)
    assert base["regime"] == metrics["regime"] and base["delta"] == round(base["ours"] - 0.7009, 6)
    with open(root / "results/logreg.csv") as fh:
        sag = next(r for r in csv.DictReader(fh) if r["label"] == "solver=sag C=0.1")
    row = by[("Logistic regression", "solver=sag C=0.1", "val")]
    assert row["report"] == 0.228 and row["ours"] == round(float(sag["val_accuracy"]), 6)
    # The tiny profile's grids leave out most of the report's points: they say so, and are not counted.
    missing = by[("Logistic regression", "solver=sag C=1000", "test")]
    assert missing["ours"] is None and missing["within"] is None
    assert not by[("Chosen by the studies", "study2", "learning_rate")]["scored"]
    scored = [r for r in records if r["scored"] and r["ours"] is not None]
    within = sum(r["within"] for r in scored)
    assert f"{within} of {len(scored)} accuracies within 0.02" in out
    text = page.read_text()
    assert f"**{within} of {len(scored)}**" in text and "| base_mlp | test |" in text and "not run" in text
    sizes = json.loads((root / "results/compare.json").read_text())["sizes"]  # the ratio at every size it trained
    ratio = sizes[0]["sequential_argmax"]["accuracy"] / max(sizes[0]["combined"]["accuracy"], 1e-12)
    assert f"Ours at each size the run trained: {sizes[0]['n']:,} pairs {ratio:.2f}, " in text
    # From git: the kept copy renders the same page.
    again = tmp_path / "again.md"
    _run([*cli, "--run", str(kept), "--page", str(again), "--json", str(tmp_path / "again.json")], root, env)
    assert again.read_text() == text
    (kept / "results/svm.csv").unlink()
    proc = subprocess.run([*cli, "--run", str(kept)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "results/svm.csv" in proc.stderr


def test_stage_times_from_the_runs_store(repo, tmp_path):
    """benchmarks/stage_times.py reads every stage's time from the store `dvc repro` tracked into, and the speed
    tables render it."""
    root, env, _ = repo
    out = tmp_path / "speed" / "stages-tiny.json"
    out.parent.mkdir()
    script = str(REPO / "benchmarks" / "stage_times.py")
    _run(
        [sys.executable, script, "--store", str(root / "mlruns/mlflow.db"), "--label", "tiny", "--out", str(out)],
        root,
        env,
    )
    record = json.loads(out.read_text())
    assert list(record["stages"])[:3] == ["prepare", "base_mlp", "study1"] and "compare" in record["stages"]
    assert all(s["seconds"] >= 0 for s in record["stages"].values())
    assert record["total_seconds"] == sum(s["seconds"] for s in record["stages"].values()) > 0
    # The newest `final` parent counts: the experiments test may have re-run it after the repro.
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlruns/mlflow.db'}")
    finals = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        "tags.`dvc.stage` = 'final' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    newest = next(r for r in finals if "mlflow.parentRunId" not in r.data.tags)
    assert record["stages"]["final"]["test"] == pytest.approx(newest.data.metrics["final_test_accuracy"])
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- speed: rendered by benchmarks/speed_table.py from docs/speed/*.json; do not edit -->\n"
        "<!-- end of speed -->\n"
    )
    _run(
        [sys.executable, str(REPO / "benchmarks" / "speed_table.py"), "--speed", str(out.parent), "--page", str(page)],
        root,
        env,
    )
    assert "| final | " in page.read_text() and "| all stages | **" in page.read_text()
    proc = subprocess.run(
        [sys.executable, script, "--store", str(tmp_path / "none.db"), "--label", "x", "--out", str(out)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr == f"error: {tmp_path / 'none.db'}: no MLflow store there\n"


def test_the_report_scale_projection_reads_the_run(repo, tmp_path):
    """benchmarks/project_report_scale.py projects every stage from the run's own measured costs."""
    root, env, _ = repo
    out = tmp_path / "projection.json"
    script = str(REPO / "benchmarks" / "project_report_scale.py")
    printed = _run(
        [sys.executable, script, "--run", str(root), "--report", str(REPO / "profiles/report.yaml"), "--out", str(out)],
        root,
        env,
    )
    result = json.loads(out.read_text())
    stages = [r["stage"] for r in result["rows"]]
    assert stages[:4] == ["study1", "study2", "study3", "study4"] and {"svm", "forest", "compare"} <= set(stages)
    assert all(r["projected_s"] > 0 for r in result["rows"]) and result["projected_total_s"] > 0
    assert "50 trials x 20 epochs" in printed
