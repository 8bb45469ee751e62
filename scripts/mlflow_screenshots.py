"""Screenshots of the MLflow UI in headless Chromium, to look at what a user sees after `dvc repro`.

Starts `mlflow ui` on loopback over the given store, waits for /health, then captures the experiments list,
a study's parent run with its nested trials, a trial's run page and its metric chart, the final run (its datasets)
and the registered model.
Needs Debian's chromium (apt-get install chromium).
Run: .venv/bin/python scripts/mlflow_screenshots.py --store mlruns/mlflow.db --out reports/screenshots
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from mlflow.tracking import MlflowClient

from mnistsum.tracking import relocate_store

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1600,1000",
    "--virtual-time-budget=60000",
]


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(1)
    sys.exit(f"error: {url} did not answer within {seconds:.0f}s")


def shoot(url: str, path: Path, profile: str) -> None:
    subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={path}", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"{path}  <- {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, default=Path("mlruns/mlflow.db"))
    parser.add_argument("--out", type=Path, default=Path("reports/screenshots"))
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args()
    uri = f"sqlite:///{args.store.resolve()}"
    relocate_store(args.store.resolve())  # a copied or moved store shows its own figures, not the old folder's
    client = MlflowClient(uri)
    nn = client.get_experiment_by_name("nn-studies")
    study = client.search_runs([nn.experiment_id], filter_string="attributes.run_name = 'study1'")[0]
    trial = client.search_runs([nn.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{study.info.run_id}'")[0]
    final = client.search_runs(
        [nn.experiment_id], filter_string="attributes.run_name = 'final'", order_by=["attributes.start_time DESC"]
    )[0]
    args.out.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "ui",
            "--backend-store-uri",
            uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    try:
        wait_for(f"{base}/health", 120)
        e, s, t = nn.experiment_id, study.info.run_id, trial.info.run_id
        # MLflow 3 opens in its GenAI mode; this query selects the model-training views (runs table, charts).
        ml = "?workflowType=machine_learning"
        with tempfile.TemporaryDirectory() as profile:
            shoot(f"{base}/#/experiments{ml}", args.out / "1_experiments.png", profile)
            shoot(f"{base}/#/experiments/{e}/runs{ml}", args.out / "2_nn_runs_nested.png", profile)
            shoot(f"{base}/#/experiments/{e}/runs/{s}{ml}", args.out / "3_study1_parent.png", profile)
            shoot(f"{base}/#/experiments/{e}/runs/{t}/model-metrics{ml}", args.out / "4_trial_metrics.png", profile)
            shoot(f"{base}/#/experiments/{e}/runs/{s}/artifacts{ml}", args.out / "5_study1_artifacts.png", profile)
            # The final run's overview lists the pair files it saw (dataset inputs with digests) and its model.
            shoot(f"{base}/#/experiments/{e}/runs/{final.info.run_id}{ml}", args.out / "6_final_run.png", profile)
            shoot(f"{base}/#/models/mnistsum-mlp", args.out / "7_registered_model.png", profile)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
