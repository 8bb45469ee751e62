"""`mnistsum pull`: a registered model's files in a folder of their own, ready to load where mnistsum is not
installed (`mlflow.pyfunc.load_model(folder)`, with the folder's requirements.txt).

It finds the store as every mnistsum command does, so it works from any folder the store is named for, and
outside the repository it says which store it looked for instead of creating an empty one (plain
`mlflow artifacts download` does both wrong). The folder is filled whole or not at all, and only after the model
has loaded from it. A pull writes a marker listing every file it wrote; it replaces an existing folder only when
that marker lists everything in it, so it never deletes a file it did not write."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from mnistsum.errors import InputError
from mnistsum.tracking.store import configure

MODEL_FILE = "MLmodel"
MARKER = ".mnistsum-pull.json"  # the files a pull wrote: what a later pull may replace
SCHEMES = ("models:/", "runs:/")


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def foreign_files(folder: Path) -> list[str]:
    """The files in `folder` that no pull wrote (all of them, where it has no marker)."""
    try:
        listed = set(json.loads((folder / MARKER).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = set()
    return [f for f in _files(folder) if f != MARKER and f not in listed]


def _check_loads(folder: Path, uri: str) -> None:
    # deferred: loading the model imports TensorFlow, which nothing before this point needs
    import mlflow.pyfunc

    try:
        mlflow.pyfunc.load_model(str(folder))
    except Exception as exc:  # any failure to load means a broken model; say which, in one line
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"cannot pull {uri!r}: the model does not load ({type(exc).__name__}: {detail})") from None


def pull(uri: str, folder: Path) -> Path:
    """Download `uri` (models:/name@alias, models:/name/version or runs:/...) into `folder`, check that it loads,
    then put it in place. An existing folder is replaced only when a pull wrote everything in it."""
    if not uri.startswith(SCHEMES):
        raise InputError(f"--model {uri!r}: expected a registered model (models:/NAME@ALIAS, models:/NAME/N) or runs:/")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder; expected a new folder for the model's files")
    if folder.is_dir() and (foreign := foreign_files(folder)):
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise InputError(f"{folder}: holds files no pull wrote ({shown}); choose a new or empty folder")
    configure(read_only=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        try:
            mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(staging))
        except (MlflowException, OSError) as exc:
            raise InputError(f"cannot pull {uri!r}: {(str(exc).strip().splitlines() or ['?'])[0]}") from None
        if not (staging / MODEL_FILE).is_file():
            raise InputError(f"cannot pull {uri!r}: it holds no {MODEL_FILE}, so it is not a model")
        _check_loads(staging, uri)
        (staging / MARKER).write_text(json.dumps({"uri": uri, "files": _files(staging)}, indent=1) + "\n")
        # Swap whole folders so a reader never sees half an old model and half a new one.
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            folder.rename(old / folder.name)
            staging.rename(folder)
            shutil.rmtree(old)
        else:
            staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
