"""dvc.yaml lists exactly the library files each stage's script imports, transitively within mnistsum, plus the
family modules its params select (families are loaded by name, so no import names them)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

from mnistsum.params import Params, load_params

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "mnistsum"


def module_file(module: str) -> Path | None:
    """The file of a mnistsum module (a package's __init__.py), or None for anything outside mnistsum."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    base = REPO / Path(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (at any depth of the file, deferred imports included), with the packages
    Python imports on the way (importing a.b.c runs a/__init__.py and a/b/__init__.py)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from a.b import c` imports a.b, and a.b.c when c is a submodule.
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return found


def closure(files: list[Path]) -> set[Path]:
    """The mnistsum files these files import, transitively (the files themselves included if in mnistsum)."""
    seen: set[Path] = set()
    todo = list(files)
    while todo:
        path = todo.pop()
        for module in imported_modules(path):
            target = module_file(module)
            if target is not None and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen | {f for f in files if PACKAGE in f.relative_to(REPO).parts[:1]}


def families_selected(stage: str, params: Params) -> set[str]:
    """The families a stage loads by name, as its params select them."""
    mlp = {"base_mlp", "activation", "study1", "study2", "study3", "study4", "final"}
    if stage in mlp:
        return {"mlp"}
    section = getattr(params, stage, None)
    if section is not None and hasattr(section, "model"):  # a family's own stage
        return {section.model.family}
    if stage == "learning_curve":
        return set(params.learning_curve.families)
    if stage == "tsne":  # the final MLP's and the sumnet's saved models
        return {"mlp", params.sumnet.model.family}
    if stage == "compare":
        return {params.sumnet.model.family} if params.compare.sumnet else set()
    return set()


def expected_deps(stage: str, script: Path, params: Params) -> set[str]:
    families = [REPO / "mnistsum" / "models" / f"{f}.py" for f in families_selected(stage, params)]
    return {str(p.relative_to(REPO)) for p in closure([script, *families])}


def stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def script_of(stage: dict) -> Path:
    words = stage["cmd"].split()
    return REPO / next(w for w in words if w.startswith("pipelines/"))


@pytest.mark.parametrize("name", list(stages()))
def test_stage_depends_on_exactly_the_library_files_it_imports(name):
    stage = stages()[name]
    params = load_params(REPO / "params.yaml")
    script = script_of(stage)
    declared = {d for d in stage["deps"] if d.startswith(f"{PACKAGE}/") or d == PACKAGE}
    expected = expected_deps(name, script, params)
    missing, extra = sorted(expected - declared), sorted(declared - expected)
    assert not missing and not extra, f"dvc.yaml stage {name}: missing {missing}, extra {extra}"
    assert str(script.relative_to(REPO)) in stage["deps"], f"{name} does not depend on its script"


# base keys a stage may read without declaring them: where its state is kept and when a silent worker is given
# up on, not what it computes (as MLFLOW_TRACKING_URI); and params.py, which reads every key to validate it.
WHERE_NOT_WHAT = {"optuna_storage", "heartbeat_seconds", "model_dump"}


@pytest.mark.parametrize("name", list(stages()))
def test_stage_declares_the_base_params_its_code_reads(name):
    """A `params.base.KEY` read anywhere in the code a stage imports is in its dvc.yaml params, so that
    `dvc exp run -S base.KEY=...` re-runs it (the studies once read base.local_workers undeclared)."""
    stage = stages()[name]
    files = closure([script_of(stage)]) - {REPO / PACKAGE / "params.py"}
    reads = {key for f in files for key in re.findall(r"params\.base\.(\w+)", f.read_text())}
    declared = {p for p in stage.get("params", []) if isinstance(p, str)}
    missing = sorted(k for k in reads - WHERE_NOT_WHAT if f"base.{k}" not in declared and "base" not in declared)
    assert not missing, f"dvc.yaml stage {name} reads base.{missing} but does not list it in params"


def test_no_import_cycle_and_no_module_imports_a_stage():
    """Within mnistsum, imports form no cycle (a package's own __init__ aside), and only the CLI reaches into
    the stages (to run a study worker)."""
    files = sorted((REPO / PACKAGE).rglob("*.py"))

    def edges(path: Path) -> set[Path]:
        out = {module_file(m) for m in imported_modules(path)} - {None, path}
        return {t for t in out if not (t.name == "__init__.py" and t.parent in path.parents)}

    graph = {f: edges(f) for f in files}
    for start in files:
        seen, todo = set(), list(graph[start])
        while todo:
            node = todo.pop()
            assert node != start, f"import cycle through {start.relative_to(REPO)}"
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
    stages = REPO / PACKAGE / "stages"
    for f in files:
        if stages not in f.parents and f.name != "cli.py":
            reached = [t for t in graph[f] if stages in t.parents]
            assert not reached, f"{f.relative_to(REPO)} imports a stage: {reached}"


@pytest.mark.parametrize("name", list(stages()))
def test_every_path_the_command_names_is_a_dep_or_an_out(name):
    """A stage reads nothing it does not declare: each ${...} path on its command line is one of its outs (or
    inside one) or one of its deps (or inside one)."""
    stage = stages()[name]
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in (*stage.get("outs", []), *stage.get("metrics", []))]
    deps = stage["deps"]

    def inside(path: str, folders: list[str]) -> bool:
        return any(path == f or path.startswith(f + "/") for f in folders)

    def inside_any(paths: list[str], folder: str) -> bool:
        return any(p.startswith(folder + "/") for p in paths)

    words = stage["cmd"].replace("=", " ").split()
    # The Optuna journal is a study's own state, resumed after an interruption; the study's name holds every
    # input, so a changed input starts a new study in it rather than reusing trials (tests/search).
    journal = {words[i + 1] for i, w in enumerate(words) if w == "--storage"}
    paths = [w for w in words if "${" in w and w not in journal]
    # A folder whose declared parts are the deps (the report reads only the plot folders it names).
    undeclared = [p for p in paths if not inside(p, outs) and not inside(p, deps) and not inside_any(deps, p)]
    assert not undeclared, f"dvc.yaml stage {name}: the command reads {undeclared}, which are not deps"


def test_every_stage_has_a_script_in_pipelines():
    for name, stage in stages().items():
        assert script_of(stage).is_file(), name


def rewrite_deps(text: str, params: Params) -> str:
    """dvc.yaml's text with each stage's library deps replaced by the computed ones (other deps kept, in place)."""
    all_stages = yaml.safe_load(text)["stages"]
    out, stage = [], None
    lines = iter(text.splitlines())
    for line in lines:
        found = re.match(r"^  (\w+):$", line)
        stage = found.group(1) if found else stage
        if not line.startswith("    deps: ["):
            out.append(line)
            continue
        while not line.rstrip().endswith("]"):  # a flow list over several lines
            line += " " + next(lines).strip()
        items = [d.strip() for d in line.split("[", 1)[1].rsplit("]", 1)[0].split(",")]
        library = sorted(expected_deps(stage, script_of(all_stages[stage]), params))
        kept = [d for d in items if not d.startswith(f"{PACKAGE}/")]
        deps = kept[:1] + library + kept[1:]  # the script first, then the library, then data
        row, rows = "    deps: [", []
        for i, dep in enumerate(deps):
            piece = dep + ("]" if i == len(deps) - 1 else ",")
            if len(row) + len(piece) + 1 > 116 and not row.endswith("["):
                rows.append(row)
                row = " " * 11 + piece
            else:
                row += ("" if row.endswith("[") else " ") + piece
        out += rows + [row]
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # python tests/test_dvc_deps.py [--write]: print (or write) each stage's library deps
    current = (REPO / "dvc.yaml").read_text()
    updated = rewrite_deps(current, load_params(REPO / "params.yaml"))
    if "--write" in sys.argv:
        (REPO / "dvc.yaml").write_text(updated)
    print(
        "dvc.yaml is up to date"
        if updated == current
        else ("dvc.yaml rewritten" if "--write" in sys.argv else "dvc.yaml differs: run with --write")
    )
