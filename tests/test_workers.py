"""mnistsum.workers: independent tasks in several fresh processes give what one process gives."""

import os
import time

import numpy as np

from mnistsum import workers


def _draw(seed: int, scale: float) -> tuple[int, float]:
    time.sleep(1)  # long enough that both processes take tasks
    return os.getpid(), float(np.random.default_rng(seed).normal() * scale)


def test_tasks_in_processes_give_the_serial_answers_each_once():
    serial = [value for _, value in workers.map_in_processes(_draw, range(6), (2.0,), n_workers=1)]
    parallel = list(workers.map_in_processes(_draw, range(6), (2.0,), n_workers=2))
    assert sorted(value for _, value in parallel) == sorted(serial)
    assert len({pid for pid, _ in parallel}) == 2 and os.getpid() not in {pid for pid, _ in parallel}
    assert workers.threads_per_worker(2) == max(1, workers.cores() // 2)
