"""`mnistsum exps`'s table, from the JSON `dvc exp show` gives (the end-to-end run is in test_pipeline.py)."""

import pytest

from mnistsum.errors import InputError
from mnistsum.experiments import columns, reference_label, table, with_baseline


def _rev(rev: str, params: dict, headline: dict, name: str | None = None) -> dict:
    metrics = {f"metrics/{stage}.json": {"data": data} for stage, data in headline.items()}
    return {"rev": rev, "name": name, "data": {"params": {"params.yaml": {"data": params}}, "metrics": metrics}}


def test_rows_follow_the_pipeline_and_no_label_is_cut():
    # DVC lists metrics files alphabetically; the table follows dvc.yaml's stage order instead.
    headline = {
        "compare": {"train_pairs": 10000, "sequential_test_accuracy": 0.85, "regime": {"sequential": "digit-labels"}},
        "forest": {"val_accuracy": 0.29, "test_accuracy": 0.30, "default_test_accuracy": 0.74, "regime": "sums"},
        "base_mlp": {"val_accuracy": 0.67, "test_accuracy": 0.68},
    }
    experiment = {**headline, "forest": {"val_accuracy": 0.36, "test_accuracy": 0.37, "default_test_accuracy": 0.74}}
    base = _rev("a" * 40, {"forest": {"overfit_gap": 0.1}}, headline, name="main")
    base["experiments"] = [{"revs": [_rev("b" * 40, {"forest": {"overfit_gap": 0.15}}, experiment, "cedar")]}]
    lines = table(columns([base]), 120, ["base_mlp", "forest", "compare"]).splitlines()
    rows = lines[lines.index("accuracy (val, test)") + 1 : -1]
    labels = [" ".join(line.split()[:2]) for line in rows]
    assert labels == [
        "base_mlp val",
        "base_mlp test",
        "forest val",
        "forest test",
        "forest default_test",
        "compare sequential_test",
    ], lines
    assert any(line.split()[-1] == "0.3700*" for line in lines if "forest test" in line), lines
    assert max(len(line) for line in lines) <= 120


def test_reference_column_names_branch_and_commit_without_repeating_the_sha():
    sha = "fe81613" + "0" * 33
    assert reference_label("main", sha) == "main@fe81613"
    # A detached HEAD: DVC names the commit by its sha (or not at all); the heading is that sha, once.
    assert reference_label("fe81613", sha) == "fe81613"
    assert reference_label(None, sha) == "fe81613"
    # A branch too long for branch@sha keeps the branch, cut to the cell by the table.
    assert reference_label("issue-24-families", sha) == "issue-24-families"
    lines = table(columns([_rev(sha, {}, {"forest": {"test_accuracy": 0.3}}, "fe81613")])).splitlines()
    assert lines[0].split() == ["fe81613"], lines


def test_a_baseline_from_another_machine_is_marked_and_one_from_this_machine_is_not():
    """The committed reference was made elsewhere (or before metrics named their machine): every number the
    experiment re-made here says so; against a baseline run on this machine only the changed stage differs."""
    here, there = "AMD EPYC, avx2, 2 cores", "Intel Xeon, amx, 2 cores"

    def stages(machine: str | None, forest_test: float, final_test: float) -> dict:
        tag = {"machine": machine} if machine else {}
        return {
            "forest": {"val_accuracy": 0.29, "test_accuracy": forest_test, **tag},
            "final": {"val_accuracy": 0.95, "test_accuracy": final_test, **tag},
        }

    base = _rev("a" * 40, {"forest": {"overfit_gap": 0.1}}, stages(there, 0.30, 0.9511), name="main")
    base["experiments"] = [
        {"revs": [_rev("c" * 40, {"forest": {"overfit_gap": 0.15}}, stages(here, 0.37, 0.9473), "cedar")]},
        {"revs": [_rev("b" * 40, {"forest": {"overfit_gap": 0.1}}, stages(here, 0.30, 0.9473), "baseline")]},
    ]
    cols = columns([base])
    against_reference = table(cols, 120, ["final", "forest"])
    final_row = next(line for line in against_reference.splitlines() if line.strip().startswith("final test"))
    assert final_row.split()[-1] == "0.9473*~", against_reference  # looks changed: the machine, not the param
    assert f"~ made on another machine than the baseline: {here}\n  (baseline: {there})" in against_reference
    assert max(len(line) for line in against_reference.splitlines()) <= 120

    against_own = table(with_baseline(cols, "baseline"), 120, ["final", "forest"])
    rows = {" ".join(line.split()[:2]): line.split()[2:] for line in against_own.splitlines()}
    assert rows["final test"] == ["0.9473", "0.9511*~", "0.9473"], against_own  # the experiment: unchanged
    assert rows["forest test"] == ["0.3000", "0.3000~", "0.3700*"], against_own  # only what the param moved
    assert "baseline (first column, baseline)" in against_own

    # Metrics written before they named their machine count as another machine's.
    old = _rev("a" * 40, {}, stages(None, 0.30, 0.9511), name="main")
    old["experiments"] = [{"revs": [_rev("b" * 40, {}, stages(here, 0.30, 0.9511), "again")]}]
    assert "baseline: unrecorded" in table(columns([old]))
    with pytest.raises(InputError, match="--baseline nope: no such column"):
        with_baseline(cols, "nope")
