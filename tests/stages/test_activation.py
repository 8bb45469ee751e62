"""The activation stage: study1's best network with each activation, or a network set in params (a fidelity probe
of the report's stated one)."""

import json

from mnistsum.models.specs import MlpSpec
from mnistsum.stages import activation
from tests.conftest import with_section


def _run(params, tiny_data_dir, tmp_path, **network):
    tmp_path.mkdir()
    previous = tmp_path / "study1.json"
    study1 = MlpSpec(units=(16, 16), learning_rate=0.002, dropout=0.1)
    previous.write_text(json.dumps({"config": study1.to_dict()}))
    params = with_section(params, "activation", activations=("sigmoid",), epochs=1, **network)
    paths = activation.Paths(tiny_data_dir, previous, tmp_path / "activation.json", tmp_path / "metrics.json")
    activation.run(params, paths)
    return json.loads(paths.out.read_text())["config"]


def test_the_network_is_study1s_unless_params_set_one(tiny_params, tiny_data_dir, tmp_path, mlflow_store):
    plain = _run(tiny_params, tiny_data_dir, tmp_path / "plain")
    assert (plain["units"], plain["learning_rate"], plain["dropout"]) == ([16, 16], 0.002, 0.1)
    assert plain["activation"] == "sigmoid"
    probe = _run(tiny_params, tiny_data_dir, tmp_path / "probe", units=(8, 4, 2), learning_rate=0.0005)
    assert (probe["units"], probe["learning_rate"], probe["dropout"]) == ([8, 4, 2], 0.0005, 0.1)  # dropout kept
