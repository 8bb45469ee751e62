import numpy as np

from mnistsum import models
from mnistsum.data.feed import Arrays
from mnistsum.models.specs import MlpSpec
from mnistsum.stages.tsne import knn_accuracy, score_map, tsne_2d
from mnistsum.training import train


def test_knn_accuracy_separates_clusters_from_noise():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    clustered = rng.normal(size=(200, 2)) * 0.1 + labels[:, None] * 5
    assert knn_accuracy(clustered, labels, 5, 0) == 1.0
    assert knn_accuracy(rng.normal(size=(200, 2)), labels, 5, 0) < 0.5


def test_embedding_map_beats_input_map(mnist, test_seed):
    """Budget and margin hold for every seed tried (MNISTSUM_TEST_SEED=1..5 and 42), not just one machine's luck."""
    from mnistsum.data.pairs import build_dataset

    splits = build_dataset(mnist, 10000, 400, 0.2, seed=test_seed)
    data = Arrays.from_pairs(splits["train"], splits["val"], splits["test"])
    model = train(
        MlpSpec(units=(256, 64), batch_norm=True), data, epochs=8, batch_size=128, seed=test_seed, regime="digits"
    ).model
    raw = splits["test"].flat()
    emb = models.embeddings(model, splits["test"])["embedding"].points
    labels = splits["test"].y.astype(int)
    scores = {
        name: score_map(high, tsne_2d(high, 20, test_seed, 50, "sklearn"), labels, 5, test_seed)
        for name, high in (("input", raw), ("embedding", emb))
    }
    print("knn", test_seed, scores["input"]["knn_accuracy"], scores["embedding"]["knn_accuracy"])
    assert scores["embedding"]["knn_accuracy"] > scores["input"]["knn_accuracy"] + 0.05
    assert 0 < scores["input"]["trustworthiness"] <= 1
