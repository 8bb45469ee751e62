"""Stage `tsne` (report section 4): t-SNE of the final network's embedding against the raw input, scored so
maps can be compared by number: kNN accuracy of the sum label inside the 2-D map (k=5, held-out half) and
scikit-learn's trustworthiness."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from openTSNE import TSNE as OpenTSNE
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.neighbors import KNeighborsClassifier

from mnistsum import figures, models, tracking
from mnistsum.data.pairs import load_split, split_ids
from mnistsum.errors import InputError
from mnistsum.figures import save_figure
from mnistsum.files import write_json, write_metrics
from mnistsum.params import Params


@dataclass(frozen=True)
class Paths:
    data: Path
    model: Path  # the final network's .keras file
    sumnet: Path | None  # the sumnet's .keras file: adds a map of its digit embedding
    plots: Path
    metrics: Path  # headline metrics JSON
    summary: Path  # every map's scores (JSON)


def tsne_2d(x: np.ndarray, perplexity: float, seed: int, pca_components: int, implementation: str) -> np.ndarray:
    """PCA to at most `pca_components` dimensions, then 2-D t-SNE."""
    n_comp = min(pca_components, x.shape[1], len(x))
    x = PCA(n_components=n_comp, random_state=seed).fit_transform(x) if x.shape[1] > n_comp else x
    if implementation == "opentsne":
        return np.asarray(OpenTSNE(perplexity=perplexity, random_state=seed, n_jobs=2, verbose=False).fit(x))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, n_jobs=2).fit_transform(x)


def knn_accuracy(points: np.ndarray, labels: np.ndarray, k: int, seed: int) -> float:
    """Fit k-NN on a random half of the map, score on the other half."""
    order = np.random.default_rng(seed).permutation(len(points))
    half = len(points) // 2
    fit, held = order[:half], order[half:]
    clf = KNeighborsClassifier(n_neighbors=min(k, half)).fit(points[fit], labels[fit])
    return float(clf.score(points[held], labels[held]))


def score_map(high: np.ndarray, points: np.ndarray, labels: np.ndarray, k: int, seed: int) -> dict[str, float]:
    return {
        "knn_accuracy": knn_accuracy(points, labels, k, seed),
        "trustworthiness": float(trustworthiness(high, points, n_neighbors=k)),
    }


def run(params: Params, paths: Paths) -> dict:
    """Maps of the final MLP's embedding (a perplexity sweep, against the raw input, and the pairs of one sum),
    and, with a sumnet, of its encoder's digit embedding coloured by the hidden digit labels."""
    data_dir, model_path, sumnet_path = paths.data, paths.model, paths.sumnet
    plots_dir, metrics_path, summary_path = paths.plots, paths.metrics, paths.summary
    p, seed = params.tsne, params.base.seed
    test = load_split(data_dir, "test")
    n = min(p.sample_size, len(test))
    too_big = [q for q in (*p.perplexities, p.pair_perplexity) if q >= (n - 1) / 3]
    if too_big:
        raise InputError(
            f"params.yaml: tsne perplexities {too_big} too large for {n} points (need < {(n - 1) / 3:.0f})"
        )
    sample = test.take(np.sort(np.random.default_rng(seed).choice(len(test), n, replace=False)))
    for path, stage in ((model_path, "final"), (sumnet_path, "sumnet")):
        if path is not None and not path.is_file():
            raise InputError(f"{path}: {stage} model not found (run: dvc repro {stage})")
    raw = sample.flat()
    emb = next(iter(models.embeddings(models.load(model_path), sample).values())).points
    labels = sample.y.astype(int)
    extra = models.embeddings(models.load(sumnet_path), sample) if sumnet_path else {}

    # The input map uses the middle perplexity; the sweep (and the pair figure) concern the embedding.
    jobs = [("input", raw, p.pair_perplexity, labels, "sum")]
    jobs += [(f"embedding p={q:g}", emb, q, labels, "sum") for q in p.perplexities]
    if p.pair_perplexity not in p.perplexities:
        jobs.append((f"embedding p={p.pair_perplexity:g}", emb, p.pair_perplexity, labels, "sum"))
    jobs += [(f"sumnet {name}", e.points, p.pair_perplexity, e.labels, e.label_name) for name, e in extra.items()]
    maps, scores, paths = {}, {}, []
    started = time.perf_counter()
    # Which supervision each mapped embedding was learned under (the pixels' map learned nothing).
    regimes = {"input": None, "embedding": params.final.regime, "sumnet": params.sumnet.regime}
    with tracking.start_run(
        "tsne",
        "tsne",
        stage="tsne",
        params={"tsne": p.model_dump(), "seed": seed, "model": str(model_path)},
        regime=",".join(sorted({r for space, r in regimes.items() if r and (sumnet_path or space != "sumnet")})),
    ) as parent:
        tracking.log_datasets(
            parent.info.run_id,
            tracking.pair_inputs(
                data_dir,
                split_ids(data_dir),
                {"test": (sample.x, sample.y)},
                {"test": f"{n} seed {seed}"} if n < len(test) else None,
            ),
        )
        for i, (name, high, perplexity, colour_by, label_name) in enumerate(jobs):
            t0 = time.perf_counter()
            pts = tsne_2d(high, perplexity, seed, p.pca_components, p.implementation)
            seconds = time.perf_counter() - t0
            maps[name] = pts
            scores[name] = score_map(high, pts, colour_by, p.knn_k, seed) | {"seconds": seconds}
            slug = name.replace(" ", "_").replace("=", "")
            path = plots_dir / f"tsne_{slug}.png"
            what = (
                f"{len(high)} digits of {n} test pairs, coloured by the hidden digit label"
                if label_name == "digit"
                else f"{n} test pairs, coloured by sum"
            )
            save_figure(figures.tsne_map(pts, colour_by, f"t-SNE of the {name} ({what})", label_name), path)
            paths.append(path)
            with tracking.start_run(
                "tsne",
                name,
                stage="tsne",
                parent_run_id=parent.info.run_id,
                params={
                    "space": name.split()[0],
                    "perplexity": perplexity,
                    "n_points": len(high),
                    "coloured_by": label_name,
                    "implementation": p.implementation,
                },
                regime=regimes[name.split()[0]],
            ) as child:
                tracking.log_metrics(child.info.run_id, scores[name])
                tracking.log_files(child.info.run_id, [path])
            print(
                f"tsne: map {i + 1}/{len(jobs)} {name}: knn {scores[name]['knn_accuracy']:.3f} "
                f"trust {scores[name]['trustworthiness']:.3f} ({seconds:.1f}s)",
                flush=True,
            )
        sweep = {
            k: v for k, v in maps.items() if k.startswith("embedding") and float(k.split("=")[1]) in p.perplexities
        }
        grid_path = plots_dir / "tsne_perplexity_sweep.png"
        save_figure(figures.tsne_grid(sweep, labels, "Embedding t-SNE across perplexities"), grid_path)
        pair_path = plots_dir / f"tsne_pairs_sum{p.pair_sum}.png"
        save_figure(
            figures.pair_map(
                maps[f"embedding p={p.pair_perplexity:g}"],
                labels,
                sample.top_label,
                sample.bottom_label,
                p.pair_sum,
                f"Embedding t-SNE (p={p.pair_perplexity:g}): pairs summing to {p.pair_sum}",
            ),
            pair_path,
        )
        pair_stats = pair_separation(
            maps[f"embedding p={p.pair_perplexity:g}"],
            labels,
            sample.top_label,
            sample.bottom_label,
            p.pair_sum,
            p.knn_k,
            seed,
        )
        tracking.log_files(parent.info.run_id, [grid_path, pair_path])
        tracking.log_metrics(
            parent.info.run_id,
            {
                "seconds": time.perf_counter() - started,
                f"pair_knn_accuracy_sum{p.pair_sum}": pair_stats["knn_accuracy"],
                f"pair_chance_sum{p.pair_sum}": pair_stats["chance"],
            },
        )
    result = {
        "maps": scores,
        "pair_separation": pair_stats,
        "n_points": n,
        "run_id": parent.info.run_id,
        "seconds": time.perf_counter() - started,
    }
    write_json(summary_path, result)
    headline = {
        "embedding_knn_accuracy": scores[f"embedding p={p.pair_perplexity:g}"]["knn_accuracy"],
        "input_knn_accuracy": scores["input"]["knn_accuracy"],
    }
    if "sumnet digit embedding" in scores:
        headline["sumnet_digit_knn_accuracy"] = scores["sumnet digit embedding"]["knn_accuracy"]
    write_metrics(
        metrics_path,
        None,
        None,
        **headline,
        regime={"embedding": params.final.regime} | ({"sumnet": params.sumnet.regime} if sumnet_path else {}),
    )
    return result


def pair_separation(
    points: np.ndarray, labels: np.ndarray, top: np.ndarray, bottom: np.ndarray, target: int, k: int, seed: int
) -> dict[str, float]:
    """Among points of one sum, how well the 2-D map tells apart the digit pairs that make it:
    k-NN accuracy of the (top, bottom) pair, against the majority-pair rate (chance)."""
    sel = labels == target
    if sel.sum() < 4:
        return {"knn_accuracy": float("nan"), "chance": float("nan"), "n": int(sel.sum())}
    pair = top[sel].astype(int) * 10 + bottom[sel].astype(int)
    return {
        "knn_accuracy": knn_accuracy(points[sel], pair, k, seed),
        "chance": float(np.bincount(pair).max() / len(pair)),
        "n": int(sel.sum()),
    }
