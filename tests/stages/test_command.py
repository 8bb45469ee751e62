"""The stage scripts' shared command line, and a stage that stops when the `dvc` that started it is killed."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from mnistsum.errors import InputError
from mnistsum.stages import command

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Paths:
    data: Path
    base_history: Path
    sumnet: Path | None
    stage_results: tuple[Path, ...]
    summaries: dict[str, Path]


def test_the_command_line_is_the_paths_record():
    argv = ["--data", "d", "--base-history", "h.json", "--stage-results", "a", "b", "--summaries", "x=1.json"]
    args = command.parser(Paths).parse_args(argv)
    paths = command.paths(Paths, args, Path("/root"))
    assert paths == Paths(Path("/root/d"), Path("/root/h.json"), None, (Path("/root/a"), Path("/root/b")),
                          {"x": Path("/root/1.json")})  # fmt: skip
    with pytest.raises(SystemExit):
        command.parser(Paths).parse_args(["--data", "d"])  # the required ones are required
    with pytest.raises(InputError, match="'x': expected KEY=PATH"):
        command.parser(Paths).parse_args([*argv[:-1], "x"])


def _run(cmd, cwd, env):
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, timeout=120)


def test_a_stage_stops_when_its_dvc_is_killed(tmp_path):
    """kill -9 of the dvc process alone: before, the stage ran on as an orphan beside the next `dvc repro`."""
    env = os.environ | {"PYTHONPATH": str(REPO), "DVC_NO_ANALYTICS": "1"}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    stage = (
        "from mnistsum.stages.command import follow_dvc; follow_dvc(0.2); import os, time; "
        "open('started', 'w').write(str(os.getpid())); time.sleep(120)"
    )
    (tmp_path / "dvc.yaml").write_text(f'stages:\n  wait:\n    cmd: {sys.executable} -c "{stage}"\n')
    _run(["git", "init", "-q"], tmp_path, env)
    _run([str(Path(sys.executable).parent / "dvc"), "init", "-q"], tmp_path, env)
    dvc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dvc"), "repro"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while not (tmp_path / "started").is_file() and time.time() < deadline:
            time.sleep(0.2)
        pid = int((tmp_path / "started").read_text())
        assert psutil.pid_exists(pid)
        os.kill(dvc.pid, signal.SIGKILL)  # dvc alone, not its process group
        dvc.wait(timeout=10)
        deadline = time.time() + 15
        while (
            psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE and time.time() < deadline
        ):
            time.sleep(0.2)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, "stage still running"
    finally:
        os.killpg(dvc.pid, signal.SIGKILL) if dvc.poll() is None else None
        for proc in psutil.process_iter(["cmdline"]):
            if "started" in " ".join(proc.info["cmdline"] or []) and "follow_dvc" in " ".join(
                proc.info["cmdline"] or []
            ):
                proc.kill()
