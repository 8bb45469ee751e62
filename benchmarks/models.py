"""MLP vs CNN vs sumnet on the same pairs, sum labels only: test sum accuracy, the sumnet's digit accuracy,
seconds per training epoch, and pairs per second at inference (batch 2048) on this machine's device.

Each family trains as params.yaml says (the MLP as the final stage trains it, from its best.json), unless
--epochs caps them all. Run by hand after `dvc repro prepare final` (for the MLP's configuration):

  .venv/bin/python benchmarks/models.py --data data/pairs --mlp models/final/best.json
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mnistsum import models, training
from mnistsum.data.feed import training_arrays
from mnistsum.data.pairs import load_split
from mnistsum.machine import machine
from mnistsum.models.specs import MlpSpec
from mnistsum.params import load_params
from mnistsum.stages.family import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, default=Path("data/pairs"))
    parser.add_argument(
        "--mlp",
        type=Path,
        default=Path("models/final/best.json"),
        help="the final MLP's best.json; without it, the study report's network",
    )
    parser.add_argument("--epochs", type=int, help="cap every family at this many epochs")
    parser.add_argument("--families", nargs="+", default=["mlp", "cnn", "sumnet"])
    parser.add_argument("--out", type=Path, help="write the rows as JSON here too")
    args = parser.parse_args()
    params = load_params(args.params)
    pairs = {split: load_split(args.data, split) for split in ("train", "val", "test")}
    if args.mlp.is_file():
        mlp = MlpSpec.model_validate(json.loads(args.mlp.read_text())["config"])
    else:
        mlp = MlpSpec(units=(253, 219, 112, 198, 215), dropout=0.0856, learning_rate=0.00099, batch_norm=True)
    plan = {
        "mlp": (mlp, params.final.max_epochs, params.final.patience, "constant"),
        "cnn": (params.cnn.model, params.cnn.max_epochs, params.cnn.patience, params.cnn.schedule),
        "sumnet": (params.sumnet.model, params.sumnet.max_epochs, params.sumnet.patience, params.sumnet.schedule),
    }
    import tensorflow as tf

    device = (
        "GPU: " + tf.config.list_physical_devices("GPU")[0].name
        if tf.config.list_physical_devices("GPU")
        else f"CPU ({tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads)"
    )
    rows = []
    for family in args.families:
        spec, epochs, patience, schedule = plan[family]
        epochs = min(epochs, args.epochs) if args.epochs else epochs
        regime = {"mlp": params.final, "cnn": params.cnn, "sumnet": params.sumnet}[family].regime
        data = training_arrays(pairs, regime)
        t0 = time.perf_counter()
        result = training.train(
            spec,
            data,
            epochs,
            params.base.batch_size,
            params.base.seed,
            label=f"bench {family}",
            patience=patience,
            schedule=schedule,
            regime=regime,
            monitors=[lambda m: models.measures(m, {"val": pairs["val"], "test": pairs["test"]})],
            precision=params.base.precision,  # as the stages train (bfloat16 only where the CPU has it)
        )
        seconds = time.perf_counter() - t0
        report, _ = evaluate(result.model, pairs, params.base.ece_bins, Path("/tmp/mnistsum-bench"), family)
        rows.append(
            {
                "family": family,
                "test_accuracy": result.test_accuracy,
                "val_accuracy": result.val_accuracy,
                "digit_accuracy": report.get("mnist_test_digit_accuracy"),
                "epochs_run": result.epochs_run,
                "seconds_per_epoch": float(np.median(result.history["epoch_seconds"])),
                "train_seconds": seconds,
                "pairs_per_second": training.pairs_per_second(result.model, pairs["test"].x),
                "parameters": int(result.model.count_params()),
            }
        )
    print(
        f"\ndevice: {device}, {params.base.precision}; {len(pairs['train']):,} training pairs, "
        f"{len(pairs['test']):,} test pairs\n"
    )
    print(
        "| family | test sum acc | test digit acc | epochs | s/epoch (median) | training s | pairs/s inference "
        "| parameters |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        digit = f"{r['digit_accuracy']:.4f}" if r["digit_accuracy"] is not None else "-"
        print(
            f"| {r['family']} | {r['test_accuracy']:.4f} | {digit} | {r['epochs_run']} | {r['seconds_per_epoch']:.1f} "
            f"| {r['train_seconds']:.0f} | {r['pairs_per_second']:,.0f} | {r['parameters']:,} |"
        )
    if args.out:
        record = {"device": device, "machine": machine(), "precision": params.base.precision, "rows": rows}
        args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
