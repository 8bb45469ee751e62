"""The report's neural-network studies: base model, four sequential Optuna studies, the activation
loop and the final tuned network. Each returns the best configuration, which the next one builds on."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from mnistsum import figures, nn, tracking
from mnistsum.files import save_figure, write_json, write_metrics
from mnistsum.models import spec_from_dict
from mnistsum.models.parts import suggest_float
from mnistsum.models.specs import MlpSpec, Spec
from mnistsum.nn import Arrays
from mnistsum.pairs import Pairs, load_split, split_ids
from mnistsum.params import Params, Search

optuna.logging.set_verbosity(optuna.logging.WARNING)

SEARCH_STAGES = ("study1", "study2", "study3", "study4")


@dataclass
class StageData:
    """What a training stage sees: the arrays, each pair file's sha256, and those as MLflow dataset inputs."""

    arrays: Arrays
    ids: dict[str, str]
    inputs: list
    subset: str = ""  # how the training pairs were subset, if they were
    pairs: dict[str, Pairs] | None = None  # the pair files as loaded (digit labels included: for measuring only)

    @property
    def identity(self) -> str:
        """The content of everything a trial trains and is scored on."""
        return hashlib.sha256(json.dumps([self.ids, self.subset], sort_keys=True).encode()).hexdigest()


def load_data(data_dir: Path, train_fraction: float, seed: int) -> StageData:
    """Validation and test in full; a seeded subset of the training pairs when searching."""
    train, val, test = (load_split(data_dir, split) for split in ("train", "val", "test"))
    subset = ""
    if train_fraction < 1:
        keep = np.sort(np.random.default_rng(seed).permutation(len(train))[: max(1, int(len(train) * train_fraction))])
        train = train.take(keep)
        subset = f"{train_fraction:g} seed {seed}"
    ids = split_ids(data_dir)
    inputs = tracking.pair_inputs(data_dir, ids, {"train": (train.x, train.y), "val": (val.x, val.y),
                                                  "test": (test.x, test.y)}, {"train": subset} if subset else None)
    return StageData(Arrays.from_pairs(train, val, test), ids, inputs, subset,
                     {"train": train, "val": val, "test": test})


def load_arrays(data_dir: Path, train_fraction: float, seed: int) -> Arrays:
    return load_data(data_dir, train_fraction, seed).arrays


def read_best(path: Path) -> Spec:
    from mnistsum.files import read_json

    return spec_from_dict(read_json(path)["config"])


def _summary(cfg: Spec, result: nn.TrainResult, source: str, **extra: Any) -> dict[str, Any]:
    return {"config": cfg.to_dict(), "val_accuracy": result.val_accuracy, "test_accuracy": result.test_accuracy,
            "epochs_run": result.epochs_run, "source": source, **extra}


# ---------------------------------------------------------------- base model


def run_base(params: Params, data_dir: Path, out_dir: Path, metrics_path: Path) -> dict:
    p = params.base_mlp
    cfg = MlpSpec(units=p.units, activation=p.activation, dropout=p.dropout, learning_rate=p.learning_rate)
    started = time.perf_counter()
    stage_data = load_data(data_dir, 1.0, params.base.seed)
    data = stage_data.arrays
    with tracking.start_run("nn", "base_mlp", stage="base_mlp",
                            params={"config": cfg.to_dict(), "epochs": p.epochs,
                                    "batch_size": params.base.batch_size, "seed": params.base.seed}) as run:
        tracking.log_datasets(run.info.run_id, stage_data.inputs)
        result = nn.train(cfg, data, p.epochs, params.base.batch_size, params.base.seed,
                          run_id=run.info.run_id, label="base")
        tracking.log_metrics(run.info.run_id, {"final_val_accuracy": result.val_accuracy,
                                               "final_test_accuracy": result.test_accuracy})
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "history.json", result.history)
        summary = _summary(cfg, result, "base_mlp", run_id=run.info.run_id)
        write_json(out_dir / "best.json", summary)
        fig_path = out_dir / "accuracy.png"
        save_figure(figures.accuracy_curves({"base": result.history}, "Base network: accuracy per epoch"), fig_path)
        tracking.log_files(run.info.run_id, [fig_path])
    write_metrics(metrics_path, result.val_accuracy, result.test_accuracy, time.perf_counter() - started)
    print(f"base_mlp: val {result.val_accuracy:.4f} test {result.test_accuracy:.4f}")
    return summary


# ---------------------------------------------------------------- Optuna studies


def search_space(stage: str, params: Params) -> Callable[[optuna.Trial, Spec | None], Spec]:
    """How each study turns a trial into a network, holding fixed what earlier studies settled. study1 is the
    MLP family's own space; the later ones narrow it one setting at a time, as the report does."""
    from mnistsum.models import mlp
    from mnistsum.models.parts import suggest_units

    if stage == "study1":
        return lambda t, prev: mlp.suggest(t, params.study1, prev)
    if stage == "study2":
        return lambda t, prev: prev.replace(learning_rate=suggest_float(t, "learning_rate", params.study2.learning_rate))
    if stage == "study3":
        return lambda t, prev: prev.replace(units=suggest_units(t, params.study3.layers, params.study3.units))
    if stage == "study4":
        return lambda t, prev: prev.replace(dropout=suggest_float(t, "dropout", params.study4.dropout))
    raise ValueError(f"unknown study {stage!r}; expected one of {SEARCH_STAGES}")


class PruneOnValAccuracy(keras.callbacks.Callback):
    """Reports validation accuracy to Optuna each epoch and stops training when the pruner says so."""

    def __init__(self, trial: optuna.Trial):
        super().__init__()
        self.trial = trial
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.trial.report(float(logs["val_accuracy"]), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            self.model.stop_training = True


def study_name(stage: str, section: Search, previous: Spec | None, data_id: str, seed: int,
               batch_size: int) -> str:
    """Every input that changes a trial's result -> the study's identity: the search settings, the starting
    point, the data's content, the seed, the batch size and the network-building code. So an interrupted
    stage resumes its own study, and a changed input starts a new one. Only n_trials may change."""
    key = json.dumps({"section": section.model_dump(exclude={"n_trials"}), "previous": previous and previous.to_dict(),
                      "data": data_id, "seed": seed, "batch_size": batch_size, "code": nn.code_digest()},
                     sort_keys=True, default=str)
    return f"{stage}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def open_study(storage: optuna.storages.BaseStorage, name: str, section: Search, seed: int,
               worker_id: int = 0) -> optuna.Study:
    """Create or join the study. Each worker's sampler is seeded from the base seed and its worker id."""
    from mnistsum.study_storage import sampler_seed

    return optuna.create_study(
        study_name=name, storage=storage, direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=sampler_seed(seed, worker_id), n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=section.pruner_startup_trials,
                                           n_warmup_steps=section.pruner_warmup_epochs))


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def run_study(stage: str, params: Params, data_dir: Path, previous_path: Path | None, storage_path: Path,
              out_path: Path | None, plots_dir: Path | None, metrics_path: Path | None = None, worker_id: int = 0,
              wait: bool = True) -> dict | None:
    """Run trials of the stage's study until it holds `n_trials` finished trials across every worker.

    The DVC stage is worker 0: it waits for the other workers' running trials too, then writes its outs.
    `mnistsum worker` runs other workers (out_path None): they run trials until the cap and write nothing."""
    from mnistsum import study_storage

    section: Search = getattr(params, stage)
    seed, batch = params.base.seed, params.base.batch_size
    url = study_storage.storage_url(params.base.optuna_storage)
    tracking.check_reachable()  # before any work: an unreachable server fails in seconds, naming it
    storage = study_storage.make_storage(url, storage_path, params.base.heartbeat_seconds)
    previous = read_best(previous_path) if previous_path else None
    stage_data = load_data(data_dir, section.train_fraction, seed)
    data = stage_data.arrays
    name = study_name(stage, section, previous, stage_data.identity, seed, batch)
    study = open_study(storage, name, section, seed, worker_id)
    study_storage.recover(study)
    suggest = search_space(stage, params)
    where = study_storage.masked(url) if url else str(storage_path)
    print(f"{stage}: study {name} in {where} (worker {worker_id}), {len(finished_trials(study))}/{section.n_trials} "
          "trials finished", flush=True)
    parent_id = tracking.study_parent("nn", stage, name, stage=stage,
                                      params={"study": section.model_dump(), "study_name": name,
                                              "previous": previous.to_dict() if previous else {},
                                              "seed": seed, "batch_size": batch,
                                              "storage": "rdb" if url else "journal"},
                                      inputs=stage_data.inputs)
    started = time.perf_counter()

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr(study_storage.OWNER_ATTR, tracking.this_process())
        if study_storage.is_surplus(study, trial, section.n_trials):
            # Another worker holds the last places: stop without training (a failed trial is never counted).
            trial.set_user_attr("surplus", True)
            study.stop()
            raise SurplusTrial(f"trial {trial.number}: the study already has {section.n_trials} trials")
        cfg = suggest(trial, previous).replace(batch_norm=section.batch_norm)
        pruning = PruneOnValAccuracy(trial)
        label = f"trial-{trial.number:03d}"
        with tracking.start_run("nn", label, stage=stage, parent_run_id=parent_id,
                                params={"config": cfg.to_dict(), **trial.params, "epochs": section.epochs,
                                        "worker_id": worker_id},
                                tags={"optuna.study": name, "optuna.trial": str(trial.number)}) as child:
            tracking.log_datasets(child.info.run_id, stage_data.inputs)
            result = nn.train(cfg, data, section.epochs, batch, seed + trial.number, run_id=child.info.run_id,
                              label=f"{stage} {label}", callbacks=[pruning], resample=section.resample_pairs)
            state = "PRUNED" if pruning.pruned_at is not None else "COMPLETE"
            tracking.log_metrics(child.info.run_id, {"final_val_accuracy": result.val_accuracy,
                                                     "final_test_accuracy": result.test_accuracy,
                                                     "epochs_run": result.epochs_run})
            tracking.log_tags(child.info.run_id, {"trial_state": state})
            trial.set_user_attr("test_accuracy", result.test_accuracy)
            trial.set_user_attr("config", cfg.to_dict())
            trial.set_user_attr("mlflow_run_id", child.info.run_id)
        done = len(finished_trials(study)) + 1
        best = max([result.val_accuracy] + [t.value for t in study.get_trials(states=(TrialState.COMPLETE,))])
        print(f"{stage}: {label} {state.lower()} val {result.val_accuracy:.4f} "
              f"({done}/{section.n_trials}, best {best:.4f}, {time.perf_counter() - started:.0f}s)", flush=True)
        if state == "PRUNED":
            raise optuna.TrialPruned()
        return result.val_accuracy

    cap = optuna.study.MaxTrialsCallback(section.n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED))

    def run_more() -> None:
        if len(finished_trials(study)) < section.n_trials:
            study.optimize(objective, callbacks=[cap], catch=(SurplusTrial,))

    run_more()
    if not wait:
        print(f"{stage}: worker {worker_id} done; {len(finished_trials(study))}/{section.n_trials} trials finished",
              flush=True)
        return None
    study_storage.wait_until_finished(study, section.n_trials, run_more, log=lambda m: print(f"{stage}: {m}",
                                                                                             flush=True))
    with tracking.start_run("nn", stage, stage=stage, run_id=parent_id) as parent:
        completed = [t for t in study.trials if t.state == TrialState.COMPLETE]
        if not completed:
            raise RuntimeError(f"{stage}: no trial completed; raise n_trials or relax the pruner")
        best = study.best_trial
        finished = finished_trials(study)
        summary = {"config": best.user_attrs["config"], "val_accuracy": best.value,
                   "test_accuracy": best.user_attrs["test_accuracy"], "source": f"{stage} trial {best.number}",
                   "best_params": best.params, "study_name": name, "n_trials": len(finished),
                   "n_pruned": sum(t.state == TrialState.PRUNED for t in finished)}
        tracking.log_params(parent.info.run_id, {f"best.{k}": v for k, v in best.params.items()})
        tracking.log_metrics(parent.info.run_id, {"best_val_accuracy": best.value,
                                                  "best_test_accuracy": best.user_attrs["test_accuracy"],
                                                  "n_trials": summary["n_trials"], "n_pruned": summary["n_pruned"]})
        tracking.log_tags(parent.info.run_id, {"best_trial": f"trial-{best.number:03d}"})
        tracking.log_files(parent.info.run_id, optuna_figures(study, stage, plots_dir))
    write_json(out_path, summary)
    if metrics_path:
        write_metrics(metrics_path, best.value, summary["test_accuracy"], time.perf_counter() - started,
                      n_trials=summary["n_trials"], n_pruned=summary["n_pruned"],
                      n_failed=sum(t.state == TrialState.FAIL and not t.user_attrs.get("surplus")
                                   for t in study.trials))
    print(f"{stage}: best trial {best.number} val {best.value:.4f} test {summary['test_accuracy']:.4f}")
    return summary


class SurplusTrial(Exception):
    """A trial started after the study already had its `n_trials` (another worker took the last place)."""


def _quiet_surplus(record) -> bool:
    # A surplus trial is bookkeeping, not an error: keep Optuna's traceback for it (and its echo) off the log.
    text = record.getMessage()
    return "SurplusTrial" not in text and not text.endswith("failed with value None.")


logging.getLogger("optuna").addFilter(_quiet_surplus)


def stage_parser() -> "argparse.ArgumentParser":
    """The study stages' command line, shared by pipelines/study.py and `mnistsum worker` (which reads the
    stage's command from dvc.yaml, so paths stay written once)."""
    import argparse

    parser = argparse.ArgumentParser(description="One seeded, resumable Optuna study; every trial an MLflow run.")
    parser.add_argument("stage", choices=SEARCH_STAGES)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--previous", type=Path, help="best.json of the previous study (not for study1)")
    parser.add_argument("--storage", type=Path, required=True,
                        help="Optuna journal file (kept between runs); unused when MNISTSUM_OPTUNA_STORAGE is set")
    parser.add_argument("--out", type=Path, required=True, help="best configuration JSON")
    parser.add_argument("--plots", type=Path, required=True, help="folder for Optuna's figures")
    parser.add_argument("--metrics", type=Path, required=True, help="headline metrics JSON")
    return parser


def optuna_figures(study: optuna.Study, stage: str, plots_dir: Path) -> list[Path]:
    """Optuna's own optimisation-history and parameter-importance plots."""
    import warnings

    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    paths = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning for the matplotlib backend
        plots = {"optimization_history": ovm.plot_optimization_history}
        if len(study.trials) > 1 and study.best_trial.params:
            plots["param_importances"] = ovm.plot_param_importances
        for name, plot in plots.items():
            ax = plot(study)
            fig = ax.figure if hasattr(ax, "figure") else plt.gcf()
            fig.set_size_inches(7, 4.2)
            path = plots_dir / f"{stage}_{name}.png"
            save_figure(fig, path)
            paths.append(path)
    return paths


# ---------------------------------------------------------------- activation loop


def run_activation(params: Params, data_dir: Path, previous_path: Path, out_path: Path,
                   metrics_path: Path | None = None) -> dict:
    started = time.perf_counter()
    p = params.activation
    previous = read_best(previous_path)
    seed, batch = params.base.seed, params.base.batch_size
    stage_data = load_data(data_dir, p.train_fraction, seed)
    data = stage_data.arrays
    results = {}
    with tracking.start_run("nn", "activation", stage="activation",
                            params={"activation": p.model_dump(), "previous": previous.to_dict()}) as parent:
        tracking.log_datasets(parent.info.run_id, stage_data.inputs)
        for i, act in enumerate(p.activations):
            cfg = previous.replace(activation=act, batch_norm=p.batch_norm)
            with tracking.start_run("nn", f"activation={act}", stage="activation", parent_run_id=parent.info.run_id,
                                    params={"config": cfg.to_dict(), "epochs": p.epochs}) as child:
                tracking.log_datasets(child.info.run_id, stage_data.inputs)
                r = nn.train(cfg, data, p.epochs, batch, seed, run_id=child.info.run_id, label=f"activation={act}",
                             resample=p.resample_pairs)
                tracking.log_metrics(child.info.run_id, {"final_val_accuracy": r.val_accuracy,
                                                         "final_test_accuracy": r.test_accuracy})
            results[act] = (cfg, r)
            print(f"activation: {i + 1}/{len(p.activations)} {act} val {r.val_accuracy:.4f} "
                  f"test {r.test_accuracy:.4f}", flush=True)
        best_act = max(results, key=lambda a: results[a][1].val_accuracy)
        cfg, r = results[best_act]
        summary = _summary(cfg, r, f"activation {best_act}",
                           by_activation={a: {"val_accuracy": x[1].val_accuracy, "test_accuracy": x[1].test_accuracy}
                                          for a, x in results.items()})
        tracking.log_params(parent.info.run_id, {"best.activation": best_act})
        tracking.log_metrics(parent.info.run_id, {"best_val_accuracy": r.val_accuracy,
                                                  "best_test_accuracy": r.test_accuracy})
    write_json(out_path, summary)
    if metrics_path:
        write_metrics(metrics_path, r.val_accuracy, r.test_accuracy, time.perf_counter() - started)
    return summary


# ---------------------------------------------------------------- final network


@dataclass
class FinalOutputs:
    model: Path
    weights: Path
    history: Path
    summary: Path
    figure: Path


def run_final(params: Params, data_dir: Path, previous_path: Path, base_history_path: Path, outs: FinalOutputs,
              metrics_path: Path) -> dict:
    from mnistsum import registry
    from mnistsum.compare import ece
    from mnistsum.files import atomic_path, read_json

    started = time.perf_counter()
    p = params.final
    cfg = read_best(previous_path).replace(batch_norm=p.batch_norm)
    seed, batch = params.base.seed, params.base.batch_size
    stage_data = load_data(data_dir, 1.0, seed)
    data = stage_data.arrays
    run_params = {"config": cfg.to_dict(), "final": p.model_dump(), "seed": seed, "batch_size": batch}
    with tracking.start_run("nn", "final", stage="final", params=run_params) as run:
        rid = run.info.run_id
        tracking.log_datasets(rid, stage_data.inputs)
        t0 = time.perf_counter()
        result = nn.train(cfg, data, p.max_epochs, batch, seed, run_id=rid, label="final", patience=p.patience,
                          resample=p.resample_pairs)
        train_seconds = time.perf_counter() - t0
        best_epoch = int(np.argmax(result.history["val_accuracy"])) + 1
        tracking.log_metrics(rid, {"final_val_accuracy": result.val_accuracy,
                                   "final_test_accuracy": result.test_accuracy,
                                   "epochs_run": result.epochs_run, "best_epoch": best_epoch,
                                   "train_seconds": train_seconds,
                                   "seconds_per_epoch": train_seconds / max(1, result.epochs_run),
                                   "pairs_per_second": nn.pairs_per_second(result.model, stage_data.pairs["test"].x),
                                   "parameters": int(result.model.count_params()),
                                   "test_ece": ece(nn.predict_proba(result.model, stage_data.pairs["test"].x),
                                                   stage_data.pairs["test"].y.astype(np.int64),
                                                   params.compare.ece_bins)})
        with atomic_path(outs.model, suffix=".keras") as tmp:
            result.model.save(tmp)
        with atomic_path(outs.weights, suffix=".weights.h5") as tmp:
            result.model.save_weights(tmp)
        write_json(outs.history, result.history)
        base_history = read_json(base_history_path)
        save_figure(figures.accuracy_curves({"base": base_history, "final": result.history},
                                            "Base vs final network: accuracy per epoch"), outs.figure)
        tracking.log_files(rid, [outs.figure])
        val = data.val_pairs
        versions = registry.log_and_register(result.model, rid, [p.model_name, params.base.best_model_name], p.alias,
                                             result.val_accuracy, val_x=val.x, val_y=val.y, data_ids=stage_data.ids,
                                             params=run_params | {"code": nn.code_digest()}, family=cfg.family)
        summary = _summary(cfg, result, "final", run_id=rid, best_epoch=best_epoch,
                           stopped_early=result.stopped_early, registered=versions)
    write_json(outs.summary, summary)
    write_metrics(metrics_path, result.val_accuracy, result.test_accuracy, time.perf_counter() - started,
                  epochs_run=result.epochs_run, best_epoch=best_epoch)
    print(f"final: val {result.val_accuracy:.4f} test {result.test_accuracy:.4f} after {result.epochs_run} epochs; "
          + "; ".join(f"{v['name']} v{v['version']} ({v['alias_action']})" for v in versions))
    return summary
