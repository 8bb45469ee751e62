"""How fast each family trains and predicts on this machine, beside what the machine can do.

For each family (the MLP as the final stage builds it and at the report's trial size, the CNN, the sumnet, all
from params.yaml) it times training steps and inference on real pairs and prints pairs per second and the
arithmetic rate achieved (forward FLOPs counted layer by layer, training taken as 3x forward), beside the peak
this machine measured in the same run (a float32 matmul) as a fraction. Then scikit-learn's estimators: fit and
predict seconds at the default stages' settings, stock and, where installed, oneDAL (scikit-learn-intelex); the
SVC is scored as the stages score it, by its one-vs-one votes (mnistsum.engines.predict), since 348c9ae.

Run it before and after a change, on the same machine, and compare the JSON files:

  .venv/bin/python benchmarks/throughput.py --out /tmp/before.json
  .venv/bin/python benchmarks/throughput.py --jit --steps-per-execution 8 --out /tmp/after.json
  .venv/bin/python benchmarks/throughput.py --families --sklearn --study-trials 6   # local Optuna workers
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mnistsum import engines
from mnistsum.data.mnist import load_mnist
from mnistsum.data.pairs import build_dataset
from mnistsum.machine import BUSY, Elsewhere, bfloat16_native, cpu, machine
from mnistsum.models.specs import MlpSpec
from mnistsum.params import load_params

REPORT_TRIAL = MlpSpec(units=(253, 219, 112, 198, 215), dropout=0.0856, learning_rate=0.00099, batch_norm=True)


def forward_flops(model, calls: int = 1) -> float:
    """Multiply-adds x 2 of one example's forward pass through Dense and Conv2D layers, each counted once per
    call (the sumnet's digit encoder, a model inside the model, runs twice)."""
    import keras

    total = 0.0
    for layer in model.layers:
        n = calls * max(1, len(getattr(layer, "_inbound_nodes", [])))
        if isinstance(layer, keras.Model):
            total += forward_flops(layer, n)
        elif isinstance(layer, keras.layers.Dense):
            total += n * 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += n * 2 * h * w * kh * kw * cin * cout
    return total


def peak_gflops(seconds: float = 3.0, n: int = 1024) -> float:
    """This machine's float32 matmul rate through TensorFlow, the best of repeated n x n products."""
    import tensorflow as tf

    a = tf.random.uniform((n, n))
    b = tf.random.uniform((n, n))
    matmul = tf.function(lambda: tf.matmul(a, b))
    matmul().numpy()
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for _ in range(4):
            out = matmul()
        out.numpy()
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def time_network(
    name: str, spec, batch: int, pairs, steps: int, jit: bool, spe: int, precision: str, epochs: int
) -> dict:
    import keras

    from mnistsum import models

    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bfloat16" else "float32")
    model = models.build(spec)
    model.compile(
        optimizer=keras.optimizers.Adam(spec.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit,
        steps_per_execution=spe,
    )
    x, y = pairs.x.astype(np.float32), pairs.y
    n = steps * batch
    reps = int(np.ceil(n / len(x)))
    x, y = np.concatenate([x] * reps)[:n], np.concatenate([y] * reps)[:n]
    model.fit(x[: batch * 8 * spe], y[: batch * 8 * spe], batch_size=batch, epochs=1, verbose=0)  # compile, warm
    per_epoch = n // epochs  # the timed steps split into epochs: each starts a new iterator, as training does
    trained = per_epoch * epochs  # pairs the timed fit sees (n less the remainder of the split)
    with Elsewhere() as elsewhere:
        t0 = time.perf_counter()
        model.fit(x[:per_epoch], y[:per_epoch], batch_size=batch, epochs=epochs, verbose=0)
        train_s = time.perf_counter() - t0
        model.predict(x[:2048], batch_size=2048, verbose=0)
        t0 = time.perf_counter()
        model.predict(x, batch_size=2048, verbose=0)
        predict_s = time.perf_counter() - t0
    flops = forward_flops(model)
    return {
        "family": name,
        "batch": batch,
        "train_pairs_per_s": trained / train_s,
        "predict_pairs_per_s": n / predict_s,
        "forward_mflop_per_pair": flops / 1e6,
        "train_gflops": 3 * flops * trained / train_s / 1e9,
        "predict_gflops": flops * n / predict_s / 1e9,
        "cores_busy_elsewhere": elsewhere.fraction,
    }


def time_sklearn(train, val, n_fit: int, engine: str) -> list[dict]:
    if engine == "onedal":
        from sklearnex import patch_sklearn

        patch_sklearn(verbose=False)
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    x = train.x[:n_fit].reshape(n_fit, -1).astype(np.float32) / 255
    y = train.y[:n_fit]
    xv = val.x.reshape(len(val.x), -1).astype(np.float32) / 255
    rows = []
    for name, est in [
        ("svm rbf C=10", SVC(C=10, kernel="rbf")),
        ("forest 100 trees", RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0)),
        ("logreg lbfgs", LogisticRegression(max_iter=100)),
    ]:
        t0 = time.perf_counter()
        est.fit(x, y)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        acc = float((engines.predict(est, xv) == val.y).mean())  # as the stages score it: an SVC by its votes
        rows.append(
            {
                "estimator": name,
                "engine": engine,
                "fit_pairs": n_fit,
                "fit_s": fit_s,
                "predict_s": time.perf_counter() - t0,
                "predict_pairs": len(xv),
                "val_accuracy": acc,
            }
        )
    return rows


def final_spec() -> MlpSpec:
    """The final stage's network where a run left one (models/final/best.json), else the report's best trial."""
    best = Path("models/final/best.json")
    return MlpSpec.model_validate(json.loads(best.read_text())["config"]) if best.is_file() else REPORT_TRIAL


def time_study(params, data_dir: Path, trials: int, n_workers: int) -> dict:
    """study1 at these params, capped at `trials`, with `n_workers` local workers, in a throw-away store."""
    from mnistsum.search.study import run_study

    params = params.model_copy(
        update={
            "base": params.base.model_copy(update={"local_workers": n_workers}),
            "study1": params.study1.model_copy(update={"n_trials": trials}),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        t0 = time.perf_counter()
        out = run_study("study1", params, data_dir, None, Path(tmp) / "s.log", Path(tmp) / "s.json", Path(tmp))
        seconds = time.perf_counter() - t0
    return {"local_workers": n_workers, "trials": out["n_trials"], "seconds": seconds, "best_val": out["val_accuracy"]}


def command_line(argv: list[str]) -> str:
    """How to run this measurement again: the arguments without --label and --out (what it is, where it went)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--label", "--out"):
            skip = True
        elif not arg.startswith(("--label=", "--out=")):
            kept.append(arg)
    return " ".join(["benchmarks/throughput.py", *kept])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--mnist", help="the MNIST source (default: base.mnist_path)")
    parser.add_argument("--families", nargs="*", default=["mlp-trial", "mlp-final", "cnn", "sumnet"])
    parser.add_argument("--steps", type=int, default=60, help="training batches timed per family")
    parser.add_argument("--jit", action="store_true", help="compile the training step with XLA")
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3, help="epochs the timed training steps are split into")
    parser.add_argument(
        "--tf-data-autotune",
        action="store_true",
        help="keep tf.data's autotuner in Keras's array pipelines (the feed before mnistsum turned it off)",
    )
    parser.add_argument("--batch", type=int, help="every family's batch size (default: as the stages train)")
    parser.add_argument("--no-augment", action="store_true", help="the conv families without augmentation")
    parser.add_argument("--no-batch-norm", action="store_true", help="the conv families without batch norm")
    parser.add_argument("--threads", type=int, nargs=2, metavar=("INTRA", "INTER"), help="TensorFlow thread pools")
    parser.add_argument("--sklearn", nargs="*", default=["stock"], help="engines: stock, onedal (none: skip)")
    parser.add_argument("--sklearn-pairs", type=int, default=3000)
    parser.add_argument("--study-trials", type=int, default=0, help="also time study1 with 1 and 2 local workers")
    parser.add_argument("--data", type=Path, default=Path("data/pairs"), help="the pairs study1 reads (--study-trials)")
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--label", default="", help="what this run measures (the lever), kept in the JSON")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    if args.precision == "bfloat16" and not bfloat16_native(cpu()[1]):
        print(f"error: --precision bfloat16: this CPU ({machine()}) has neither AMX nor avx512_bf16", file=sys.stderr)
        sys.exit(2)
    import tensorflow as tf  # deferred, as every TensorFlow import here: --help answers without it
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    from mnistsum.data import feed  # noqa: F401 (importing it turns the autotuner off, as in training)

    if args.tf_data_autotune:
        ArrayDataAdapter.get_tf_dataset = ArrayDataAdapter.get_tf_dataset.__wrapped__
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(args.threads[1])
    splits = build_dataset(load_mnist(args.mnist or params.base.mnist_path), 6000, 2000, 0.25, params.base.seed)
    peak = peak_gflops()
    plan = {
        "mlp-trial": (REPORT_TRIAL, 128),
        "mlp-final": (final_spec(), params.base.batch_size),
        "cnn": (params.cnn.model, params.base.batch_size),
        "sumnet": (params.sumnet.model, params.base.batch_size),
    }
    conv_changes = {
        **({"augment_shift": 0.0, "augment_rotation": 0.0} if args.no_augment else {}),
        **({"batch_norm": False} if args.no_batch_norm else {}),
    }
    if conv_changes:
        plan = {f: (s.replace(**conv_changes) if f in ("cnn", "sumnet") else s, b) for f, (s, b) in plan.items()}
    rows = [
        time_network(
            f,
            spec,
            args.batch or batch,
            splits["train"],
            args.steps,
            args.jit,
            args.steps_per_execution,
            args.precision,
            args.epochs,
        )
        for f, (spec, batch) in plan.items()
        if f in args.families
    ]
    train, val = splits["train"], splits["val"]
    sk = [r for engine in args.sklearn for r in time_sklearn(train, val, args.sklearn_pairs, engine)]
    studies = [time_study(params, args.data, args.study_trials, n) for n in (1, 2)] if args.study_trials else []
    header = {
        "label": args.label,
        "command": command_line(sys.argv[1:]),
        "machine": machine(),
        "threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
        "peak_fp32_gflops": peak,
        "jit": args.jit,
        "steps_per_execution": args.steps_per_execution,
        "precision": args.precision,
        "epochs": args.epochs,
        "tf_data_autotune": args.tf_data_autotune,
    }
    print(f"{header['machine']}: float32 matmul peak {peak:.1f} GFLOP/s; jit={args.jit} spe={args.steps_per_execution}")
    print(f"{'family':<10} {'batch':>5} {'train pairs/s':>14} {'GFLOP/s':>8} {'of peak':>8} {'predict pairs/s':>16}")
    for r in rows:
        print(
            f"{r['family']:<10} {r['batch']:>5} {r['train_pairs_per_s']:>14,.0f} {r['train_gflops']:>8.1f} "
            f"{r['train_gflops'] / peak:>8.1%} {r['predict_pairs_per_s']:>16,.0f}"
        )
        if (r["cores_busy_elsewhere"] or 0) >= BUSY:
            print(
                f"  warning: other processes used {r['cores_busy_elsewhere']:.0%} of the cores while {r['family']} "
                "was timed: this rate measures the sharing, not the code"
            )
    for r in sk:
        print(
            f"{r['estimator']:<18} {r['engine']:<7} fit {r['fit_s']:7.1f} s on {r['fit_pairs']:,}  "
            f"predict {r['predict_s']:6.1f} s on {r['predict_pairs']:,}  val {r['val_accuracy']:.4f}"
        )
    for r in studies:
        print(
            f"study1, {r['trials']} trials, local_workers {r['local_workers']}: {r['seconds']:.0f} s, "
            f"best val {r['best_val']:.4f}"
        )
    if args.out:
        args.out.write_text(
            json.dumps({**header, "networks": rows, "sklearn": sk, "studies": studies}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
