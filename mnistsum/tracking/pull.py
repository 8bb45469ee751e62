"""`mnistsum pull`: a registered model's files in a folder of their own, ready to load where mnistsum is not
installed (`mlflow.pyfunc.load_model(folder)`, with the folder's requirements.txt).

It finds the store as every mnistsum command does, so it works from any folder the store is named for, and
outside the repository it says which store it looked for instead of creating an empty one (plain
`mlflow artifacts download` does both wrong). The folder is filled whole or not at all."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from mnistsum.errors import InputError
from mnistsum.tracking.store import configure

MODEL_FILE = "MLmodel"


def pull(uri: str, folder: Path) -> Path:
    """Download `uri` (models:/name@alias, models:/name/version or runs:/...) into `folder`. An existing folder
    is replaced only when it holds a pulled model (its MLmodel file): anything else there is refused."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder; expected a new folder for the model's files")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MODEL_FILE).is_file():
        raise InputError(f"{folder}: not empty and not a pulled model (no {MODEL_FILE}); choose a new folder")
    if uri.startswith(("models:/", "runs:/")):
        configure(read_only=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        try:
            mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(staging))
        except MlflowException as exc:
            raise InputError(f"cannot pull {uri!r}: {str(exc).strip().splitlines()[0]}") from None
        if not (staging / MODEL_FILE).is_file():
            raise InputError(f"cannot pull {uri!r}: it holds no {MODEL_FILE}, so it is not a model")
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
