from pathlib import Path

import pytest
import yaml

from mnistsum.errors import InputError
from mnistsum.params import load_params

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["params.yaml", "profiles/tiny.yaml", "profiles/report.yaml"])
def test_shipped_params_validate(name):
    params = load_params(REPO / name)
    assert params.base.seed == 42
    assert params.final.model_name == "mnistsum-mlp"


def test_params_are_frozen():
    params = load_params(REPO / "params.yaml")
    with pytest.raises(Exception):
        params.base.seed = 1


def _write(tmp_path, mutate):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_misspelled_key_names_it(tmp_path):
    path = _write(tmp_path, lambda raw: raw["study1"].update(n_trails=raw["study1"].pop("n_trials")))
    with pytest.raises(InputError) as exc:
        load_params(path)
    msg = str(exc.value)
    assert "study1.n_trails: unknown key (did you mean 'n_trials'?)" in msg and str(path) in msg
    assert "\n" not in msg


def test_wrong_type_and_range_are_reported(tmp_path):
    path = _write(tmp_path, lambda raw: raw["prepare"].update(val_fraction=1.5))
    with pytest.raises(InputError, match=r"prepare\.val_fraction"):
        load_params(path)
    path = _write(tmp_path, lambda raw: raw["study2"]["learning_rate"].update(low=1.0, high=0.1))
    with pytest.raises(InputError, match=r"study2\.learning_rate.*low"):
        load_params(path)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_params(bad)
