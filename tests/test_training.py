import numpy as np

from mnistsum.models.specs import MlpSpec
from mnistsum.training import Arrays, FreshPairs, train


def test_same_seed_same_weights(tiny_splits, test_seed):
    data = Arrays.from_pairs(tiny_splits["train"], tiny_splits["val"], tiny_splits["test"])
    cfg = MlpSpec(units=(32, 16), dropout=0.1, batch_norm=True)
    a, b = (train(cfg, data, epochs=2, batch_size=64, seed=test_seed, resample=True).model for _ in range(2))
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    c = train(cfg, data, epochs=2, batch_size=64, seed=test_seed + 1, resample=True).model
    assert not all(np.array_equal(x, y) for x, y in zip(a.get_weights(), c.get_weights()))


def test_fresh_pairs_reuse_only_training_digits(tiny_splits):
    train = tiny_splits["train"]
    fresh = FreshPairs(train, batch_size=100, seed=0)
    first_x, first_y = fresh.x.copy(), fresh.y.copy()
    fresh.on_epoch_end()
    assert len(fresh) == 8 and fresh.x.shape == (800, 56, 28) and not np.array_equal(first_x, fresh.x)
    known = {
        img.tobytes(): lab
        for img, lab in zip(np.concatenate(train.digits()), np.concatenate([train.top_label, train.bottom_label]))
    }
    assert fresh.x.dtype == np.uint8  # raw pixels: every family scales inside its graph
    halves = fresh.x.reshape(-1, 2, 28, 28)
    pixels = halves
    for (top, bottom), y in zip(pixels[:50], fresh.y[:50]):
        assert known[top.tobytes()] + known[bottom.tobytes()] == y
    assert first_y.max() <= 18
