"""Stage `activation`: the best study1 network with each activation, a plain loop as in the report (section
3.2); the pick is by validation accuracy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnistsum import models, tracking, training
from mnistsum.data.feed import Arrays
from mnistsum.data.splits import load_data
from mnistsum.files import write_json, write_metrics
from mnistsum.params import Params


@dataclass(frozen=True)
class Paths:
    data: Path
    previous: Path  # study1's best configuration JSON
    out: Path  # the best configuration JSON
    metrics: Path


def run(params: Params, paths: Paths) -> dict:
    p = params.activation
    previous = models.read_spec(paths.previous)
    overrides = {k: getattr(p, k) for k in ("units", "learning_rate", "dropout") if getattr(p, k) is not None}
    previous = previous.replace(**overrides) if overrides else previous
    seed, batch = params.base.seed, params.base.batch_size
    stage_data = load_data(paths.data, p.train_fraction, seed)
    data = Arrays.from_pairs(stage_data.pairs["train"], stage_data.pairs["val"], stage_data.pairs["test"])
    results = {}
    with tracking.start_run(
        "nn",
        "activation",
        stage="activation",
        params={"activation": p.model_dump(), "previous": previous.to_dict()},
        regime=p.regime,
    ) as parent:
        tracking.log_datasets(parent.info.run_id, stage_data.inputs)
        for i, act in enumerate(p.activations):
            cfg = previous.replace(activation=act, batch_norm=p.batch_norm)
            with tracking.start_run(
                "nn",
                f"activation={act}",
                stage="activation",
                parent_run_id=parent.info.run_id,
                params={"config": cfg.to_dict(), "epochs": p.epochs},
                regime=p.regime,
            ) as child:
                tracking.log_datasets(child.info.run_id, stage_data.inputs)
                r = training.train(
                    cfg,
                    data,
                    p.epochs,
                    batch,
                    seed,
                    run_id=child.info.run_id,
                    label=f"activation={act}",
                    regime=p.regime,
                    precision=params.base.precision,
                )
                tracking.log_metrics(
                    child.info.run_id, {"final_val_accuracy": r.val_accuracy, "final_test_accuracy": r.test_accuracy}
                )
            results[act] = (cfg, r)
            print(
                f"activation: {i + 1}/{len(p.activations)} {act} val {r.val_accuracy:.4f} test {r.test_accuracy:.4f}",
                flush=True,
            )
        best_act = max(results, key=lambda a: results[a][1].val_accuracy)
        cfg, r = results[best_act]
        summary = r.summary(
            cfg,
            f"activation {best_act}",
            run_id=parent.info.run_id,
            by_activation={
                a: {"val_accuracy": x[1].val_accuracy, "test_accuracy": x[1].test_accuracy} for a, x in results.items()
            },
        )
        tracking.log_params(parent.info.run_id, {"best.activation": best_act})
        tracking.log_metrics(
            parent.info.run_id, {"best_val_accuracy": r.val_accuracy, "best_test_accuracy": r.test_accuracy}
        )
    write_json(paths.out, summary)
    write_metrics(paths.metrics, r.val_accuracy, r.test_accuracy, regime=p.regime)
    return summary
