"""1, 2 and 4 workers on one Optuna study over PostgreSQL, with short trials: trials per minute, the scaling ratio
against one worker, and the storage's overhead per trial against the journal file.

Trials sleep for --trial-seconds (standing in for training on separate machines, so 2 cores do not cap the
scaling) and go through the project's own sharing rules: the cap across workers (mnistsum.study_storage), the
seeded sampler per worker, heartbeats on PostgreSQL. Starts its own PostgreSQL (mnistsum.services). Run by hand:

  .venv/bin/python benchmarks/workers.py --trials 40 --trial-seconds 0.5
"""

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from mnistsum.search import storage as study_storage
from mnistsum.services import start_postgres

optuna.logging.set_verbosity(optuna.logging.WARNING)


def work(url, journal, name, n_trials, trial_seconds, worker_id):
    storage = study_storage.make_storage(url, Path(journal), heartbeat_seconds=5)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=study_storage.sampler_seed(42, worker_id)),
    )

    def objective(trial):
        if study_storage.is_surplus(study, trial, n_trials):
            study.stop()
            raise RuntimeError("surplus")
        x = trial.suggest_float("x", -10, 10)
        time.sleep(trial_seconds)
        return x * x

    cap = optuna.study.MaxTrialsCallback(n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED))
    study.optimize(objective, callbacks=[cap], catch=(RuntimeError,))


def run(url, journal, workers, n_trials, trial_seconds):
    name = f"bench-{workers}-{time.time_ns()}"
    optuna.create_study(study_name=name, storage=study_storage.make_storage(url, Path(journal)))
    t0 = time.perf_counter()
    procs = [mp.Process(target=work, args=(url, journal, name, n_trials, trial_seconds, w)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    seconds = time.perf_counter() - t0
    study = optuna.load_study(study_name=name, storage=study_storage.make_storage(url, Path(journal)))
    done = sum(t.state == TrialState.COMPLETE for t in study.trials)
    return seconds, done, len(study.trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--trial-seconds", type=float, default=0.5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mnistsum-bench-"))
    pg = start_postgres(tmp / "pg")
    try:
        url = pg.create_database("bench")
        rows, base = [], None
        for workers in (1, 2, 4):
            seconds, done, created = run(url, str(tmp / "unused.log"), workers, args.trials, args.trial_seconds)
            base = base or seconds
            rows.append((workers, seconds, done, created, done / seconds * 60, base / seconds))
        overhead = {}
        for label, u in (("postgresql", url), ("journal file", None)):
            seconds, done, _ = run(u, str(tmp / f"j-{time.time_ns()}.log"), 1, args.trials, 0.0)
            overhead[label] = seconds / done * 1000
    finally:
        pg.stop()
    print(f"\n{args.trials} trials of {args.trial_seconds} s each, one study on PostgreSQL 15 (loopback)\n")
    print("| workers | wall s | complete trials | trials created | trials/min | speed-up vs 1 |")
    print("|---|---|---|---|---|---|")
    for w, s, d, c, rate, ratio in rows:
        print(f"| {w} | {s:.1f} | {d} | {c} | {rate:.0f} | {ratio:.2f}x |")
    print("\nstorage overhead per trial (no-op trials, one worker, incl. process start):")
    for label, ms in overhead.items():
        print(f"  {label}: {ms:.0f} ms")


if __name__ == "__main__":
    main()
