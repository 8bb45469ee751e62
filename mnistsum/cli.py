"""The `mnistsum` command: predict with a registered model, diff two runs, browse them, join a study as a worker."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from mnistsum import experiments, fidelity, results, tracking
from mnistsum.data.images import read_grey
from mnistsum.errors import InputError, exits_cleanly
from mnistsum.models.served import SHAPE_TEXT, PixelError, model_input
from mnistsum.params import load_params, materialise
from mnistsum.services import wait_until_answers
from mnistsum.tracking.diff import diff_runs, format_diff, resolve_run
from mnistsum.tracking.pull import pull
from mnistsum.tracking.registry import load_sum_model

MAX_IMAGES = 100_000  # images in one .npz: a call's work is bounded whatever a file's header claims


def check_npz_size(path: Path) -> None:
    """Refuse an .npz whose `x` claims more than MAX_IMAGES images (or a non-image shape), from its header
    alone, before anything is decompressed or copied."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("x.npy") as member:
            version = np.lib.format.read_magic(member)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read(member)
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile):
        return  # not a well-formed .npz holding x.npy: np.load says what is wrong with it
    if shape and shape[0] > MAX_IMAGES:
        raise InputError(f"{path}: x holds {shape[0]:,} images; at most {MAX_IMAGES:,} a call (split the file)")
    if int(np.prod(shape, dtype=np.float64)) > MAX_IMAGES * 56 * 28:
        raise InputError(f"{path}: x of shape {shape} is larger than {MAX_IMAGES:,} images of 56x28")


def read_file(path: Path) -> np.ndarray:
    """The raw array in one input file, exactly as stored: a PNG's grayscale pixels, or an .npz's `x`."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory; expected a PNG or .npz file")
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.suffix == ".npz":
        check_npz_size(path)
        try:
            loaded = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # an .npy under an .npz name loads as a bare array
            raise InputError(f"{path}: not an .npz archive (expected an .npz holding x of shape {SHAPE_TEXT})")
        with loaded as f:
            if "x" not in f.files:
                raise InputError(f"{path}: no array 'x' (expected x of shape {SHAPE_TEXT})")
            try:
                return f["x"]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                raise InputError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None
    return read_grey(path, [(56, 28)])[None]


def read_images(paths: list[Path]) -> tuple[list[str], np.ndarray]:
    """Every image of every file, checked against the one input contract (mnistsum.models.served.model_input)
    file by file, so an error names the file; returns names and the images as (n, 56, 28) floats in [0, 1]
    (one form for every file, which the model's own check accepts as it is)."""
    names, arrays = [], []
    for path in paths:
        try:
            x = model_input(read_file(path), source=str(path)) / np.float32(255.0)
        except PixelError as exc:
            raise InputError(str(exc)) from None
        names += [str(path)] if path.suffix != ".npz" else [f"{path}[{i}]" for i in range(len(x))]
        arrays.append(x)
    return names, np.concatenate(arrays)


def cmd_predict(args: argparse.Namespace) -> None:
    names, x = read_images(args.files)
    import_tensorflow_quietly()
    model = load_sum_model(args.model)
    width = max(len(n) for n in names)
    if not model.has_digits:
        for name, p in zip(names, model.predict_proba(x)):
            print(f"{name:<{width}}  sum {int(p.argmax()):2d}  probability {p.max():.3f}")
        return
    # The sumnet also says which two digits it read, each with its own probability.
    for name, p, top, bottom in zip(names, *model.predict_digits(x)):
        print(
            f"{name:<{width}}  sum {int(p.argmax()):2d}  probability {p.max():.3f}  "
            f"digits {int(top.argmax())} ({top.max():.3f}) + {int(bottom.argmax())} ({bottom.max():.3f})"
        )


def cmd_pull(args: argparse.Namespace) -> None:
    folder = pull(args.model, args.folder)
    print(
        f"pulled {args.model} into {folder}: load it with mlflow.pyfunc.load_model({str(folder)!r}); "
        f"it needs only {folder / 'requirements.txt'}"
    )


def cmd_runs_diff(args: argparse.Namespace) -> None:
    a, b = resolve_run(args.a, args.experiment), resolve_run(args.b, args.experiment)
    diff = diff_runs(a, b, show_all=args.all)
    if args.json:
        print(json.dumps(diff, indent=2, sort_keys=True))
    else:
        print(format_diff(diff))


def cmd_worker(args: argparse.Namespace) -> None:
    """Join a study stage's Optuna study as one more worker: the stage's command is read from dvc.yaml, so the
    worker sees exactly the data, previous result and storage the stage does. Writes no outs."""
    # deferred: the study stage imports TensorFlow, and DVC is slow to import; other commands need neither
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    from mnistsum.search.spaces import SEARCH_STAGES
    from mnistsum.stages import command, studies

    if args.stage not in SEARCH_STAGES:
        raise InputError(f"stage {args.stage!r}: only the study stages have workers ({', '.join(SEARCH_STAGES)})")

    try:
        with Repo(str(args.repo)) as repo:
            cmd = repo.stage.collect(args.stage)[0].cmd
    except DvcException as exc:
        raise InputError(f"{args.repo}: cannot read stage {args.stage!r} from dvc.yaml ({exc})") from None
    # The stage's own command line ("python pipelines/study.py study1 --data ..."), read by the stage's parser.
    argv = shlex.split(cmd)
    script = next((i for i, part in enumerate(argv) if part.endswith(".py")), None)
    if script is None:
        raise InputError(f"{args.repo}/dvc.yaml: stage {args.stage!r} runs no Python script ({cmd!r})")
    stage_args = command.parser(studies.Paths, stages=SEARCH_STAGES).parse_args(argv[script + 1 :])
    paths = dataclasses.replace(command.paths(studies.Paths, stage_args, args.repo), out=None, plots=None, metrics=None)
    worker_id = args.worker_id if args.worker_id is not None else _worker_id()
    studies.run(load_params(args.repo / stage_args.params), paths, stage_args.stage, worker_id=worker_id)


def _worker_id() -> int:
    """Distinct per machine and process (worker 0 is the DVC stage itself)."""
    return 1 + int(hashlib.sha256(tracking.this_process().encode()).hexdigest()[:8], 16) % 999_983


def cmd_exps(args: argparse.Namespace) -> None:
    shown = experiments.with_baseline(experiments.columns(experiments.exp_show(str(args.repo))), args.baseline)
    print(experiments.table(shown, args.width, experiments.stage_order(str(args.repo))))


def cmd_check_params(args: argparse.Namespace) -> None:
    params = load_params(args.file)
    print(f"{args.file}: valid ({len(type(params).model_fields)} sections, every key present)")


def cmd_results(args: argparse.Namespace) -> None:
    results.write(args.metrics, args.benchmark, args.page, args.readme)
    print(f"{args.page}, {args.readme}: rendered from {args.metrics}/")


def cmd_fidelity(args: argparse.Namespace) -> None:
    root = args.run
    if args.restore:
        done = fidelity.restore(args.restore, args.run)
        print(f"{args.run}: restored {', '.join(done) or 'no stage'} from {args.restore} (dvc repro -s runs the rest)")
        return
    if args.stages and not args.keep:
        raise InputError("--stages: needs --keep DEST, the kept run this sitting adds to (e.g. docs/report_scale)")
    if args.probe:
        if not args.keep:
            raise InputError("--probe NAME: needs --keep DEST, the kept run it probes (e.g. docs/report_scale)")
        dest = fidelity.keep_probe(args.run, args.keep, args.probe, args.why, args.stages)
        print(f"{dest}: changes {fidelity.changed_settings(args.keep, dest)}")
        root = args.keep
    elif args.keep and args.stages:
        fidelity.keep(args.run, args.keep, args.stages, args.seconds)
        print(f"{args.keep}: kept {', '.join(args.stages)} (render it with: mnistsum fidelity --run {args.keep})")
        return
    elif args.keep:
        fidelity.keep(args.run, args.keep, seconds=args.seconds)
        root = args.keep
    within, compared = fidelity.write(root, args.page, args.json, str(root))
    print(f"{args.page}, {args.json}: {within} of {compared} accuracies within {fidelity.TOLERANCE} (run: {root})")


def cmd_params(args: argparse.Namespace) -> None:
    materialise(args.profile, args.base, args.out)
    print(f"{args.out}: {args.base} + {args.profile}, every key valid (back to the default: git checkout {args.base})")


def cmd_ui(args: argparse.Namespace) -> None:
    """`mlflow ui` on the project's store, after opening it once: a moved or copied clone's artifact paths are
    re-rooted first, so the UI shows this clone's figures and models."""
    uri = tracking.tracking_uri()
    if not uri.startswith("sqlite:"):
        raise InputError(
            f"MLFLOW_TRACKING_URI={tracking.without_secret(uri)} is not a local store: open that "
            "server's page, or run mlflow ui against the database yourself"
        )
    tracking.configure(read_only=True)
    run_server(
        ["-m", "mlflow", "ui", "--backend-store-uri", uri],
        args.host,
        args.port,
        f"MLflow UI on http://{args.host}:{args.port}/#/experiments?workflowType=machine_learning",
        "/health",
    )


def cmd_serve(args: argparse.Namespace) -> None:
    """MLflow's scoring server for a registered model from the project's store, in this environment, behind a
    guard that bounds every request (mnistsum.serving), from any folder (the store is found as every mnistsum
    command finds it)."""
    tracking.configure(read_only=True)
    run_server(
        ["-m", "mnistsum.serving", args.model],
        args.host,
        args.port,
        f'serving {args.model} on http://{args.host}:{args.port}/invocations (POST JSON {{"inputs": ...}})',
        "/ping",
        # The server process looks the store up itself, from any folder.
        env={"MLFLOW_TRACKING_URI": tracking.absolute_uri(tracking.tracking_uri())},
    )


def cmd_demo(args: argparse.Namespace) -> None:
    """The Gradio page over a registered model, pulled through MLflow as users pull it."""
    free_port(args.host, args.port)
    import_tensorflow_quietly()
    # deferred: Gradio is slow to import and only this command needs it
    from mnistsum import demo

    demo.serve(args.model, args.host, args.port)


def port_number(text: str) -> int:
    """A --port value: a TCP port, 1-65535 (argparse turns the ValueError into one usage line)."""
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(text)
    return port


def free_port(host: str, port: int) -> None:
    """One error line when a server could not listen on host:port, before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        # As the servers do: a port a stopped server left in TIME_WAIT is free; one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InputError(
                f"cannot serve on {host}:{port}: {exc.strerror or exc} "
                "(another server holds the port? choose one with --port)"
            ) from None


def run_server(
    python_args: list[str], host: str, port: int, ready: str, health: str, env: dict[str, str] | None = None
) -> None:
    """Run a server (`python <python_args> --host H --port P`) until it stops, once its port is known to be
    free (otherwise MLflow prints its banner, fails among INFO lines, and exits 0): say it is starting, then
    `ready` once `health` answers (the UI takes about a minute on 2 cores). A signal to this process stops the
    server too."""
    free_port(host, port)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(f"starting on {url} ...", flush=True)
    command = [sys.executable, *python_args, "--host", host, "--port", str(port)]
    server = subprocess.Popen(command, env=os.environ | (env or {}))

    stopped: list[int] = []

    def stop(signum, _frame):
        stopped.append(signum)
        server.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        wait_until_answers(url + health, server, timeout=600, what="the server")
        print(ready, flush=True)
    except RuntimeError as exc:
        if server.poll() is None:  # one that exited has said why itself
            print(f"error: {exc}", file=sys.stderr, flush=True)
    code = server.wait()
    # A stop asked for (kill, Ctrl-C) is a clean end, status 0, however the server ended on it (uvicorn re-raises
    # the signal it shut down on); any other death by a signal is the shell's 128 + signal.
    if stopped and code in (0, -stopped[-1]):
        code = 0
    sys.exit(128 - code if code < 0 else code)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mnistsum", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    pr = sub.add_parser("predict", help="predict the sum for grayscale PNGs of 56 rows x 28 columns, or .npz files")
    pr.add_argument(
        "--model",
        default="models:/mnistsum@champion",
        help="MLflow model URI (default: the best family on validation; "
        "models:/mnistsum-sumnet@champion, -cnn or -mlp for one family)",
    )
    pr.add_argument("files", nargs="+", type=Path)
    pr.set_defaults(func=cmd_predict)

    pl = sub.add_parser("pull", help="a registered model's files in a folder, to load where mnistsum is not installed")
    pl.add_argument("folder", type=Path, help="where the model goes (a new folder, or one a pull filled before)")
    pl.add_argument("--model", default="models:/mnistsum@champion", help="MLflow model URI")
    pl.set_defaults(func=cmd_pull)

    runs = sub.add_parser("runs", help="inspect MLflow runs").add_subparsers(dest="runs_command", required=True)
    diff = runs.add_parser("diff", help="params, metrics and tags of two runs side by side")
    diff.add_argument("a", help="run id, or run name (with --experiment)")
    diff.add_argument("b")
    diff.add_argument("--experiment", help="experiment name to look run names up in (default: all)")
    diff.add_argument("--all", action="store_true", help="show identical values too")
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    diff.set_defaults(func=cmd_runs_diff)

    wk = sub.add_parser("worker", help="run trials of a study stage's Optuna study (shared storage: many machines)")
    wk.add_argument("stage", help="study1, study2, study3 or study4")
    wk.add_argument("--worker-id", type=int, help="seeds this worker's sampler (default: from host and pid)")
    wk.add_argument("--repo", type=Path, default=Path("."), help="the mnistsum checkout (dvc.yaml, params, data)")
    wk.set_defaults(func=cmd_worker)

    sv = sub.add_parser("serve", help="serve a registered model over HTTP (MLflow's scoring server, guarded)")
    sv.add_argument("--model", default="models:/mnistsum@champion", help="MLflow model URI")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=port_number, default=5001)
    sv.set_defaults(func=cmd_serve)

    ex = sub.add_parser("exps", help="DVC experiments against their reference: changed params, headline accuracies")
    ex.add_argument("--repo", type=Path, default=Path("."))
    ex.add_argument("--width", type=int, default=120, help="the most characters a line may take")
    ex.add_argument(
        "--baseline",
        help="the column to compare with (an experiment's name, e.g. one run with dvc exp run -n baseline on this "
        "machine; default: the reference commit)",
    )
    ex.set_defaults(func=cmd_exps)

    cp = sub.add_parser("check-params", help="validate a params file: unknown, missing and invalid keys, all at once")
    cp.add_argument("file", nargs="?", type=Path, default=Path("params.yaml"))
    cp.set_defaults(func=cmd_check_params)

    rs = sub.add_parser(
        "results", help="render docs/results.md and the README's headline from metrics/ (reference run)"
    )
    rs.add_argument("--metrics", type=Path, default=Path("metrics"), help="the stages' metrics files")
    rs.add_argument("--benchmark", type=Path, default=Path("docs/mnist_addition.json"), help="protocol benchmark JSON")
    rs.add_argument("--page", type=Path, default=Path("docs/results.md"))
    rs.add_argument("--readme", type=Path, default=Path("README.md"))
    rs.set_defaults(func=cmd_results)

    fd = sub.add_parser("fidelity", help="every number of the study report beside one run's (docs/fidelity.md)")
    fd.add_argument("--run", type=Path, default=Path("."), help="the run's root: the workspace after dvc repro")
    fd.add_argument("--keep", type=Path, help="first copy the run's files here (e.g. docs/report_scale), render that")
    fd.add_argument("--probe", help="keep --run as a probe of the run kept in --keep: --keep/probes/PROBE/")
    fd.add_argument("--why", default="", help="with --probe: the cause it measures, in one line")
    fd.add_argument(
        "--stages",
        nargs="+",
        help="with --keep: only these stages' files (one sitting of a long run); keeps, does not render",
    )
    fd.add_argument("--seconds", type=float, help="with --keep: the sitting's wall time, kept in sittings.json")
    fd.add_argument("--restore", type=Path, help="copy a kept run's files into --run (a fresh clone) and stop")
    fd.add_argument("--page", type=Path, default=Path("docs/fidelity.md"))
    fd.add_argument("--json", type=Path, default=Path("docs/fidelity.json"))
    fd.set_defaults(func=cmd_fidelity)

    pm = sub.add_parser("params", help="write the complete params file: params.yaml + a profile's overlay")
    pm.add_argument("profile", type=Path, help="an overlay, such as profiles/tiny.yaml or profiles/report.yaml")
    pm.add_argument("--base", type=Path, default=Path("params.yaml"), help="the complete file the profile changes")
    pm.add_argument("--out", type=Path, default=Path("params.yaml"), help="where the complete file goes")
    pm.set_defaults(func=cmd_params)

    dm = sub.add_parser("demo", help="a page to draw two digits and watch the registered model read them (Gradio)")
    dm.add_argument("--model", default="models:/mnistsum@champion", help="MLflow model URI")
    dm.add_argument("--host", default="127.0.0.1")
    dm.add_argument("--port", type=port_number, default=7860)
    dm.set_defaults(func=cmd_demo)

    ui = sub.add_parser("ui", help="browse the runs: mlflow ui on the project's store (re-rooted if moved)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=port_number, default=5000)
    ui.set_defaults(func=cmd_ui)

    return p


def quiet_libraries() -> None:
    """A command-line user wants the answer or one error line, not MLflow's migration or TF's CPU chatter
    (MLflow sets its loggers' levels on import, which happened above)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before anything imports TensorFlow
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per pull of a dozen small files
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


def import_tensorflow_quietly() -> None:
    """TensorFlow's C++ start-up banners (oneDNN, CPU features) go through absl before its log level applies,
    so TF_CPP_MIN_LOG_LEVEL cannot stop them: import it with the stderr descriptor pointed at /dev/null."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import tensorflow  # noqa: F401  (deferred on purpose: this is the quiet TensorFlow import)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


@exits_cleanly
def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv if argv is not None else sys.argv[1:])
    quiet_libraries()
    args.func(args)


if __name__ == "__main__":
    main()
