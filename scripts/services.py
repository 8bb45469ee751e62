"""Start (or stop) PostgreSQL and an MLflow tracking server on this machine, to try multi-worker studies:

  .venv/bin/python scripts/services.py start      # prints the two exports to paste
  .venv/bin/python scripts/services.py stop

State lives in .services/ (git-ignored). `make services` runs the first line.
"""

import argparse
import json
import os
import signal
from pathlib import Path

from mnistsum.services import Postgres, start_postgres, start_tracking_server

STATE = Path(".services")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--pg-port", type=int, default=5433)
    parser.add_argument("--mlflow-port", type=int, default=5000)
    args = parser.parse_args()
    info = STATE / "services.json"
    if args.action == "stop":
        if info.is_file():
            state = json.loads(info.read_text())
            try:
                os.kill(state["mlflow_pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
            Postgres(Path(state["pg_folder"]), state["pg_port"]).stop()
            info.unlink()
        print("stopped")
        return
    pg = start_postgres(STATE / "postgres", args.pg_port)
    optuna_url, mlflow_url = pg.create_database("optuna"), pg.create_database("mlflow")
    (STATE / "artifacts").mkdir(parents=True, exist_ok=True)
    server = start_tracking_server(mlflow_url, (STATE / "artifacts").resolve(), args.mlflow_port)
    info.write_text(json.dumps({"pg_port": pg.port, "pg_folder": str(pg.folder), "mlflow_pid": server.process.pid}))
    print(f"export MNISTSUM_OPTUNA_STORAGE={optuna_url}")
    print(f"export MLFLOW_TRACKING_URI={server.uri}")


if __name__ == "__main__":
    main()
