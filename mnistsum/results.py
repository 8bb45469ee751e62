"""The results page (docs/results.md) and the README's headline table, rendered from the reference run's committed
files: each stage's metrics/<stage>.json and, where one is committed, the literature protocol's benchmark JSON
(docs/mnist_addition.json, written by `benchmarks/mnist_addition.py --out`), and the two N-digit numbers' runs beside
it (docs/mnist_addition_n*.json, `--digits N --out`). Nothing here is typed by hand:
`mnistsum results` rewrites both after a reference run, and a test re-renders them from the committed files and
fails when they differ. Machines, dates and stage times live in docs/reproduction.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from mnistsum.errors import InputError
from mnistsum.files import read_json, write_text
from mnistsum.quotes import (
    ADDITION_N,
    PUBLISHED_ADDITION,
    PUBLISHED_ADDITION_N,
    REPORT_FOREST,
    REPORT_LOGREG,
    REPORT_NN,
    REPORT_SVM,
)

# The stages whose metrics carry a validation and a test accuracy, in the pipeline's order.
HEADLINE_STAGES = ("base_mlp", "study1", "activation", "study2", "study3", "study4", "final", "cnn", "sumnet")
GRID_STAGES = ("logreg", "svm", "forest")
FAMILIES = {"mlp": "final", "cnn": "cnn", "sumnet": "sumnet"}  # family -> the stage that trains it at all pairs
README_BEGIN = "<!-- results: rendered by `mnistsum results` from metrics/; do not edit -->"
README_END = "<!-- end of results -->"
REPORT_DEFAULTS = {"logreg": REPORT_LOGREG["default"], "svm": REPORT_SVM["default"], "forest": REPORT_FOREST["default"]}


def read_metrics(folder: Path) -> dict[str, dict[str, Any]]:
    """Every stage's metrics file in `folder`, by stage name."""
    files = sorted(Path(folder).glob("*.json"))
    if not files:
        raise InputError(f"{folder}: no metrics files (run the pipeline first: dvc repro)")
    return {path.stem: read_json(path) for path in files}


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}"


def _cell(v: Any) -> str:
    return _num(v) if isinstance(v, float) or v is None else str(v)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows],
    ]


def headline(metrics: dict[str, dict]) -> list[str]:
    """Each stage's chosen model: regime, validation and test accuracy; the grids' default point beside their
    rule's pick; the combined and sequential classifiers (test only: they have no validation split)."""
    rows = [
        [stage, metrics[stage]["regime"], metrics[stage]["val_accuracy"], metrics[stage]["test_accuracy"], ""]
        for stage in HEADLINE_STAGES
        if stage in metrics
    ]
    for stage in GRID_STAGES:
        if stage in metrics:
            m = metrics[stage]
            chosen = f"`{m['chosen']}`" if "chosen" in m else "the rule's pick"
            pairs = f" on {int(m['train_pairs']):,} pairs" if "train_pairs" in m else ""
            pick = f"{chosen}{pairs}; the default point: test {_num(m.get('default_test_accuracy'))}"
            rows.append([stage, m["regime"], m["val_accuracy"], m["test_accuracy"], pick])
    if "compare" in metrics:
        m = metrics["compare"]
        for model in ("combined", "sequential"):
            note = f"{int(m['train_pairs']):,} training pairs, test only"
            rows.append([f"compare {model}", m["regime"][model], None, m[f"{model}_test_accuracy"], note])
    return _table(["stage", "regime", "val accuracy", "test accuracy", "note"], rows)


def _curve(metrics: dict[str, dict]) -> tuple[dict[str, dict[str, dict[str, float]]], int]:
    """The learning curve's points, regime -> family -> size -> test accuracy, and the all-pairs size. Older
    metrics files hold only the all-pairs point (a number where the points are a mapping)."""
    m = metrics.get("learning_curve", {})
    full = int(m.get("train_pairs", 0))
    curve = {}
    for regime in ("sums", "digits"):
        families = m.get(regime, {})
        curve[regime] = {f: (v if isinstance(v, dict) else {str(full): v}) for f, v in families.items()}
    return curve, full


def families(metrics: dict[str, dict]) -> list[str]:
    """The three families at all training pairs in both regimes: a family stage's own run where the regime is
    its own, else the learning curve's point with that stage's recipe (test accuracy only)."""
    curve, full = _curve(metrics)
    rows = []
    for regime in ("sums", "digits"):
        for family, stage in FAMILIES.items():
            m = metrics.get(stage, {})
            if m.get("regime") == regime:
                digits = m.get("mnist_test_digit_accuracy", m.get("test_digit_accuracy"))
                rows.append([regime, family, m["val_accuracy"], m["test_accuracy"], digits, m.get("test_ece"), stage])
                continue
            test = curve[regime].get(family, {}).get(str(full))
            where = "learning_curve" if test is not None else "not run (learning_curve.full_size_regimes)"
            rows.append([regime, family, None, test, None, None, where])
    return _table(["regime", "family", "val sum acc", "test sum acc", "test digit acc", "test ECE", "from"], rows)


def learning_curve(metrics: dict[str, dict]) -> list[str]:
    curve, full = _curve(metrics)
    sizes = sorted({int(n) for fams in curve.values() for pts in fams.values() for n in pts})
    if sizes == [full]:
        return ["This run's metrics hold the all-pairs points only (the smaller sizes are in its results/)."]
    rows = [
        [f"{n:,}", regime, *[curve[regime].get(f, {}).get(str(n)) for f in FAMILIES]]
        for regime in ("sums", "digits")
        for n in sizes
    ]
    return _table(["training pairs", "regime", *FAMILIES], rows)


def beside_report(metrics: dict[str, dict]) -> list[str]:
    """The study report's test accuracies beside ours (ours at this profile's budget and in its regime)."""
    rows = []
    for stage, theirs in REPORT_NN.items():
        if stage in metrics:
            ours = metrics[stage]["test_accuracy"]
            rows.append([stage, metrics[stage]["regime"], ours, theirs, f"{ours - theirs:+.4f}"])
    for stage, theirs in REPORT_DEFAULTS.items():
        ours = metrics.get(stage, {}).get("default_test_accuracy")
        if ours is not None:
            rows.append([f"{stage} default point", metrics[stage]["regime"], ours, theirs, f"{ours - theirs:+.4f}"])
    return _table(["model", "regime (ours)", "ours test", "report test", "difference"], rows)


def protocol(rows: list[dict] | None) -> list[str]:
    """The literature's MNIST-addition protocol: ours (mean +- std over seeds) beside the published results."""
    published = ", ".join(f"{name} {acc:.4f}" for name, acc in PUBLISHED_ADDITION.items())
    if not rows:
        return [
            "No benchmark JSON is committed beside this page: `benchmarks/mnist_addition.py --seeds 10 --families "
            "sumnet cnn mlp --out docs/mnist_addition.json`, then `mnistsum results`.",
            "",
            f"Published (N=1, mean test sum accuracy): {published}.",
        ]

    table = []
    # A family's batch norm is part of its recipe (params.yaml's, when the row was made): seeds of one family
    # with and without it are two rows; "-" where a row predates the field.
    for family, batch_norm in dict.fromkeys((r["family"], r.get("batch_norm")) for r in rows):
        mine = [r for r in rows if r["family"] == family and r.get("batch_norm") == batch_norm]
        digits = [r["test_digit_accuracy"] for r in mine if r.get("test_digit_accuracy") is not None]
        minutes = float(np.mean([r["minutes"] for r in mine]))
        acc = mean_std([r["test_accuracy"] for r in mine])
        norm = "-" if batch_norm is None else ("yes" if batch_norm else "no")
        table.append([family, norm, len(mine), acc, mean_std(digits) if digits else "-", f"{minutes:.1f}"])
    header = ["family (sum labels only)", "batch norm", "seeds", "test sum acc", "test digit acc", "minutes per seed"]
    return [
        *_table(header, table),
        "",
        f"Published (N=1, mean test sum accuracy): {published}.",
    ]


def mean_std(values: list[float]) -> str:
    """Mean +- sample standard deviation over seeds, "-" for none."""
    if not values:
        return "-"
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return f"{float(np.mean(values)):.4f} +- {std:.4f}"


def read_numbers(files: list[Path]) -> list[dict]:
    """Every seed's row from the N-digit runs' files; one seed of one recipe twice is refused by name."""
    rows, seen = [], {}
    for path in files:
        for row in read_json(path):
            key = (*_recipe(row), row["seed"])
            if key in seen:
                n, prior, lead, epochs, bn, seed = key
                raise InputError(
                    f"{path}: N={n} prior {prior} lead {lead} epochs {epochs} batch norm {bn} seed {seed} "
                    f"is also in {seen[key]}"
                )
            seen[key] = path
            rows.append({**row, "file": path.name})
    return rows


def _recipe(row: dict) -> tuple[int, float, float, int, bool]:
    """What names an N-digit recipe: N, the digit prior's weight, the leading digits' weight (0 where unrecorded),
    the epoch budget, and whether the encoder had batch norm (rows written before it was recorded had: the sumnet
    kept it until fa7e1ba)."""
    return (
        row["digits"],
        row.get("digit_prior", 0.0),
        row.get("lead_weight", 0.0),
        row["epochs"],
        row.get("batch_norm", True),
    )


def numbers(rows: list[dict]) -> list[str]:
    """Two N-digit numbers: ours per N and recipe (mean +- std over seeds) beside the published table."""
    table = []
    for recipe in sorted({_recipe(r) for r in rows}):
        n, prior, lead, epochs, batch_norm = recipe
        mine = sorted((r for r in rows if _recipe(r) == recipe), key=lambda r: r["seed"])
        first = mine[0]
        examples = f"{first['train_examples']:,} / {first['val_examples']:,} / {first['test_examples']:,}"
        table.append(
            [
                f"N={n}",
                f"{prior:g}",
                f"{lead:g}",
                str(epochs),
                "yes" if batch_norm else "no",
                examples,
                ", ".join(str(r["seed"]) for r in mine),
                mean_std([r["test_accuracy"] for r in mine]),
                mean_std([r["test_digit_accuracy"] for r in mine]),
                f"{float(np.mean([r['minutes'] for r in mine])):.1f}",
                ", ".join(dict.fromkeys(f"`{r['file']}`" for r in mine)),
            ]
        )
    header = [
        "N",
        "digit prior",
        "lead weight",
        "epochs",
        "batch norm",
        "train / val / test examples",
        "seeds",
        "test sum acc",
        "test digit acc",
    ]
    return [*_table([*header, "minutes per seed", "files"], table), "", *published_numbers()]


def published_numbers() -> list[str]:
    """The literature's table for two N-digit numbers (mnistsum.quotes.PUBLISHED_ADDITION_N)."""
    published = [[name, *(results.get(n, "-") for n in ADDITION_N)] for name, results in PUBLISHED_ADDITION_N.items()]
    return _table(["published (test sum acc)", *(f"N={n}" for n in ADDITION_N)], published)


def page(metrics: dict[str, dict], benchmark: list[dict] | None, number_rows: list[dict] | None = None) -> str:
    lines = [
        "# Results of the reference run",
        "",
        "Rendered by `mnistsum results` from the committed `metrics/` of the reference run (and "
        "`docs/mnist_addition.json` where committed); do not edit by hand, a test compares. Which commit and "
        "machine made them: [reproduction.md](reproduction.md). Validation chooses, test reports; each number "
        "names the regime it was trained in (`sums`: the given pairs' sum labels only; `digits`: fresh pairs each "
        "epoch labelled from the digit labels).",
        "",
        "## Every stage",
        "",
        *headline(metrics),
        "",
        "## The families at all training pairs",
        "",
        "Digit accuracy is the sumnet's encoder on the distinct MNIST test digits, against labels it never trained on.",
        "",
        *families(metrics),
        "",
        "## Learning curve (test sum accuracy)",
        "",
        "The smaller sizes are the first n training pairs; in `digits` a small set's own digits are re-paired "
        "every epoch.",
        "",
        *learning_curve(metrics),
        "",
        "## The study report's numbers beside ours",
        "",
        "Ours at the default budget (the report's scale is `profiles/report.yaml`); the whole regenerated report "
        "is `reports/report.md` after `dvc repro`.",
        "",
        *beside_report(metrics),
        "",
        "## The literature's MNIST-addition protocol",
        "",
        "30,000 training pairs (each MNIST training digit once; 3,000 held out for early stopping), 5,000 test "
        "pairs (each test digit once), sum labels only.",
        "",
        *protocol(benchmark),
        "",
    ]
    if number_rows:
        lines += [
            "## Two N-digit numbers",
            "",
            "The 2 x N grid of MNIST digits (56 x 28N pixels), labelled with the integer sum only: each MNIST digit in "
            "one example; the sumnet's digit encoder on every cell, trained through the exact carry recursion "
            "(`benchmarks/mnist_addition.py --digits N`; the sum read position by position from each cell's most "
            "probable digit). `digit prior`: the weight of the prior that the encoder reads the ten digits equally "
            "often; `lead weight`: the weight of the likelihood of the sum's two leading digits alone, added to the "
            "whole sum's (`--lead-weight`; both in docs/research.md).",
            "",
            *numbers(number_rows),
            "",
        ]
    return "\n".join(lines)


def readme_block(metrics: dict[str, dict]) -> str:
    return "\n".join([README_BEGIN, *headline(metrics), README_END])


def with_readme_block(readme: str, block: str) -> str:
    pattern = re.escape(README_BEGIN) + r".*?" + re.escape(README_END)
    if not re.search(pattern, readme, re.S):
        raise InputError(f"README.md: no results block (a line {README_BEGIN!r} ... {README_END!r})")
    return re.sub(pattern, lambda _: block, readme, count=1, flags=re.S)


def render(metrics_dir: Path, benchmark: Path | None, readme: str) -> tuple[str, str]:
    """(the results page, the README with its headline block) from the files."""
    metrics = read_metrics(metrics_dir)
    rows = read_json(benchmark) if benchmark is not None and benchmark.is_file() else None
    number_files = sorted(benchmark.parent.glob("mnist_addition_n*.json")) if benchmark is not None else []
    return page(metrics, rows, read_numbers(number_files)), with_readme_block(readme, readme_block(metrics))


def write(metrics_dir: Path, benchmark: Path | None, page_path: Path, readme_path: Path) -> None:
    text, readme = render(metrics_dir, benchmark, readme_path.read_text())
    write_text(page_path, text)
    write_text(readme_path, readme)
