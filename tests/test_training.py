import keras
import numpy as np
import pytest
import recording_family
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

from mnistsum.data.feed import Arrays, FreshPairs, training_arrays
from mnistsum.models.specs import MlpSpec
from mnistsum.stages.learning_curve import SmallBudget, fit_at_size
from mnistsum.training import EVAL_BATCH, predict_proba, train


def test_same_seed_same_weights(tiny_splits, test_seed):
    data = Arrays.from_pairs(tiny_splits["train"], tiny_splits["val"], tiny_splits["test"])
    cfg = MlpSpec(units=(32, 16), dropout=0.1, batch_norm=True)
    a, b = (train(cfg, data, epochs=2, batch_size=64, seed=test_seed, regime="digits").model for _ in range(2))
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    c = train(cfg, data, epochs=2, batch_size=64, seed=test_seed + 1, regime="digits").model
    assert not all(np.array_equal(x, y) for x, y in zip(a.get_weights(), c.get_weights()))


def test_fresh_pairs_reuse_only_training_digits(tiny_splits):
    train = tiny_splits["train"]
    fresh = FreshPairs(train, batch_size=300, seed=0)
    batches = [(x.numpy(), y.numpy()) for x, y in fresh.dataset(epochs=2)]
    assert len(fresh) == 3 and [len(y) for _, y in batches].count(200) == 2  # 800 pairs: 300, 300, 200 an epoch
    epochs = [np.concatenate([x for x, _ in batches[i : i + 3]]) for i in (0, 3)]
    labels = [np.concatenate([y for _, y in batches[i : i + 3]]) for i in (0, 3)]
    assert all(x.shape == (800, 56, 28) for x in epochs) and not np.array_equal(*epochs)
    known = {
        img.tobytes(): lab
        for img, lab in zip(np.concatenate(train.digits()), np.concatenate([train.top_label, train.bottom_label]))
    }
    assert epochs[0].dtype == np.uint8  # raw pixels: every family scales inside its graph
    for x, y in zip(epochs, labels):
        for (top, bottom), label in zip(x.reshape(-1, 2, 28, 28), y):
            assert known[top.tobytes()] + known[bottom.tobytes()] == label


def test_fresh_pairs_feed_each_epoch_its_own_draw(tiny_splits):
    """The tf.data feed trains on exactly the pairs `draw` gives, one draw per epoch, its batches in order."""
    fresh = FreshPairs(tiny_splits["train"], batch_size=300, seed=5)
    batches = [(x.numpy(), y.numpy()) for x, y in fresh.dataset(epochs=2)]
    replay = FreshPairs(tiny_splits["train"], batch_size=300, seed=5)
    # Each epoch's pairs as `draw` defines them, gathered in numpy: the reference the tf.data feed must match.
    for epoch, (top, bottom) in enumerate(replay.draw() for _ in range(2)):
        x = np.concatenate([replay.images[top], replay.images[bottom]], axis=1)
        y = replay.labels[top] + replay.labels[bottom]
        for step, (bx, by) in enumerate(batches[3 * epoch : 3 * epoch + 3]):
            assert np.array_equal(bx, x[300 * step : 300 * step + 300])
            assert np.array_equal(by, y[300 * step : 300 * step + 300])


def test_every_feed_runs_without_the_tf_data_autotuner(tiny_splits):
    """Keras's pipelines from arrays (fit, validation, evaluate, predict) and the fresh-pairs feed alike: with the
    autotuner on, deleting an iterator stalled for about as long as it had run."""
    train = tiny_splits["train"]
    for shuffle in (True, False):
        adapter = ArrayDataAdapter(train.x, train.y, batch_size=128, shuffle=shuffle)
        assert adapter.get_tf_dataset().options().autotune.enabled is False
    assert FreshPairs(train, batch_size=300, seed=0).dataset(epochs=1).options().autotune.enabled is False


def test_without_the_autotuner_training_gives_the_same_weights(tiny_splits, test_seed, monkeypatch):
    """Only the pipelines' tuning changes: the same batches in the same order, so the same network as Keras's own
    pipeline trains."""
    data = Arrays.sums_only(tiny_splits["train"], tiny_splits["val"], tiny_splits["test"])
    cfg = MlpSpec(units=(32, 16), dropout=0.1, batch_norm=True)
    ours = train(cfg, data, epochs=2, batch_size=64, seed=test_seed).model
    monkeypatch.setattr(ArrayDataAdapter, "get_tf_dataset", ArrayDataAdapter.get_tf_dataset.__wrapped__)
    assert (
        ArrayDataAdapter(data.x_train, data.y_train, batch_size=64).get_tf_dataset().options().autotune.enabled
        is not False
    )
    stock = train(cfg, data, epochs=2, batch_size=64, seed=test_seed).model
    assert all(np.array_equal(x, y) for x, y in zip(ours.get_weights(), stock.get_weights()))


class ValidationSteps(keras.callbacks.Callback):
    """Counts the batches fit validates in (the per-epoch test score is an evaluate of its own, not counted)."""

    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_test_batch_end(self, batch, logs=None):
        self.steps += 1


@pytest.mark.parametrize("regime", ["sums", "digits"])
def test_validation_runs_in_batches_of_eval_batch_rows_with_the_same_accuracy(tiny_splits, test_seed, regime):
    """Keras validates at the fit's batch size (32 when fit takes a dataset, as in `digits`): a step's overhead
    every 32 rows. Here the 200 validation pairs are one batch an epoch, and the accuracy is what any batch gives."""
    data = training_arrays(tiny_splits, regime)
    assert len(data.y_val) <= EVAL_BATCH
    counted = ValidationSteps()
    cfg = MlpSpec(units=(32, 16), dropout=0.1, batch_norm=True)
    result = train(cfg, data, epochs=2, batch_size=64, seed=test_seed, regime=regime, callbacks=[counted])
    assert counted.steps == 2
    _, small_batches = result.model.evaluate(data.x_val, data.y_val, batch_size=32, verbose=0)
    assert result.history["val_accuracy"][-1] == pytest.approx(small_batches, abs=1e-9)


@pytest.fixture
def recorded():
    """Every batch a `recording` network trains on."""
    recording_family.register()
    recording_family.BATCHES.clear()
    yield recording_family.BATCHES
    recording_family.unregister()


def _trained_on(batches, pairs):
    """How many trained pairs are pairs of the file (with its sum label), and how many are new combinations;
    every half must be one of the file's digits either way."""
    given = {x.tobytes(): y for x, y in zip(pairs.x, pairs.y)}
    digits = {d.tobytes() for d in np.concatenate(pairs.digits())}
    seen = new = 0
    for x, y in batches:
        for pair, label in zip(x.astype(np.uint8), y):
            assert pair[:28].tobytes() in digits and pair[28:].tobytes() in digits
            if pair.tobytes() in given:
                assert given[pair.tobytes()] == label
                seen += 1
            else:
                new += 1
    return seen, new


def test_sums_trains_on_the_given_pairs_only_and_digits_on_new_combinations(recorded, tiny_splits, test_seed):
    spec = recording_family.RecordingSpec()
    train_pairs = tiny_splits["train"]
    train(spec, training_arrays(tiny_splits, "sums"), epochs=2, batch_size=100, seed=test_seed, regime="sums")
    seen, new = _trained_on(recorded, train_pairs)
    assert (seen, new) == (2 * len(train_pairs), 0)  # every batch of both epochs: pairs of the file, nothing new

    recorded.clear()
    train(spec, training_arrays(tiny_splits, "digits"), epochs=2, batch_size=100, seed=test_seed, regime="digits")
    seen, new = _trained_on(recorded, train_pairs)
    assert seen + new == 2 * len(train_pairs) and new > 0.9 * (seen + new)  # fresh combinations of its digits


def test_the_learning_curve_budget_trains_a_subset_in_its_regime(recorded, tiny_splits, test_seed):
    spec = recording_family.RecordingSpec()
    budget = SmallBudget(min_steps=4, max_epochs=2, val_size=50, patience=2)
    subset = tiny_splits["train"].head(200)
    out = fit_at_size(spec, tiny_splits, 200, budget, 100, test_seed, None, "test", regime="sums")
    assert out["regime"] == "sums" and _trained_on(recorded, subset) == (2 * 200, 0)
    recorded.clear()
    out = fit_at_size(spec, tiny_splits, 200, budget, 100, test_seed, None, "test", regime="digits")
    seen, new = _trained_on(recorded, subset)  # only the subset's own digits, newly paired
    assert out["regime"] == "digits" and seen + new == 400 and new > 0


def test_an_unknown_regime_is_refused(tiny_splits):
    with pytest.raises(ValueError, match="unknown training regime 'fresh'; expected one of sums, digits"):
        training_arrays(tiny_splits, "fresh")


def test_bfloat16_trains_with_float32_heads_and_leaves_float32_as_it_was(tiny_splits, test_seed):
    """Mixed precision where it is asked for (the params allow it only on a CPU that has it; here called
    directly): the probabilities stay float32 and sum to 1, and the next float32 training is bit-identical to
    one that never followed it."""
    data = Arrays.from_pairs(tiny_splits["train"], tiny_splits["val"], tiny_splits["test"])
    cfg = MlpSpec(units=(32,), batch_norm=True)
    before = train(cfg, data, epochs=1, batch_size=64, seed=test_seed).model
    mixed = train(cfg, data, epochs=1, batch_size=64, seed=test_seed, precision="bfloat16").model
    assert mixed.layers[1].dtype_policy.name == "mixed_bfloat16" and mixed.get_layer("sum").compute_dtype == "float32"
    proba = predict_proba(mixed, tiny_splits["test"].x)
    assert proba.dtype == np.float32 and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    after = train(cfg, data, epochs=1, batch_size=64, seed=test_seed).model
    assert after.layers[1].dtype_policy.name == "float32"
    assert all(np.array_equal(x, y) for x, y in zip(before.get_weights(), after.get_weights()))
