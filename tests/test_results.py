"""docs/results.md and the README's results table are rendered from the committed metrics, never typed: re-rendered
here from the files as committed (git HEAD, so a local `dvc repro` does not fail it) and compared."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mnistsum import results
from mnistsum.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def _committed(tmp_path: Path) -> Path:
    """The files results are rendered from and into, as committed (the working tree where there is no git)."""
    out = tmp_path / "committed"
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "-r", "--name-only", "HEAD", "metrics", "docs", "README.md"],
        capture_output=True,
        text=True,
    )
    if listed.returncode != 0:
        for name in ("metrics", "docs", "README.md"):
            (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, out / name)
        return out
    for name in listed.stdout.split():
        text = subprocess.run(["git", "-C", str(REPO), "show", f"HEAD:{name}"], capture_output=True, check=True).stdout
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(text)
    return out


def test_the_committed_pages_are_what_the_committed_metrics_render(tmp_path):
    root = _committed(tmp_path)
    readme = (root / "README.md").read_text()
    page, rendered_readme = results.render(root / "metrics", root / "docs" / "mnist_addition.json", readme)
    assert (root / "docs" / "results.md").read_text() == page, "docs/results.md differs: run `mnistsum results`"
    assert readme == rendered_readme, "README.md's results table differs: run `mnistsum results`"


def _metrics(tmp_path: Path, **files: dict) -> Path:
    folder = tmp_path / "metrics"
    folder.mkdir()
    for stage, data in files.items():
        (folder / f"{stage}.json").write_text(json.dumps(data))
    return folder


def test_every_number_comes_from_the_files(tmp_path):
    folder = _metrics(
        tmp_path,
        final={"val_accuracy": 0.91234, "test_accuracy": 0.93456, "test_ece": 0.01, "regime": "digits"},
        sumnet={"val_accuracy": 0.98, "test_accuracy": 0.99, "mnist_test_digit_accuracy": 0.995, "regime": "sums"},
        learning_curve={
            "sums": {"mlp": {"100": 0.25, "48000": 0.77777}, "sumnet": {"100": 0.5}},
            "digits": {"mlp": {"100": 0.66666}},
            "train_pairs": 48000,
            "regime": "digits,sums",
        },
    )
    readme = f"intro\n{results.README_BEGIN}\nold\n{results.README_END}\nrest\n"
    page, new_readme = results.render(folder, None, readme)
    assert "| final | digits | 0.9123 | 0.9346 |  |" in page
    assert "| final | digits | 0.9346 | 0.9300 | +0.0046 |" in page  # beside the report's 0.9300
    assert "| sums | mlp | - | 0.7778 | - | - | learning_curve |" in page  # the all-pairs point of another regime
    assert "| 100 | sums | 0.2500 | - | 0.5000 |" in page and "| 100 | digits | 0.6667 | - | - |" in page
    assert "| sums | sumnet | 0.9800 | 0.9900 | 0.9950 |" in page
    assert new_readme.startswith("intro\n") and new_readme.endswith("rest\n") and "old" not in new_readme
    assert "| final | digits | 0.9123 | 0.9346 |  |" in new_readme
    protocol = [{"family": "sumnet", "seed": s, "test_accuracy": a, "test_digit_accuracy": 0.99, "minutes": 7.0}
                for s, a in enumerate((0.98, 0.99))]  # fmt: skip
    (tmp_path / "bench.json").write_text(json.dumps(protocol))
    page, _ = results.render(folder, tmp_path / "bench.json", readme)
    assert "| sumnet | - | 2 | 0.9850 +- 0.0071 | 0.9900 +- 0.0000 | 7.0 |" in page  # made before the field
    recorded = [{**r, "batch_norm": bn} for r, bn in zip(protocol, (True, False), strict=True)]
    (tmp_path / "bench.json").write_text(json.dumps(recorded))
    page, _ = results.render(folder, tmp_path / "bench.json", readme)
    assert "| sumnet | yes | 1 | 0.9800 +- 0.0000 |" in page and "| sumnet | no | 1 | 0.9900 +- 0.0000 |" in page


def test_a_readme_without_the_block_or_no_metrics_is_refused(tmp_path):
    folder = _metrics(tmp_path, final={"val_accuracy": 0.9, "test_accuracy": 0.9, "regime": "digits"})
    with pytest.raises(InputError, match="README.md: no results block"):
        results.render(folder, None, "no block here\n")
    with pytest.raises(InputError, match="no metrics files"):
        results.render(tmp_path / "empty", None, "")


def test_the_n_digit_runs_render_by_n_and_recipe_beside_the_published_table(tmp_path):
    """Seeds of one N and recipe kept in several files make one row; a seed kept twice is refused by name."""
    folder = _metrics(tmp_path, final={"val_accuracy": 0.9, "test_accuracy": 0.9, "regime": "digits"})

    def row(n, prior, seed, acc, **recipe):
        return {"epochs": 8, **recipe, "digits": n, "digit_prior": prior, "seed": seed, "test_accuracy": acc,
                "test_digit_accuracy": 0.99, "minutes": 10.0, "train_examples": 13500, "val_examples": 1500,
                "test_examples": 2500}  # fmt: skip

    (tmp_path / "mnist_addition_n2.json").write_text(json.dumps([row(2, 1.0, 0, 0.97), row(2, 1.0, 1, 0.98)]))
    (tmp_path / "mnist_addition_n2_more.json").write_text(
        json.dumps(
            [
                row(2, 1.0, 2, 0.99),
                row(2, 0.0, 0, 0.2),
                row(2, 1.0, 0, 0.5, lead_weight=0.5),
                row(2, 1.0, 0, 0.6, epochs=14),
                row(2, 1.0, 0, 0.7, batch_norm=False),
            ]
        )
    )
    readme = f"{results.README_BEGIN}\n{results.README_END}\n"
    page, _ = results.render(folder, tmp_path / "mnist_addition.json", readme)
    assert (
        "| N=2 | 1 | 0 | 8 | yes | 13,500 / 1,500 / 2,500 | 0, 1, 2 | 0.9800 +- 0.0100 | 0.9900 +- 0.0000 | 10.0 | "
        "`mnist_addition_n2.json`, `mnist_addition_n2_more.json` |" in page
    )
    assert "| N=2 | 0 | 0 | 8 | yes | 13,500 / 1,500 / 2,500 | 0 | 0.2000 +- 0.0000 |" in page
    assert "| N=2 | 1 | 0.5 | 8 | yes | 13,500 / 1,500 / 2,500 | 0 | 0.5000 +- 0.0000 |" in page  # its own recipe
    assert "| N=2 | 1 | 0 | 14 | yes | 13,500 / 1,500 / 2,500 | 0 | 0.6000 +- 0.0000 |" in page  # and its budget
    # Rows made before the encoder's batch norm was recorded had it on; one recorded without is its own row.
    assert "| N=2 | 1 | 0 | 8 | no | 13,500 / 1,500 / 2,500 | 0 | 0.7000 +- 0.0000 |" in page
    assert "| DeepProofLog (AAAI 2026) | - | 0.940 +- 0.003 (25 min) |" in page
    (tmp_path / "mnist_addition_n2_again.json").write_text(json.dumps([row(2, 1.0, 1, 0.5)]))
    refused = r"n2_again.json: N=2 prior 1.0 lead 0.0 epochs 8 batch norm True seed 1 is also in .*n2.json"
    with pytest.raises(InputError, match=refused):
        results.render(folder, tmp_path / "mnist_addition.json", readme)
