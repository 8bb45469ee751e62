"""Stage `final`: the network the four studies chose, with batch norm and early stopping (report section 3.3),
trained, evaluated and registered on the one path every family takes (stages.family), plus the report's
Figure 9: base against final, accuracy per epoch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnistsum import figures, models
from mnistsum.data.splits import load_data
from mnistsum.figures import save_figure
from mnistsum.files import read_json
from mnistsum.params import Params
from mnistsum.stages import family


@dataclass(frozen=True)
class Paths:
    data: Path
    previous: Path  # study4's best configuration JSON
    base_history: Path  # the base network's history.json
    out: Path  # folder for model.keras, model.weights.h5, history.json, best.json
    plots: Path
    metrics: Path


def run(params: Params, paths: Paths) -> dict:
    p = params.final
    spec = models.read_spec(paths.previous).replace(batch_norm=p.batch_norm)
    base_history = read_json(paths.base_history)

    def base_vs_final(result) -> list[Path]:
        path = paths.plots / "base_vs_final.png"
        save_figure(
            figures.accuracy_curves(
                {"base": base_history, "final": result.history}, "Base vs final network: accuracy per epoch"
            ),
            path,
        )
        return [path]

    stage_data = load_data(paths.data, p.train_fraction, params.base.seed)
    return family.train_evaluate_register(
        "final",
        spec,
        p,
        params,
        stage_data,
        family.Paths(paths.data, paths.out, paths.plots, paths.metrics),
        figures_of=base_vs_final,
    )
