"""Runs left RUNNING by a process that was killed: every run records which process owns it (host, pid, start
time), and a stage starting closes the runs whose process is gone from this machine."""

from __future__ import annotations

import functools
import os
import socket

import psutil
from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient

PROCESS_TAG = "mnistsum.process"


def _seconds_since_boot(pid: int) -> float:
    """When process `pid` started, in seconds after this machine booted.

    psutil's create_time() is the boot time plus the kernel's tick count, and it documents the boot time as
    moving with NTP and clock steps: after such a step a start time kept in wall-clock seconds no longer matches
    its own live process, so a live worker's trial would be retried and its run closed as KILLED. The tick
    count never moves; the boot time is read on both sides of create_time() so that a step between the two
    reads is seen and the reading repeated."""
    for _ in range(3):
        boot = psutil.boot_time()
        started = psutil.Process(pid).create_time()
        if psutil.boot_time() == boot:
            break
    return started - boot


@functools.cache
def this_process() -> str:
    """host:pid:start of this process (seconds after boot); the start tells a reused pid from the original."""
    return f"{socket.gethostname()}:{os.getpid()}:{_seconds_since_boot(os.getpid()):.3f}"


def process_alive(owner: str) -> bool | None:
    """Whether the process named by a PROCESS_TAG value still runs; None when it ran on another host."""
    try:
        host, pid, started = owner.rsplit(":", 2)
        if host != socket.gethostname():
            return None
        return abs(_seconds_since_boot(int(pid)) - float(started)) < 0.01
    except (ValueError, psutil.Error):
        return False


def close_orphans(client: MlflowClient, experiment: str) -> list[str]:
    """Mark KILLED every RUNNING run of `experiment` whose process on this host is gone (a SIGKILLed stage
    or trial), with a trial_state tag for Optuna trials, so no run stays RUNNING forever. Runs of live
    processes and of other hosts are left alone."""
    closed = []
    for run in client.search_runs([experiment], filter_string="attributes.status = 'RUNNING'", max_results=5000):
        owner = run.data.tags.get(PROCESS_TAG)
        if owner is None or process_alive(owner) is not False:
            continue
        tags = {"orphan": f"closed as KILLED: process {owner} was gone"}
        if "optuna.trial" in run.data.tags:
            tags["trial_state"] = "FAIL"
        client.log_batch(run.info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        client.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    if closed:
        print(f"mlflow: closed {len(closed)} run(s) left RUNNING by a killed process", flush=True)
    return closed
