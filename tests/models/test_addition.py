"""The exact carry recursion of multi-digit addition against brute force, and N=1 against the sumnet's
convolution."""

import itertools

import keras
import numpy as np
import pytest

from mnistsum.models.addition import (
    carry_loss,
    decode,
    digit_prior_gap,
    lead_log_probability,
    lead_loss,
    log_sum_probability,
    numbers_loss,
    sum_digits,
)
from mnistsum.models.served import sum_distribution


def _random_digits(rng, m, n):
    p = rng.dirichlet(np.full(10, 0.3), size=(m, n))
    return p.astype(np.float64)


def _brute_force(p_a: np.ndarray, p_b: np.ndarray) -> np.ndarray:
    """P(A + B = s) for every s, enumerating every pair of N-digit numbers (one row)."""
    n = p_a.shape[0]
    sums = np.zeros(2 * 10**n - 1)
    numbers = list(itertools.product(range(10), repeat=n))  # least significant digit first
    prob_a = np.array([np.prod([p_a[k, d] for k, d in enumerate(ds)]) for ds in numbers])
    prob_b = np.array([np.prod([p_b[k, d] for k, d in enumerate(ds)]) for ds in numbers])
    values = np.array([sum(d * 10**k for k, d in enumerate(ds)) for ds in numbers])
    np.add.at(sums, (values[:, None] + values[None, :]).ravel(), np.outer(prob_a, prob_b).ravel())
    return sums


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_recursion_is_brute_force(n):
    rng = np.random.default_rng(n)
    p_a, p_b = _random_digits(rng, 2, n), _random_digits(rng, 2, n)
    for row in range(2):
        expected = _brute_force(p_a[row], p_b[row])
        every_sum = np.arange(2 * 10**n - 1)
        m = len(every_sum)
        got = np.exp(
            keras.ops.convert_to_numpy(
                log_sum_probability(
                    np.log(np.repeat(p_a[row : row + 1], m, 0)),
                    np.log(np.repeat(p_b[row : row + 1], m, 0)),
                    sum_digits(every_sum, n),
                )
            )
        )
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
        assert abs(got.sum() - 1) < 1e-9


def test_one_digit_is_the_sumnets_convolution():
    rng = np.random.default_rng(7)
    p_a, p_b = _random_digits(rng, 50, 1), _random_digits(rng, 50, 1)
    conv = keras.ops.convert_to_numpy(sum_distribution(p_a[:, 0], p_b[:, 0]))
    for s in range(19):
        got = keras.ops.convert_to_numpy(log_sum_probability(np.log(p_a), np.log(p_b), sum_digits([s] * 50, 1)))
        np.testing.assert_allclose(np.exp(got), conv[:, s], rtol=1e-9)


def test_a_hundred_digits_stay_finite_with_finite_gradients():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    n = 100
    logits = tf.Variable(rng.normal(size=(4, 2, n, 10)).astype(np.float32))
    totals = [int("".join(map(str, rng.integers(0, 10, n)))) * 2 for _ in range(4)]
    with tf.GradientTape() as tape:
        log_p = tf.nn.log_softmax(logits, axis=-1)
        loss = -tf.reduce_mean(log_sum_probability(log_p[:, 0], log_p[:, 1], sum_digits(totals, n)))
    grad = tape.gradient(loss, logits)
    assert np.isfinite(loss.numpy()) and loss.numpy() > 100  # far below float32's smallest probability
    assert np.all(np.isfinite(grad.numpy()))


def test_sums_are_read_and_decoded_exactly():
    assert sum_digits([0, 1998, 1009], 3).tolist() == [[0, 0, 0, 0], [8, 9, 9, 1], [9, 0, 0, 1]]
    with pytest.raises(ValueError, match="not the sum of two 1-digit numbers"):
        sum_digits([19], 1)
    big = 10**100 - 1  # a 100-digit number of nines, twice: beyond int64, exact
    nines = np.zeros((1, 100, 10))
    nines[:, :, 9] = 1
    assert decode(nines, nines) == [2 * big]
    assert sum_digits([2 * big], 100)[0, -1] == 1


def test_the_digit_prior_is_zero_for_uniform_digits_and_log10_for_one_digit():
    """The prior's gap (no label enters it): 0 where the batch reads every digit equally often, log 10 where it
    reads one digit everywhere, between for a sum-keeping misreading that never reads 0, 5 or 6; the loss with
    weight 0 is carry_loss itself, and with a weight, carry_loss plus that much of the gap."""
    uniform = np.full((4, 2, 3, 10), 0.1, np.float32)
    one = np.zeros((4, 2, 3, 10), np.float32)
    one[..., 7] = 1
    misread = np.zeros((10, 10), np.float32)
    misread[np.arange(10), [1, 2, 3, 4, 3, 4, 7, 8, 9, 8]] = 1
    assert abs(float(digit_prior_gap(uniform))) < 1e-6
    assert float(digit_prior_gap(one)) == pytest.approx(np.log(10), abs=1e-5)
    assert 0.1 < float(digit_prior_gap(misread.reshape(1, 2, 5, 10))) < np.log(10)
    assert numbers_loss(0.0, 0.0) is carry_loss
    y_true = sum_digits([123 + 456, 999 + 1, 0, 5], 3)
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=(4, 2, 3)).astype(np.float32)
    with_prior = np.asarray(numbers_loss(prior=0.5)(y_true, p))
    assert np.allclose(with_prior, np.asarray(carry_loss(y_true, p)) + 0.5 * float(digit_prior_gap(p)), atol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_leading_digits_probability_is_brute_force(n):
    """P(the sum's two leading digits) sums brute force's P(S) over every S with those leading digits; at N=1 it is
    the whole sum's probability."""
    rng = np.random.default_rng(10 + n)
    p_a, p_b = _random_digits(rng, 1, n), _random_digits(rng, 1, n)
    every_sum = np.arange(2 * 10**n - 1)
    expected = np.bincount(every_sum // 10 ** (n - 1), weights=_brute_force(p_a[0], p_b[0]))
    m = len(every_sum)
    got = np.exp(
        keras.ops.convert_to_numpy(
            lead_log_probability(np.log(np.repeat(p_a, m, 0)), np.log(np.repeat(p_b, m, 0)), sum_digits(every_sum, n))
        )
    )
    np.testing.assert_allclose(got, expected[every_sum // 10 ** (n - 1)], rtol=1e-9, atol=1e-12)
    if n == 1:
        whole = log_sum_probability(np.log(p_a.repeat(m, 0)), np.log(p_b.repeat(m, 0)), sum_digits(every_sum, 1))
        np.testing.assert_allclose(got, np.exp(keras.ops.convert_to_numpy(whole)), rtol=1e-9)


def test_the_leading_digits_refuse_the_reading_that_keeps_sums_mod_ten():
    """Reading every digit as d + 5 mod 10 keeps each position's sum mod 10, so the last digit of every sum; it
    costs the full likelihood little on the sums it keeps, but the leading digits' likelihood punishes it on most
    examples, and the combined loss adds exactly the weighted term."""
    rng = np.random.default_rng(3)
    n, m = 4, 400
    a, b = rng.integers(0, 10, (m, n)), rng.integers(0, 10, (m, n))  # most significant first
    totals = [int("".join(map(str, ra))) + int("".join(map(str, rb))) for ra, rb in zip(a, b)]
    y_true = sum_digits(totals, n)

    def reading(shift):
        p = np.full((m, 2, n, 10), 0.01 / 9, np.float32)
        for row, number in enumerate((a, b)):
            p[np.arange(m)[:, None], row, np.arange(n)[None, :], (number + shift) % 10] = 0.99
        return p

    right, shifted = reading(0), reading(5)
    assert float(np.mean(lead_loss(y_true, right))) < 0.1
    assert float(np.mean(lead_loss(y_true, shifted))) > 2.0
    both = np.asarray(numbers_loss(lead=0.5)(y_true, shifted))
    assert np.allclose(
        both, np.asarray(carry_loss(y_true, shifted)) + 0.5 * np.asarray(lead_loss(y_true, shifted)), atol=1e-4
    )
