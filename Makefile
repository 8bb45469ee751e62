# Two entry points for a fresh machine: `make repro` and `make test`.
PY := .venv/bin/python
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

.PHONY: install repro test
install: .venv/.installed

repro: .venv/.installed
	dvc repro

test: .venv/.installed
	$(PY) -m pytest -q
