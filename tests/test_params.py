from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from mnistsum.cli import main as cli_main
from mnistsum.errors import InputError
from mnistsum.machine import bfloat16_native, cpu, machine
from mnistsum.params import load_params, materialise

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("profile", [None, "profiles/tiny.yaml", "profiles/report.yaml"])
def test_shipped_params_validate(profile):
    params = load_params(REPO / "params.yaml", profile and REPO / profile)
    assert params.base.seed == 42
    assert params.final.model_name == "mnistsum-mlp"


def test_a_profile_changes_only_the_keys_it_names(tmp_path):
    default = load_params(REPO / "params.yaml")
    out = tmp_path / "params.yaml"
    cli_main(["params", str(REPO / "profiles" / "tiny.yaml"), "--out", str(out)])
    tiny = load_params(out)  # complete: every key named, as dvc repro reads it
    assert tiny.prepare.train_pairs == 600 and tiny.prepare.split == default.prepare.split
    assert tiny.study1.layers.high == 2 and tiny.study1.layers.low == default.study1.layers.low  # merged
    assert tiny.cnn.model.filters == (8, 16) and tiny.cnn.model.batch_norm == default.cnn.model.batch_norm
    assert tiny.base == default.base
    assert "# drives numpy, Keras" in out.read_text()  # the default file's comments survive


def test_materialising_a_profile_twice_writes_the_same_file(tmp_path):
    """A sitting re-materialises the profile in a clone that already did: the params must stay byte for byte the
    kept run's (one header, not two), or the sitting is refused as another run."""
    out = tmp_path / "params.yaml"
    out.write_text((REPO / "params.yaml").read_text())
    materialise(REPO / "profiles" / "report.yaml", out, out)
    once = out.read_text()
    materialise(REPO / "profiles" / "report.yaml", out, out)
    assert out.read_text() == once and once.count("# Materialised from") == 1


def test_a_profile_cannot_add_a_key(tmp_path):
    profile = tmp_path / "typo.yaml"
    profile.write_text("study1: {n_trails: 3}\n")
    with pytest.raises(InputError, match=r"study1.n_trails: unknown key \(did you mean 'n_trials'\?\)"):
        load_params(REPO / "params.yaml", profile)
    out = tmp_path / "params.yaml"
    with pytest.raises(SystemExit) as exc:
        cli_main(["params", str(profile), "--out", str(out)])
    assert exc.value.code == 2
    assert not out.exists()  # validated before anything is written


def test_params_are_frozen():
    params = load_params(REPO / "params.yaml")
    with pytest.raises(ValidationError):
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


def test_a_deleted_key_is_an_error_naming_it_not_a_default(tmp_path):
    path = _write(tmp_path, lambda raw: (raw["final"].pop("patience"), raw["base"].pop("seed")))
    with pytest.raises(InputError) as exc:
        load_params(path)
    assert "base.seed: missing key" in str(exc.value) and "final.patience: missing key" in str(exc.value)
    path = _write(tmp_path, lambda raw: raw["cnn"]["model"].pop("augment_shift"))
    with pytest.raises(InputError, match=r"cnn\.model\.augment_shift: missing key"):
        load_params(path)


def test_every_typo_is_listed_in_one_line(tmp_path):
    def typos(raw):
        raw["study1"]["n_trails"] = raw["study1"].pop("n_trials")
        raw["final"]["patiense"] = raw["final"].pop("patience")
        raw["tsne"]["perplexity"] = 3

    with pytest.raises(InputError) as exc:
        load_params(_write(tmp_path, typos))
    msg = str(exc.value)
    assert "\n" not in msg
    for part in (
        "study1.n_trails: unknown key (did you mean 'n_trials'?)",
        "final.patiense: unknown key (did you mean 'patience'?)",
        "tsne.perplexity: unknown key",
    ):
        assert part in msg
    assert "n_trials: missing" not in msg  # the typo's "did you mean" already says it


def test_check_params_command(tmp_path, capsys):
    cli_main(["check-params", str(REPO / "params.yaml")])
    assert "valid" in capsys.readouterr().out
    path = _write(tmp_path, lambda raw: raw["svm"].pop("C"))
    with pytest.raises(SystemExit) as exc:
        cli_main(["check-params", str(path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err == f"error: {path}: svm.C: missing key\n"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda raw: raw["base"].update(seed=True), "base.seed: Input should be a valid integer (got True)"),
        (lambda raw: raw["base"].update(seed="42"), "base.seed: Input should be a valid integer (got '42')"),
        (lambda raw: raw["base"].update(seed=-1), "base.seed: Input should be greater than or equal to 0"),
        (lambda raw: raw["study1"].update(batch_norm="yes"), "study1.batch_norm: Input should be a valid boolean"),
        (
            lambda raw: raw["base_mlp"].update(learning_rate=float("inf")),
            "base_mlp.learning_rate: Input should be a finite",
        ),
        (lambda raw: raw["base_mlp"].update(units=[-5]), "base_mlp.units.0: Input should be greater than 0"),
        (lambda raw: raw["forest"].update(max_depths=[]), "forest.max_depths: Tuple should have at least 1 item"),
        (lambda raw: raw["svm"].update(C=[0, 1]), "svm.C.0: Input should be greater than 0"),
    ],
)
def test_wrong_types_negative_sizes_and_non_finite_numbers_are_refused(tmp_path, mutate, expected):
    with pytest.raises(InputError) as exc:
        load_params(_write(tmp_path, mutate))
    assert expected in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("base: {seed: 1}\nbase: {seed: 2}\n", "not valid YAML (key 'base' given twice at line 2)"),
        ("base:\n  seed: 1\n  seed: 2\n", "not valid YAML (key 'seed' given twice at line 3)"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n",
            "not valid YAML (an alias (*name): name every value itself at line 2)",
        ),
    ],
)
def test_duplicate_keys_and_alias_bombs_are_refused_in_one_line(tmp_path, text, expected):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        load_params(path)
    assert str(exc.value) == f"{path}: {expected}"


def test_a_file_that_is_not_utf8_or_too_big_is_refused_in_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes("base: {seed: 1}\n# caf\u00e9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"params.yaml: not UTF-8 text \(byte 21\)"):
        load_params(path)
    path.write_text("#" * 2_000_000)
    with pytest.raises(InputError, match="2,000,000 bytes; a params file is a few kB"):
        load_params(path)


def test_bfloat16_is_refused_in_one_line_where_the_cpu_lacks_it(tmp_path, capsys):
    """base.precision: bfloat16 on the tiny profile: read as asked on a CPU with AMX or avx512_bf16; elsewhere
    refused when the params are read (so by check_params, before any stage trains), in one line naming the CPU."""
    assert (
        not bfloat16_native({"avx2", "avx512f"}) and bfloat16_native({"avx512_bf16"}) and bfloat16_native({"amx_bf16"})
    )
    tiny = tmp_path / "tiny.yaml"
    materialise(REPO / "profiles" / "tiny.yaml", REPO / "params.yaml", tiny)
    raw = yaml.safe_load(tiny.read_text())
    raw["base"]["precision"] = "bfloat16"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    if bfloat16_native(cpu()[1]):
        assert load_params(path).base.precision == "bfloat16"
        return
    with pytest.raises(SystemExit) as exc:
        cli_main(["check-params", str(path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err == (
        f"error: {path}: base.precision: bfloat16 needs a CPU with AMX or avx512_bf16; this one ({machine()}) has "
        "neither: set float32\n"
    )
    raw["base"]["precision"] = "float16"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError, match=r"base.precision: Input should be 'float32' or 'bfloat16'"):
        load_params(path)


def test_a_profile_s_changed_keys_say_where_their_value_came_from(tmp_path):
    """The base's comment described the base's value: after the overlay it would contradict the new one."""
    out = tmp_path / "params.yaml"
    materialise(REPO / "profiles" / "report.yaml", REPO / "params.yaml", out)
    lines = out.read_text().splitlines()
    study1 = lines[next(i for i, line in enumerate(lines) if line.startswith("study1:")) + 1 :]
    regime = next(line for line in study1 if line.strip().startswith("regime:"))
    assert regime.split("#")[0].split() == ["regime:", "sums"] and regime.endswith("profiles/report.yaml"), regime
    assert not any(line.strip().startswith("regime: sums") and "digit labels" in line for line in lines)
    seed = next(line for line in lines if line.strip().startswith("seed:"))
    assert "drives numpy" in seed  # an unchanged key keeps its comment
    assert load_params(out).study1.regime == "sums"  # and the file still reads as the profile says
