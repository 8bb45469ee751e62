"""The machine a number was computed on, as far as it changes the number.

Networks trained on CPUs of different vector widths (AVX2; AVX-512; AMX) agree to about the third decimal,
and exactly only on one kind; so every stage's metrics say which kind made them, and comparisons say when two
numbers came from different kinds."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
PROC_STAT = Path("/proc/stat")
# Of the cores, used by other processes during a timing: from here on the time measures the sharing, not the code.
BUSY = 0.1


def cpu() -> tuple[str, set[str]]:
    """The CPU's model name and feature flags, as the kernel lists them."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in CPUINFO.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags = set(value.split())
                break
    except OSError:
        pass
    return model, flags


def bfloat16_native(flags: set[str]) -> bool:
    """Whether the CPU computes bfloat16 in hardware (AMX or avx512_bf16); elsewhere it is emulated, slower
    than float32 and less accurate, so mnistsum refuses it (params.check_precision)."""
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def machine() -> str:
    """CPU model, widest vector extension and usable cores, e.g. "AMD EPYC 7B13, avx2, 2 cores"."""
    model, flags = cpu()
    vector = next((name for name, flag in VECTOR if flag in flags), "")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ", ".join(part for part in (model, vector, f"{cores} cores") if part)


VECTOR = (("amx", "amx_tile"), ("avx512", "avx512f"), ("avx2", "avx2"), ("neon", "asimd"))


def _busy_seconds() -> float | None:
    """CPU seconds every process on the machine has used since boot (user, nice, system, irq, steal), or None
    where the kernel does not say (not Linux)."""
    try:
        fields = PROC_STAT.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, *rest = (int(v) for v in fields[1:])
    steal = rest[0] if rest else 0
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _descendant_seconds(root: int) -> float:
    """CPU seconds of root's live descendants (and of the children they reaped): a pool that outlives the
    timing (joblib's workers, local Optuna workers) is this process's own work, not another's. os.times counts
    only children already reaped."""
    parent, used = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # ended while listed
            continue
        pid = int(stat.parent.name)
        parent[pid] = int(fields[1])
        used[pid] = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    total, todo = 0, [root]
    while todo:
        current = todo.pop()
        for pid, ppid in parent.items():
            if ppid == current:
                total += used[pid]
                todo.append(pid)
    return total / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system + _descendant_seconds(os.getpid())


class Elsewhere:
    """How much of this machine's cores other processes used while a timing ran (`with Elsewhere() as e: ...;
    e.fraction`): a speed measured beside other work measures the sharing, not the code. None where the kernel
    does not say. `e.own_cores`: how many cores the timed work itself (this process and its workers) kept busy
    on average, so a stage that leaves cores idle says so."""

    def __enter__(self) -> Elsewhere:
        self._start = (_busy_seconds(), _own_seconds(), time.monotonic())
        self.fraction: float | None = None
        self.own_cores: float | None = None
        return self

    def __exit__(self, *exc) -> None:
        busy, own, wall = _busy_seconds(), _own_seconds(), time.monotonic() - self._start[2]
        if wall > 0:
            self.own_cores = (own - self._start[1]) / wall
        if busy is None or self._start[0] is None or wall <= 0:
            return
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        others = (busy - self._start[0]) - (own - self._start[1])
        self.fraction = min(1.0, max(0.0, others / (cores * wall)))
