"""Stage `report`: the study report's results regenerated from the tracked MLflow runs, each beside the number
the original report gives (those references are quotations of the report, kept here on purpose).

It reads only what it declares: each stage's summary file records the MLflow run id of the run it made, and
the report looks those runs up by id, so after a `dvc exp run` it reports the workspace's runs, never the
newest run of a name. Each section is a function of the runs; `run` puts them together and copies the figures."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException

from mnistsum import tracking
from mnistsum.errors import InputError
from mnistsum.files import read_json, write_text
from mnistsum.params import Params
from mnistsum.quotes import (
    CHOSE_ON_TEST,
    PUBLISHED_ADDITION,
    REPORT_ACTIVATION,
    REPORT_FOREST,
    REPORT_LOGREG,
    REPORT_NN,
    REPORT_SVM,
)

# The stages whose runs the report reads, each through the summary file its stage writes (the run_id in it).
STAGES = (
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
    "logreg",
    "svm",
    "forest",
    "compare",
)

FIGURES = [
    "final/base_vs_final.png",
    "tsne/tsne_perplexity_sweep.png",
    "tsne/tsne_pairs_sum8.png",
    "forest/forest_depth.png",
    "compare/compare_accuracy.png",
    "compare/compare_reliability.png",
    "learning_curve/learning_curve.png",
    "sumnet/sumnet_digit_confusion.png",
    "sumnet/sumnet_sum_confusion.png",
    "tsne/tsne_sumnet_digit_embedding.png",
]


@dataclass(frozen=True)
class Paths:
    summaries: dict[str, Path]  # stage -> the summary JSON holding its run_id
    plots: Path  # the stages' figures
    out: Path  # reports/report.md (figures are copied beside it)


def read_runs(summaries: dict[str, Path]) -> dict[str, Any]:
    """Each stage's MLflow run, by the run id its summary file records."""
    missing = [s for s in STAGES if s not in summaries]
    if missing:
        raise InputError(f"report: no summary file given for stages {missing}")
    client = tracking.configure(read_only=True)
    runs = {}
    for stage, path in summaries.items():
        run_id = read_json(path).get("run_id")
        if not run_id:
            raise InputError(f"{path}: no run_id (re-run the stage that writes it: dvc repro {stage})")
        try:
            runs[stage] = client.get_run(run_id)
        except MlflowException:
            raise InputError(f"{path}: run {run_id} is not in the MLflow store at {tracking.tracking_uri()}") from None
    return runs


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows],
        "",
    ]


def nn_section(runs: dict[str, Any]) -> list[str]:
    rows = []
    for stage in REPORT_NN:
        run = runs[stage]
        m = run.data.metrics
        val = m.get("best_val_accuracy", m.get("final_val_accuracy"))
        test = m.get("best_test_accuracy", m.get("final_test_accuracy"))
        rows.append([stage, run.data.tags.get("regime", "?"), val, test, REPORT_NN[stage], run.info.run_id[:8]])
    act = runs["activation"]
    act_rows = [
        [
            k.info.run_name.split("=")[1],
            k.data.metrics.get("final_test_accuracy"),
            REPORT_ACTIVATION.get(k.info.run_name.split("=")[1]),
        ]
        for k in tracking.child_runs(act.info.run_id)
    ]
    return [
        "## Neural networks (report sections 3.1-3.3)",
        "",
        *_table(["stage", "regime", "val accuracy", "test accuracy", "report test accuracy", "run"], rows),
        "Every choice above (trials, activation, early stopping, the registry alias) used validation accuracy "
        "on pairs of digits never seen in training; test accuracy is only reported. Regime: `sums` trains on the "
        "given pairs' sum labels only (as the report did); `digits` on fresh pairs of the training digits each "
        "epoch, labelled from their digit labels.",
        "",
        f"Activation study ({CHOSE_ON_TEST['activation']}):",
        "",
        *_table(
            ["activation", "val accuracy", "test accuracy", "report"],
            [
                [r[0], k.data.metrics.get("final_val_accuracy"), *r[1:]]
                for r, k in zip(act_rows, tracking.child_runs(act.info.run_id))
            ],
        ),
    ]


ENGINE_NAMES = {"stock": "scikit-learn (stock)", "onedal": "oneDAL (scikit-learn-intelex)"}


def _grid_section(
    runs: dict[str, Any], stage: str, title: str, reference: dict[str, float], extra: list[str]
) -> list[str]:
    parent = runs[stage]
    m = parent.data.metrics
    if "train_pairs" in m:
        default_n = int(m.get("default_train_pairs", m["train_pairs"]))
        extra = [
            f"The default point was fitted on {default_n:,} training pairs, the grid on "
            f"{int(m['train_pairs']):,} (the report: 48,000 for both; the SVM grid on 12,000).",
            "",
            *extra,
        ]
    if stage in CHOSE_ON_TEST:
        extra = [*extra, f"Note: {CHOSE_ON_TEST[stage]}.", ""]
    children = tracking.child_runs(parent.info.run_id)
    engines = sorted({k.data.tags.get("engine", "stock") for k in children})
    extra = [*extra, f"Fitted by {' and '.join(ENGINE_NAMES.get(e, e) for e in engines)}.", ""]
    rows = []
    for k in children:
        m = k.data.metrics
        rows.append(
            [
                k.data.tags.get("part"),
                k.info.run_name,
                m.get("train_accuracy"),
                m.get("val_accuracy"),
                m.get("test_accuracy"),
                reference.get(k.info.run_name),
                k.data.tags.get("converged", ""),
                k.data.tags.get("overfit", ""),
            ]
        )
    return [
        f"## {title}",
        "",
        *extra,
        *_table(["part", "point", "train", "val", "test", "report test", "converged", "overfit"], rows),
        f"Regime: `{parent.data.tags.get('regime', 'sums')}` (every point fits the given pairs' sum labels).",
        "",
    ]


def beyond_section(runs: dict[str, Any]) -> list[str]:
    """MLP vs CNN vs sumnet at all training pairs in each regime (a family stage's own run where its regime
    matches, else the learning curve's run with that stage's recipe), and the learning curve across sizes."""
    families = ["mlp", "cnn", "sumnet"]
    curve = runs["learning_curve"]
    children = {
        (k.data.params["family"], k.data.tags.get("regime", "sums"), int(k.data.params["train_pairs"])): k
        for k in tracking.child_runs(curve.info.run_id)
    }
    full = int(curve.data.metrics["train_pairs"])  # all the training pairs, as the stages trained on
    by_point: dict[tuple[str, str], Any] = {}
    for family, stage in (("mlp", "final"), ("cnn", "cnn"), ("sumnet", "sumnet")):
        by_point[(family, runs[stage].data.tags.get("regime", "sums"))] = runs[stage]
    for (family, regime, n), k in children.items():
        if n == full:
            by_point.setdefault((family, regime), k)
    regimes = [r for r in ("sums", "digits") if any(reg == r for _, reg in by_point)]
    rows = []
    for regime in regimes:
        for family in families:
            run = by_point.get((family, regime))
            if run is None:
                rows.append([regime, family, *["not run"] * 7])
                continue
            m = run.data.metrics
            digits = m.get("final_mnist_test_digit_accuracy", m.get("final_test_digit_accuracy"))
            rows.append(
                [
                    regime,
                    family,
                    m.get("final_val_accuracy"),
                    m.get("final_test_accuracy"),
                    digits if digits is not None else "-",
                    m.get("final_test_ece", m.get("test_ece")),
                    _seconds(m.get("train_seconds")),
                    # Inference speed is measured by the family stages; the learning curve's runs skip it.
                    _rate(m.get("pairs_per_second")) if "pairs_per_second" in m else "-",
                    _count(m.get("parameters")),
                ]
            )
    sizes = sorted({n for _, _, n in children if n < full})
    curve_rows = [
        [n, regime, *[_metric(children.get((f, regime, n)), "final_test_accuracy") for f in families]]
        for regime in regimes
        for n in sizes
    ]
    curve_rows += [
        ["all", regime, *[_metric(by_point.get((f, regime)), "final_test_accuracy") for f in families]]
        for regime in regimes
    ]
    published = ", ".join(f"{k} {v:.3f}" for k, v in PUBLISHED_ADDITION.items())
    return [
        "## Beyond the report: learning the digits from the sums",
        "",
        "Three families on the same pairs: the report's MLP (as the studies chose it), a plain CNN on the whole "
        "56x28 image, and the sumnet (one digit encoder shared by both halves, the sum the exact convolution of its "
        "two digit distributions). Two supervision regimes: `sums` trains on the given pairs' sum labels and "
        "nothing else; `digits` forms fresh pairs of the training digits each epoch, labelled from their digit "
        "labels (more information than the sums). No family is ever given a digit as a target; the sumnet's digit "
        "accuracy is measured against the hidden labels (in `sums`, of the distinct MNIST test digits).",
        "",
        *_table(
            [
                "regime",
                "family",
                "val sum acc",
                "test sum acc",
                "test digit acc",
                "test ECE",
                "training time",
                "inference (pairs/s, CPU)",
                "parameters",
            ],
            rows,
        ),
        f"Published MNIST-addition results, for scale (30,000 pairs, sum labels only; a different split: see "
        f"benchmarks/mnist_addition.py for our numbers on their protocol): {published}.",
        "",
        "Learning curve (test sum accuracy; the smaller sizes are the first n training pairs):",
        "",
        *_table(["training pairs", "regime", *families], curve_rows),
    ]


def _metric(run: Any, key: str) -> float | str:
    return "not run" if run is None else run.data.metrics.get(key, "n/a")


def _seconds(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} s"


def _rate(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.0f}"


def _count(v: float | None) -> str:
    return "n/a" if v is None else f"{int(v):,}"


def tsne_section(runs: dict[str, Any]) -> list[str]:
    rows = [
        [k.info.run_name, k.data.metrics.get("knn_accuracy"), k.data.metrics.get("trustworthiness")]
        for k in tracking.child_runs(runs["tsne"].info.run_id)
    ]
    return [
        "## t-SNE (report section 4)",
        "",
        *_table(["map", "kNN accuracy of the sum (2-D)", "trustworthiness"], rows),
        "The report judged the maps by eye (clusters in the embedding, none in the input).",
        "",
    ]


def compare_section(runs: dict[str, Any]) -> list[str]:
    rows = []
    for k in tracking.child_runs(runs["compare"].info.run_id):
        m = k.data.metrics
        rows.append(
            [
                int(k.data.params["train_pairs"]),
                m.get("combined.accuracy"),
                m.get("sequential_argmax.accuracy"),
                m.get("sequential_convolved.accuracy"),
                m.get("combined.log_loss"),
                m.get("sequential_convolved.log_loss"),
                m.get("combined.ece"),
                m.get("sequential_convolved.ece"),
                m.get("sumnet.accuracy"),
            ]
        )
    rows.sort(key=lambda r: r[0])
    return [
        "## Combined vs sequential logistic regression (report section 6)",
        "",
        *_table(
            [
                "train pairs",
                "combined acc",
                "sequential argmax acc",
                "sequential convolved acc",
                "combined log-loss",
                "convolved log-loss",
                "combined ECE",
                "convolved ECE",
                "sumnet acc (no digit labels)",
            ],
            rows,
        ),
        "Regimes: the combined classifier fits the given pairs' sums (`sums`); the sequential one fits each digit "
        "with its digit label (`digit-labels`, the report's way); the sumnet's points are the learning curve's "
        "(`sums`, not trained here). The report found the sequential classifier more than four times as accurate "
        "as the combined one.",
        "",
    ]


def grid_sections(runs: dict[str, Any], params: Params) -> list[str]:
    forest = runs["forest"].data
    return [
        *_grid_section(runs, "logreg", "Logistic regression (report Figures 13-14)", REPORT_LOGREG, []),
        *_grid_section(
            runs,
            "svm",
            "Support vector machine (report Figure 15)",
            REPORT_SVM,
            [f"Points whose train-validation gap exceeds {params.svm.overfit_gap:.0%} are flagged overfit.", ""],
        ),
        *_grid_section(
            runs,
            "forest",
            "Random forest (report Figures 16-17)",
            REPORT_FOREST,
            [
                f"Overfitting depths (train-validation gap > {params.forest.overfit_gap:.0%}): "
                f"{forest.tags.get('overfitting_depths')}; chosen depth "
                f"{int(forest.metrics['chosen_depth'])} (report: 8) with test accuracy "
                f"{forest.metrics['chosen_test_accuracy']:.4f} (report: 0.5572).",
                "",
            ],
        ),
    ]


def header(params: Params) -> list[str]:
    profile = {
        k: getattr(params, k).model_dump()
        for k in ("prepare", "study1", "final", "cnn", "sumnet", "learning_curve", "logreg", "svm", "forest")
    }
    return [
        "# mnistsum: the study report, regenerated from the tracked runs",
        "",
        f"Tracking store: `{tracking.tracking_uri()}`. Every number below is read from MLflow; the "
        "'report' columns quote the original study report.",
        "",
        "Params profile these runs used (the sections that set the scale):",
        "",
        "```",
        *[f"{k}: {v}" for k, v in profile.items()],
        "```",
        "",
    ]


def figures_section(plots: Path, out: Path) -> list[str]:
    """The stages' figures, copied beside the report."""
    lines = ["## Figures", ""]
    fig_dir = out.parent / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for rel in FIGURES:
        src = plots / rel
        if src.is_file():
            shutil.copy2(src, fig_dir / src.name)
            lines += [f"![{src.stem}](figures/{src.name})", ""]
    return lines


def run(params: Params, paths: Paths) -> Path:
    runs = read_runs(paths.summaries)
    lines = [
        *header(params),
        *nn_section(runs),
        *grid_sections(runs, params),
        *compare_section(runs),
        *tsne_section(runs),
        *beyond_section(runs),
        *figures_section(paths.plots, paths.out),
    ]
    write_text(paths.out, "\n".join(lines))
    print(f"report: wrote {paths.out}")
    return paths.out
