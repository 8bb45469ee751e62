"""Local PostgreSQL and MLflow tracking server, started for real: by `make services` (to try multi-worker studies
on one machine) and by the tests' fixtures. On several machines, run them once where every worker reaches them."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg

from mnistsum.errors import InputError

USER = "mnistsum"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answers(url: str, process: subprocess.Popen, timeout: float, what: str) -> None:
    """Poll `url` until it answers, failing at once if `process` (the server behind it) exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode})")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s")


def postgres_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, or in Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise InputError(
            f"PostgreSQL's {name} not found: install it (apt-get install postgresql, or "
            "pip install pgserver) and run again"
        )
    return found


def _as_owner(cmd: list[str], folder: Path) -> list[str]:
    """initdb and the server refuse to run as root: run them as the `postgres` user, who owns `folder`."""
    if os.geteuid() != 0:
        return cmd
    shutil.chown(folder, "postgres", "postgres")
    return ["runuser", "-u", "postgres", "--", *cmd]


@dataclass
class Postgres:
    folder: Path  # holds data/ (the cluster), the socket and the log
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(f"postgresql://{USER}@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            _as_owner([postgres_bin("pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "stop"], self.folder),
            capture_output=True,
            timeout=60,
        )


def start_postgres(folder: Path | None = None, port: int | None = None) -> Postgres:
    """A PostgreSQL cluster in `folder` (default: a new temporary folder) on a loopback port, trust auth for
    user mnistsum. As root, the server runs as `postgres`, which must reach the folder: a folder inside a
    private one (pytest's tmp_path is 0700) is replaced by a temporary folder of its own."""
    if folder is None or (os.geteuid() == 0 and not _reachable_by_postgres(Path(folder))):
        folder = Path(tempfile.mkdtemp(prefix="mnistsum-pg-"))
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    data = folder / "data"
    if not data.is_dir():
        subprocess.run(
            _as_owner([postgres_bin("initdb"), "-D", str(data), "-A", "trust", "-U", USER], folder),
            check=True,
            capture_output=True,
            timeout=120,
        )
    subprocess.run(
        _as_owner(
            [
                postgres_bin("pg_ctl"),
                "-D",
                str(data),
                "-o",
                f"-p {port} -k {folder} -h 127.0.0.1",
                "-l",
                str(folder / "postgres.log"),
                "-w",
                "start",
            ],
            folder,
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Postgres(folder, port)


def _reachable_by_postgres(folder: Path) -> bool:
    folder = folder.resolve()
    for parent in [*reversed(folder.parents)]:
        if parent.exists() and not (parent.stat().st_mode & 0o001):
            return False
    return True


@dataclass
class TrackingServer:
    process: subprocess.Popen
    port: int

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_tracking_server(
    backend_uri: str, artifacts: Path, port: int | None = None, timeout: float = 180
) -> TrackingServer:
    """`mlflow server` on loopback with proxied artifacts (clients need no shared filesystem)."""
    port = port or free_port()
    mlflow_cli = os.path.join(os.path.dirname(sys.executable), "mlflow")
    env = os.environ | {
        "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log = open(Path(artifacts).parent / f"mlflow-server-{port}.log", "w")
    process = subprocess.Popen(
        [
            mlflow_cli,
            "server",
            "--backend-store-uri",
            backend_uri,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/health", process, timeout, f"mlflow server (log: {log.name})")
    except RuntimeError:
        process.kill()
        raise
    return TrackingServer(process, port)
