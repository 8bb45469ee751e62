"""Independent trainings on this machine's cores, several at once (`base.local_workers`).

One small network cannot keep two cores busy (benchmarks/throughput.py: a sumnet trains about 1.4x faster on two
threads than on one), so where a stage has trainings that do not depend on each other (the learning curve's
points), `local_workers` processes each run one on their share of the cores. Each training is seeded on its
own, so its numbers do not depend on which process runs it or when; they do depend on its thread count, so a
run is reproduced exactly with the same `local_workers` on the same kind of machine."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

PR_SET_PDEATHSIG = 1


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_worker(n_workers: int) -> int:
    return max(1, cores() // max(1, n_workers))


def use_threads(threads: int) -> None:
    """This process's share of the cores, set before its first TensorFlow op (after it, TensorFlow keeps the
    pools it made: the call is then a no-op)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    # deferred: TensorFlow is imported by the work itself; this only sizes its thread pools first
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started in this process
        pass


def die_with_parent() -> None:
    """Linux: the kernel ends this process when the process that started it dies, so a killed stage (kill -9,
    or its dvc gone) leaves no worker training beside its re-run. Elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took hold
        os._exit(1)


def _start(threads: int, setup: Callable[..., None] | None, setup_args: tuple) -> None:
    die_with_parent()
    use_threads(threads)
    if setup is not None:
        setup(*setup_args)


def map_in_processes(
    fn: Callable[..., Any],
    tasks: Iterable[Any],
    shared: tuple = (),
    n_workers: int = 1,
    setup: Callable[..., None] | None = None,
    setup_args: tuple = (),
) -> Iterator[Any]:
    """fn(task, *shared) for every task: here, in order, with one worker; else in `n_workers` fresh processes
    (spawned: no TensorFlow state is forked; each first runs setup(*setup_args), e.g. registering plugged-in
    families again), yielding results as they finish."""
    tasks = list(tasks)
    if n_workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield fn(task, *shared)
        return
    threads = threads_per_worker(n_workers)
    context = multiprocessing.get_context("spawn")
    start = (threads, setup, setup_args)
    with ProcessPoolExecutor(n_workers, mp_context=context, initializer=_start, initargs=start) as pool:
        futures = [pool.submit(fn, task, *shared) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


@functools.cache
def _cached(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def cached(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), computed once per process (the data each task of a worker reads)."""
    return _cached(fn, *args)
