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


@functools.cache
def this_process() -> str:
    """host:pid:start-time of this process; the start time tells a reused pid from the original."""
    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.3f}"


def process_alive(owner: str) -> bool | None:
    """Whether the process named by a PROCESS_TAG value still runs; None when it ran on another host."""
    try:
        host, pid, started = owner.rsplit(":", 2)
        if host != socket.gethostname():
            return None
        return abs(psutil.Process(int(pid)).create_time() - float(started)) < 0.01
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
