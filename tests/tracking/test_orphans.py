import subprocess
import sys

import psutil
import pytest
from mlflow.tracking import MlflowClient

from mnistsum import tracking
from mnistsum.tracking.orphans import PROCESS_TAG, close_orphans, process_alive, this_process

# A child that prints its own owner string, then waits for its stdin to close.
CHILD = (
    "import sys; from mnistsum.tracking.orphans import this_process;"
    " print(this_process(), flush=True); sys.stdin.read()"
)


@pytest.fixture
def child():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    owner = proc.stdout.readline().strip()
    yield proc, owner
    proc.kill()
    proc.wait()


@pytest.fixture
def boot_time_steps(monkeypatch):
    """The clock stepped 1.5 s after the owners were written, as NTP or a resumed VM does: psutil's boot time
    (and with it every wall-clock create_time) moves, the processes do not."""
    platform = psutil._psplatform
    real = platform.boot_time
    monkeypatch.setattr(platform, "boot_time", lambda: real() + 1.5)


def test_a_live_process_stays_alive_and_a_gone_one_is_gone(child):
    proc, owner = child
    assert process_alive(owner) is True and process_alive(this_process()) is True
    proc.kill()
    proc.wait()
    assert process_alive(owner) is False
    assert process_alive("elsewhere:" + owner.split(":", 1)[1]) is None  # another host: unknown, not gone


def test_a_clock_step_does_not_make_a_live_process_look_gone(child, boot_time_steps, mlflow_store):
    proc, owner = child
    assert process_alive(owner) is True and process_alive(this_process()) is True
    client = MlflowClient(mlflow_store)
    experiment = tracking.experiment_id("nn")
    live = client.create_run(experiment, tags={PROCESS_TAG: owner}).info.run_id
    assert close_orphans(client, experiment) == []
    assert client.get_run(live).info.status == "RUNNING"
    proc.kill()
    proc.wait()
    assert close_orphans(client, experiment) == [live]
    assert client.get_run(live).info.status == "KILLED"
