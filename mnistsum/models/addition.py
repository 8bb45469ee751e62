"""Multi-digit addition from the sum alone: the exact probability of an observed sum of two N-digit numbers, from
the per-position digit distributions of both numbers, through the carry.

A + B = S with A = a_{N-1}..a_0 and B = b_{N-1}..b_0 read digit by digit, S = s_N..s_0 (s_N the final carry, 0 or
1). Position k (least significant first) turns a carry c in {0, 1} into the next: a_k + b_k + c = s_k + 10 c'.
So with q_k(t) = P(a_k + b_k = t) (the N=1 convolution, mnistsum.models.served.SUM_MASK):

    alpha_0 = [1, 0];  alpha_{k+1}(c') = sum over c of alpha_k(c) q_k(s_k + 10 c' - c);  P(S) = alpha_N(s_N)

two states per position, linear in N, no approximation. Everything is in log space (log q_k by logsumexp over
the digit pairs, alpha by logsumexp over the carry), so the probability of a 101-digit sum stays finite where
its value underflows float32. Written in keras.ops so a network trains through it; N=1 is exactly the
sumnet's convolution (tests/models/test_addition.py checks it, and brute force for N <= 3)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mnistsum.models.served import SUM_MASK

NEG = -1e30  # log 0, finite: a sum no digit pair reaches gets no probability, and no NaN gradient


def sum_digits(totals: Any, n_digits: int) -> np.ndarray:
    """Integer sums (Python ints: a 101-digit sum exceeds int64) as (m, N+1) digits, least significant first."""
    out = np.zeros((len(totals), n_digits + 1), np.int32)
    for row, total in enumerate(totals):
        total = int(total)
        if not 0 <= total <= 2 * (10**n_digits - 1):
            raise ValueError(f"sum {total} is not the sum of two {n_digits}-digit numbers")
        for k in range(n_digits + 1):
            total, out[row, k] = divmod(total, 10)
    return out


def pair_log_sum(log_a: Any, log_b: Any) -> Any:
    """log P(a + b = t), t = 0..18, from two (..., 10) digit log-distributions: (..., 19)."""
    import keras  # deferred: the data side of this module must not import TensorFlow

    ops = keras.ops
    joint = log_a[..., :, None] + log_b[..., None, :]  # (..., 10, 10)
    mask = ops.convert_to_tensor(SUM_MASK, dtype=joint.dtype)  # (10, 10, 19), 1 where i + j = t
    masked = ops.where(mask > 0, joint[..., None], ops.cast(NEG, joint.dtype))  # (..., 10, 10, 19)
    return ops.logsumexp(ops.reshape(masked, (*ops.shape(masked)[:-3], 100, 19)), axis=-2)


def _log_at(q: Any, t: Any) -> Any:
    """log q(t) for each row of q (m, 19), t (m,) int32; log 0 where t is outside 0..18."""
    import keras  # deferred, as above

    ops = keras.ops
    picked = ops.take_along_axis(q, ops.expand_dims(ops.clip(t, 0, 18), -1), axis=-1)[:, 0]
    return ops.where((t >= 0) & (t <= 18), picked, ops.cast(NEG, q.dtype))


def _least_first_log(y_pred: Any) -> Any:
    """A loss's (m, 2, N, 10) digit probabilities, most significant first as the image reads, as log-probabilities
    least significant first, as the recursions take them."""
    import keras  # deferred, as above

    ops = keras.ops
    return ops.flip(ops.log(ops.clip(y_pred, 1e-12, 1.0)), axis=2)


def log_sum_probability(log_a: Any, log_b: Any, digits: Any) -> Any:
    """log P(A + B = S) for each row: log_a and log_b (m, N, 10) digit log-distributions, least significant
    position first; digits (m, N+1) the sum's digits, least significant first. Returns (m,)."""
    import keras  # deferred, as above

    ops = keras.ops
    n = log_a.shape[1]
    log_q = pair_log_sum(log_a, log_b)  # (m, N, 19)
    dtype = log_q.dtype
    digits = ops.cast(digits, "int32")
    # Start with no carry: log alpha_0 = [0, -inf].
    alpha = ops.stack([ops.zeros_like(log_q[:, 0, 0]), ops.full_like(log_q[:, 0, 0], NEG)], axis=-1)
    neg = ops.cast(NEG, dtype)
    for k in range(n):
        s = digits[:, k]
        q = log_q[:, k, :]
        next_carry = []
        for c_out in (0, 1):
            terms = ops.stack([alpha[:, c_in] + _log_at(q, s + 10 * c_out - c_in) for c_in in (0, 1)], axis=-1)
            next_carry.append(ops.logsumexp(terms, axis=-1))
        alpha = ops.stack(next_carry, axis=-1)
    final = digits[:, n]
    return ops.where(final == 0, alpha[:, 0], ops.where(final == 1, alpha[:, 1], neg))


def carry_loss(y_true: Any, y_pred: Any) -> Any:
    """The negative log-likelihood of the observed sums (a Keras loss): y_true (m, N+1) the sums' digits, least
    significant first (sum_digits); y_pred (m, 2, N, 10) the two numbers' digit probabilities, most significant
    first (as the image reads)."""
    log_p = _least_first_log(y_pred)
    return -log_sum_probability(log_p[:, 0], log_p[:, 1], y_true)


def decode(p_a: np.ndarray, p_b: np.ndarray) -> list[int]:
    """The predicted sums: each position's most probable digit, both numbers read and added (exact integers).
    p_a, p_b: (m, N, 10), least significant position first."""
    weights = [10**k for k in range(p_a.shape[1])]
    a, b = p_a.argmax(-1), p_b.argmax(-1)
    return [
        sum(int(d) * w for d, w in zip(ra, weights)) + sum(int(d) * w for d, w in zip(rb, weights))
        for ra, rb in zip(a, b)
    ]


def digit_prior_gap(y_pred: Any) -> Any:
    """KL(the batch's mean digit distribution || uniform): 0 when the encoder reads every digit equally often, as
    MNIST's digits nearly are, log 10 when it reads one digit everywhere. No label enters: it is the prior that
    breaks an encoder that keeps the sums with a few digits read as others (1, 2, 3, 4, 3, 4, 7, 8, 9, 8 for
    0-9, measured at N = 2), which never reads 0, 5 or 6."""
    import keras  # deferred, as above

    ops = keras.ops
    mean = ops.mean(ops.reshape(y_pred, (-1, 10)), axis=0)
    return ops.log(ops.cast(10.0, mean.dtype)) + ops.sum(mean * ops.log(ops.clip(mean, 1e-12, 1.0)))


def lead_log_probability(log_a: Any, log_b: Any, digits: Any) -> Any:
    """log P(the sum's two leading digits s_N s_{N-1}) for each row, the lower positions' digits unobserved: their
    carry into the leading position is summed over (the same two-state recursion, each position's carry-out
    probability P(a_k + b_k + c >= 10)). Arguments as log_sum_probability's; N=1 is log_sum_probability itself.
    This label is the leading position's N=1 sum up to its carry, so no reading that keeps only the sums' last
    digits (each digit read as d + 5 mod 10 keeps every sum mod 10) scores well on it. Returns (m,)."""
    import keras  # deferred, as above

    ops = keras.ops
    n = log_a.shape[1]
    log_q = pair_log_sum(log_a, log_b)  # (m, N, 19)
    digits = ops.cast(digits, "int32")
    alpha = ops.stack([ops.zeros_like(log_q[:, 0, 0]), ops.full_like(log_q[:, 0, 0], NEG)], axis=-1)
    for k in range(n - 1):
        q = log_q[:, k, :]
        # carry c in: the position carries out when a_k + b_k >= 10 - c
        stay = [ops.logsumexp(q[:, : 10 - c], axis=-1) for c in (0, 1)]
        carry = [ops.logsumexp(q[:, 10 - c :], axis=-1) for c in (0, 1)]
        alpha = ops.stack(
            [
                ops.logsumexp(ops.stack([alpha[:, 0] + stay[0], alpha[:, 1] + stay[1]], -1), axis=-1),
                ops.logsumexp(ops.stack([alpha[:, 0] + carry[0], alpha[:, 1] + carry[1]], -1), axis=-1),
            ],
            axis=-1,
        )
    lead = 10 * digits[:, n] + digits[:, n - 1]  # the leading position's sum with its carry in, 0..19
    q = log_q[:, n - 1, :]
    terms = []
    for c_in in (0, 1):
        terms.append(alpha[:, c_in] + _log_at(q, lead - c_in))
    return ops.logsumexp(ops.stack(terms, axis=-1), axis=-1)


def lead_loss(y_true: Any, y_pred: Any) -> Any:
    """The negative log-likelihood of the sums' two leading digits alone (lead_log_probability), arguments as
    carry_loss's."""
    log_p = _least_first_log(y_pred)
    return -lead_log_probability(log_p[:, 0], log_p[:, 1], y_true)


def numbers_loss(prior: float = 0.0, lead: float = 0.0):
    """carry_loss plus `prior` x digit_prior_gap of the batch plus `lead` x lead_loss (a Keras loss); both 0 is
    carry_loss itself. Every term is maximised by the true reading; the extra two only shape the way there."""
    if prior == 0 and lead == 0:
        return carry_loss

    def loss(y_true: Any, y_pred: Any) -> Any:
        total = carry_loss(y_true, y_pred)
        if prior:
            total = total + prior * digit_prior_gap(y_pred)
        if lead:
            total = total + lead * lead_loss(y_true, y_pred)
        return total

    return loss
