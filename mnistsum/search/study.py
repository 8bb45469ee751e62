"""The study runner: one seeded, resumable Optuna study per stage, keyed by every input that changes its
result, every trial an MLflow child run of the study's one parent (shared by workers on many machines), pruned
on validation accuracy, capped at `n_trials` across workers."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import time
import warnings
from pathlib import Path

import keras
import matplotlib.pyplot as plt
import optuna
from optuna.trial import TrialState
from optuna.visualization import matplotlib as ovm

from mnistsum import models, tracking, training, workers
from mnistsum.data.feed import Arrays
from mnistsum.data.splits import load_data
from mnistsum.figures import save_figure
from mnistsum.files import write_json, write_metrics
from mnistsum.machine import Elsewhere
from mnistsum.models.specs import Spec
from mnistsum.params import Params, Search
from mnistsum.search import storage as study_storage
from mnistsum.search.spaces import FAMILY, search_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


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


def trial_run_name(stage: str, number: int) -> str:
    """Unique across studies, so a trial is never mistaken for another study's trial of the same number."""
    return f"{stage}/trial-{number:03d}"


def study_name(stage: str, section: Search, previous: Spec | None, data_id: str, seed: int, batch_size: int) -> str:
    """Every input that changes a trial's result -> the study's identity: the search settings, the starting
    point, the data's content, the seed, the batch size and the network-building code. So an interrupted
    stage resumes its own study, and a changed input starts a new one. Only n_trials may change."""
    key = json.dumps(
        {
            "section": section.model_dump(exclude={"n_trials"}),
            "previous": previous and previous.to_dict(),
            "data": data_id,
            "seed": seed,
            "batch_size": batch_size,
            "code": training.code_digest(FAMILY),
        },
        sort_keys=True,
        default=str,
    )
    return f"{stage}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def open_study(
    storage: optuna.storages.BaseStorage, name: str, section: Search, seed: int, worker_id: int = 0
) -> optuna.Study:
    """Create or join the study. Each worker's sampler is seeded from the base seed and its worker id."""
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=study_storage.sampler_seed(seed, worker_id), n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=section.pruner_startup_trials, n_warmup_steps=section.pruner_warmup_epochs
        ),
    )


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def run_study(
    stage: str,
    params: Params,
    data_dir: Path,
    previous_path: Path | None,
    storage_path: Path,
    out_path: Path | None,
    plots_dir: Path | None,
    metrics_path: Path | None = None,
    worker_id: int = 0,
    wait: bool = True,
) -> dict | None:
    """Run trials of the stage's study until it holds `n_trials` finished trials across every worker.

    The DVC stage is worker 0: it waits for the other workers' running trials too, then writes its outs.
    `mnistsum worker` runs other workers (out_path None): they run trials until the cap and write nothing."""
    section: Search = getattr(params, stage)
    seed, batch = params.base.seed, params.base.batch_size
    url = study_storage.storage_url(params.base.optuna_storage)
    tracking.check_reachable()  # before any work: an unreachable server fails in seconds, naming it
    storage = study_storage.make_storage(url, storage_path, params.base.heartbeat_seconds)
    previous = models.read_spec(previous_path) if previous_path else None
    stage_data = load_data(data_dir, section.train_fraction, seed)
    data = Arrays.from_pairs(stage_data.pairs["train"], stage_data.pairs["val"], stage_data.pairs["test"])
    name = study_name(stage, section, previous, stage_data.identity, seed, batch)
    study = open_study(storage, name, section, seed, worker_id)
    study_storage.recover(study)
    suggest = search_space(stage, params)
    where = study_storage.masked(url) if url else str(storage_path)
    print(
        f"{stage}: study {name} in {where} (worker {worker_id}), {len(finished_trials(study))}/{section.n_trials} "
        "trials finished",
        flush=True,
    )
    parent_id = tracking.study_parent(
        "nn",
        stage,
        name,
        stage=stage,
        params={
            "study": section.model_dump(),
            "study_name": name,
            "previous": previous.to_dict() if previous else {},
            "seed": seed,
            "batch_size": batch,
            "storage": "rdb" if url else "journal",
        },
        inputs=stage_data.inputs,
        regime=section.regime,
    )
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
        label = trial_run_name(stage, trial.number)
        with tracking.start_run(
            "nn",
            label,
            stage=stage,
            parent_run_id=parent_id,
            params={"config": cfg.to_dict(), **trial.params, "epochs": section.epochs, "worker_id": worker_id},
            tags={"optuna.study": name, "optuna.trial": str(trial.number)},
            regime=section.regime,
        ) as child:
            tracking.log_datasets(child.info.run_id, stage_data.inputs)
            result = training.train(
                cfg,
                data,
                section.epochs,
                batch,
                seed + trial.number,
                run_id=child.info.run_id,
                label=f"{stage} {label}",
                callbacks=[pruning],
                regime=section.regime,
                precision=params.base.precision,
            )
            state = "PRUNED" if pruning.pruned_at is not None else "COMPLETE"
            tracking.log_metrics(
                child.info.run_id,
                {
                    "final_val_accuracy": result.val_accuracy,
                    "final_test_accuracy": result.test_accuracy,
                    "epochs_run": result.epochs_run,
                },
            )
            # A pruned trial says so in its name: the runs table shows every finished run with the same tick.
            tracking.log_tags(
                child.info.run_id,
                {"trial_state": state}
                | (
                    {"mlflow.runName": f"{label} (pruned at epoch {pruning.pruned_at + 1})"}
                    if state == "PRUNED"
                    else {}
                ),
            )
            trial.set_user_attr("test_accuracy", result.test_accuracy)
            trial.set_user_attr("config", cfg.to_dict())
            trial.set_user_attr("mlflow_run_id", child.info.run_id)
        done = len(finished_trials(study)) + 1
        best = max([result.val_accuracy] + [t.value for t in study.get_trials(states=(TrialState.COMPLETE,))])
        print(
            f"{stage}: {label} {state.lower()} val {result.val_accuracy:.4f} "
            f"({done}/{section.n_trials}, best {best:.4f}, {time.perf_counter() - started:.0f}s)",
            flush=True,
        )
        if state == "PRUNED":
            raise optuna.TrialPruned()
        return result.val_accuracy

    cap = optuna.study.MaxTrialsCallback(section.n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED))

    def run_more() -> None:
        if len(finished_trials(study)) < section.n_trials:
            study.optimize(objective, callbacks=[cap], catch=(SurplusTrial,))

    with Elsewhere() as elsewhere:  # this sitting's share of the machine (its local workers are its own)
        helpers = start_local_workers(stage, params, data_dir, previous_path, storage_path) if wait else []
        run_more()
        for helper in helpers:  # each stops at the cap; its last trial is finished, or failed and retried here
            helper.join()
        if not wait:
            running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
            print(
                f"{stage}: worker {worker_id} done; {len(finished_trials(study))}/{section.n_trials} trials finished"
                + (f", {running} still running in other workers" if running else ""),
                flush=True,
            )
            return None
        study_storage.wait_until_finished(
            study, section.n_trials, run_more, log=lambda m: print(f"{stage}: {m}", flush=True)
        )
    with tracking.start_run("nn", stage, stage=stage, run_id=parent_id, regime=section.regime) as parent:
        completed = [t for t in study.trials if t.state == TrialState.COMPLETE]
        if not completed:
            raise RuntimeError(f"{stage}: no trial completed; raise n_trials or relax the pruner")
        best = study.best_trial
        finished = finished_trials(study)
        summary = {
            "config": best.user_attrs["config"],
            "val_accuracy": best.value,
            "test_accuracy": best.user_attrs["test_accuracy"],
            "source": f"{stage} trial {best.number}",
            "best_params": best.params,
            "study_name": name,
            "n_trials": len(finished),
            "n_pruned": sum(t.state == TrialState.PRUNED for t in finished),
            "run_id": parent_id,
        }
        # Tags, not params: a resumed study (a larger cap) may find a new best, and MLflow params never change.
        tracking.log_tags(parent.info.run_id, {f"best.{k}": str(v) for k, v in best.params.items()})
        tracking.log_metrics(
            parent.info.run_id,
            {
                "best_val_accuracy": best.value,
                "best_test_accuracy": best.user_attrs["test_accuracy"],
                "n_trials": summary["n_trials"],
                "n_pruned": summary["n_pruned"],
                **tracking.machine_metrics(elsewhere),
            },
        )
        tracking.log_tags(parent.info.run_id, {"best_trial": trial_run_name(stage, best.number)})
        tracking.log_files(parent.info.run_id, optuna_figures(study, stage, plots_dir))
    write_json(out_path, summary)
    if metrics_path:
        write_metrics(
            metrics_path,
            best.value,
            summary["test_accuracy"],
            n_trials=summary["n_trials"],
            n_pruned=summary["n_pruned"],
            n_failed=sum(t.state == TrialState.FAIL and not t.user_attrs.get("surplus") for t in study.trials),
            regime=section.regime,
        )
    print(f"{stage}: best trial {best.number} val {best.value:.4f} test {summary['test_accuracy']:.4f}")
    return summary


def start_local_workers(
    stage: str, params: Params, data_dir: Path, previous_path: Path | None, storage_path: Path
) -> list[multiprocessing.process.BaseProcess]:
    """`base.local_workers` - 1 more workers of this study on this machine, each in a fresh process on its share
    of the cores (this one takes its share too). They join the study through its storage as `mnistsum worker`
    does, so the cap, the seeding of each worker's sampler and resumption are the study's own. What changes:
    trials run concurrently, so which configuration TPE suggests next depends on which trials had finished,
    and a study's trials (and best) differ from run to run; local_workers: 1 runs them one after another."""
    n = params.base.local_workers
    if n <= 1:
        return []
    threads = workers.threads_per_worker(n)
    workers.use_threads(threads)
    context = multiprocessing.get_context("spawn")
    helpers = [
        context.Process(
            target=_local_worker,
            args=(threads, stage, params, data_dir, previous_path, storage_path, worker_id),
            name=f"{stage}-worker-{worker_id}",
        )
        for worker_id in range(1, n)
    ]
    for helper in helpers:
        helper.start()
    return helpers


def _local_worker(threads: int, stage: str, params: Params, data_dir, previous_path, storage_path, worker_id) -> None:
    workers.die_with_parent()  # a killed stage takes its local workers with it; their trials are retried
    workers.use_threads(threads)
    run_study(stage, params, data_dir, previous_path, storage_path, None, None, None, worker_id=worker_id, wait=False)


class SurplusTrial(Exception):
    """A trial started after the study already had its `n_trials` (another worker took the last place)."""


def _quiet_surplus(record) -> bool:
    # A surplus trial is bookkeeping, not an error: keep Optuna's traceback for it (and its echo) off the log.
    text = record.getMessage()
    return "SurplusTrial" not in text and not text.endswith("failed with value None.")


# On the logger Optuna reports failed trials from: a logger's filter sees only the records made on it, not its
# children's (the filter on "optuna" alone let the traceback through).
logging.getLogger("optuna.study._optimize").addFilter(_quiet_surplus)


def optuna_figures(study: optuna.Study, stage: str, plots_dir: Path) -> list[Path]:
    """Optuna's own optimisation-history and parameter-importance plots."""
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
