# Two entry points for a fresh machine: `make repro` and `make test`.
PY := .venv/bin/python
# make install TF=gpu: TensorFlow with CUDA instead of the CPU-only wheel
TF ?= cpu
# make install EXTRAS=s3: optional extras from pyproject (s3: a DVC remote on S3)
EXTRAS ?=
UV_VERSION := 0.13.9
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export PATH := $(CURDIR)/.venv/bin:$(PATH)

# A .venv copied or moved with the clone still belongs to the old place: it imports mnistsum from there (edits
# here silently ignored) and its scripts break once the old clone is gone. Where its mnistsum comes from decides;
# a .venv from elsewhere (or broken) is removed here and rebuilt by the install below.
VENV_ROOT := $(shell test -d .venv && (cd / && "$(CURDIR)/.venv/bin/python" -I -c \
	'import mnistsum, pathlib; print(pathlib.Path(mnistsum.__file__).resolve().parents[1])' 2>/dev/null || echo broken))
ifneq ($(VENV_ROOT),)
ifneq ($(VENV_ROOT),$(CURDIR))
$(info .venv imports mnistsum from $(VENV_ROOT), not from $(CURDIR): rebuilding it here)
$(shell rm -rf .venv)
endif
endif

.venv/.installed: pyproject.toml uv.lock
	@# Exactly the versions in uv.lock (the reference run's), installed by uv; pip only bootstraps uv itself.
	test -x .venv/bin/uv || (python3 -m venv .venv && $(PY) -m pip install -q "uv==$(UV_VERSION)")
	@# Bytecode compiled here, once: where PYTHONDONTWRITEBYTECODE is set (Docker images, CI) Python never caches
	@# it, and every stage's process compiled TensorFlow's modules again (13.4 s to import the training stack,
	@# 4.9 s compiled; compiling it all takes about 17 s on 2 cores).
	.venv/bin/uv sync --frozen --inexact --compile-bytecode --extra dev --extra $(TF) $(foreach e,$(EXTRAS),--extra $(e))
	@# The tests start a real PostgreSQL; install the server only where it is missing (Debian/Ubuntu).
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		(apt-get install -y -q postgresql >/dev/null 2>&1 || sudo apt-get install -y -q postgresql) || \
		echo "warning: no PostgreSQL server found; install it (apt-get install postgresql) for the scale-out tests"
	@# The demo's browser tests drive a real headless Chromium: Debian's package, installed where it is missing.
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		(apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) || \
		 sudo apt-get install -y -q chromium) || \
		echo "warning: no Chromium found; install it (apt-get install chromium) for the demo's browser tests"
	touch $@

.PHONY: install repro test quick services check-venv
install: .venv/.installed

check-venv:  # only the check above: says whether .venv belongs to this checkout (and removes it if not)
	@echo ".venv: $(if $(wildcard .venv),belongs to $(CURDIR),none (make install builds it))"

repro: .venv/.installed
	dvc repro

# One test at a time, the suite kept 1.23 of 2 cores busy on average (a /proc/stat sample beside it), so it runs
# on TEST_WORKERS processes, a test file each at a time (module fixtures stay one per file); the tests that
# measure the machine's cores run after them, alone.
TEST_WORKERS ?= 2

test: .venv/.installed
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(PY) -m pytest -q --durations=10 -n $(TEST_WORKERS) --dist loadfile -m "not alone"
	$(PY) -m pytest -q -m alone

# The quick loop while developing: lint and every test not marked slow (no dvc repro, services or browser).
quick: .venv/.installed
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(PY) -m pytest -q -m "not slow"

# PostgreSQL + an MLflow tracking server on this machine, for multi-worker studies (prints the exports to use).
services: .venv/.installed
	$(PY) scripts/services.py start
