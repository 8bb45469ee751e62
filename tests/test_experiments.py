"""`mnistsum exps`'s table, from the JSON `dvc exp show` gives (the end-to-end run is in test_pipeline.py)."""

from mnistsum.experiments import columns, reference_label, table


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
