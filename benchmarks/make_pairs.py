"""Vectorised pair generation against the report's per-sample loop, on the full 60,000 pairs.

Run: .venv/bin/python benchmarks/make_pairs.py
"""

import time

import numpy as np

from mnistsum.data.mnist import load_mnist
from mnistsum.data.pairs import make_pairs, make_pairs_loop


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    mnist = load_mnist()
    n = len(mnist.y_train)
    fast = best_of(lambda: make_pairs(mnist.x_train, mnist.y_train, n, np.random.default_rng(42)), 5)
    slow = best_of(lambda: make_pairs_loop(mnist.x_train, mnist.y_train, n, np.random.default_rng(42)), 2)
    print(f"{n} pairs: vectorised {fast:.3f}s, per-sample loop {slow:.3f}s, ratio {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
