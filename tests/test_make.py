"""The Makefile on a copied or moved clone: a .venv that imports mnistsum from another checkout (or no longer
imports it at all) is removed so `make` rebuilds it here (real make, a real virtual environment)."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _clone_with_venv(root: Path, mnistsum_from: Path) -> Path:
    """A checkout holding the Makefile and a .venv whose `import mnistsum` resolves into `mnistsum_from`."""
    root.mkdir(parents=True)
    shutil.copy2(REPO / "Makefile", root / "Makefile")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(root / ".venv")}))
    (purelib / "elsewhere.pth").write_text(f"{mnistsum_from}\n")
    (mnistsum_from / "mnistsum").mkdir(parents=True, exist_ok=True)
    (mnistsum_from / "mnistsum" / "__init__.py").touch()
    return root


def _make(root: Path) -> str:
    # PYTHONPATH naming this repo must not decide where the .venv's mnistsum comes from (python -I).
    # A user's own make, not a sub-make of `make test` (which would print "Entering directory" lines).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(["make", "check-venv"], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_venv_of_another_checkout_is_rebuilt_here(tmp_path):
    original = tmp_path / "original"
    copy = _clone_with_venv(tmp_path / "copy", original)
    out = _make(copy)
    assert f".venv imports mnistsum from {original}, not from {copy}: rebuilding it here" in out
    assert not (copy / ".venv").exists()
    # The original gone: the copied .venv imports nothing; removed all the same.
    copy = _clone_with_venv(tmp_path / "copy2", tmp_path / "gone")
    shutil.rmtree(tmp_path / "gone")
    assert "from broken" in _make(copy) and not (copy / ".venv").exists()


def test_the_checkout_s_own_venv_is_kept(tmp_path):
    own = _clone_with_venv(tmp_path / "own", tmp_path / "own")
    assert _make(own).strip() == f".venv: belongs to {own}"
    assert (own / ".venv" / "bin" / "python").exists()
