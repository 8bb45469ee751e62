"""Stage `base_mlp`: the report's base network (section 3.1: one hidden layer of 50 relu units, 20 epochs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnistsum import figures, tracking, training
from mnistsum.data.feed import Arrays
from mnistsum.data.splits import load_data
from mnistsum.figures import save_figure
from mnistsum.files import write_json, write_metrics
from mnistsum.models.specs import MlpSpec
from mnistsum.params import Params


@dataclass(frozen=True)
class Paths:
    data: Path  # folder with train/val/test .npz
    out: Path  # folder for best.json, history.json, accuracy.png
    metrics: Path


def run(params: Params, paths: Paths) -> dict:
    p, seed, batch = params.base_mlp, params.base.seed, params.base.batch_size
    cfg = MlpSpec(units=p.units, activation=p.activation, dropout=p.dropout, learning_rate=p.learning_rate)
    stage_data = load_data(paths.data, 1.0, seed)
    pairs = stage_data.pairs
    with tracking.start_run(
        "nn",
        "base_mlp",
        stage="base_mlp",
        params={"config": cfg.to_dict(), "epochs": p.epochs, "batch_size": batch, "seed": seed},
        regime="sums",  # the report's base network: the given pairs, as it trained
    ) as run:
        rid = run.info.run_id
        tracking.log_datasets(rid, stage_data.inputs)
        result = training.train(
            cfg,
            Arrays.from_pairs(pairs["train"], pairs["val"], pairs["test"]),
            p.epochs,
            batch,
            seed,
            run_id=rid,
            label="base",
            precision=params.base.precision,
        )
        tracking.log_metrics(
            rid, {"final_val_accuracy": result.val_accuracy, "final_test_accuracy": result.test_accuracy}
        )
        write_json(paths.out / "history.json", result.history)
        summary = result.summary(cfg, "base_mlp", run_id=rid)
        write_json(paths.out / "best.json", summary)
        fig_path = paths.out / "accuracy.png"
        save_figure(figures.accuracy_curves({"base": result.history}, "Base network: accuracy per epoch"), fig_path)
        tracking.log_files(rid, [fig_path])
    write_metrics(paths.metrics, result.val_accuracy, result.test_accuracy, regime="sums")
    print(f"base_mlp: val {result.val_accuracy:.4f} test {result.test_accuracy:.4f}")
    return summary
