"""The README's commands exist: make targets, mnistsum subcommands and options, files it and docs/ name, links
between them, and CI's command."""

import re
import shlex
from pathlib import Path

import pytest

from mnistsum.cli import parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
# The README and the longer records it links to (docs/*.md): what they name must exist.
PAGES = {path: path.read_text() for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]}
COMMANDS = [
    line.split("#")[0].strip()
    for block in re.findall(r"```bash\n(.*?)```", README, re.S)
    for line in block.splitlines()
    if line.split("#")[0].strip()
]


def test_ci_runs_the_readmes_test_command():
    assert "make test" in COMMANDS
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_make_targets_exist():
    makefile = (REPO / "Makefile").read_text()
    for cmd in COMMANDS:
        if cmd.startswith("make "):
            assert re.search(rf"^{cmd.split()[1]}:", makefile, re.M), cmd


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.startswith("mnistsum ")])
def test_mnistsum_commands_parse(cmd):
    # Only this command: up to a pipe, a chain (&&) or a background &.
    argv = shlex.split(re.split(r"\s*(?:&&|\||&$)", cmd.replace("<", "").replace(">", ""))[0])[1:]
    args = parser().parse_args(argv)
    assert callable(args.func)


# The research probes docs/research.md records, removed once written up (`git checkout 27643bb` has them).
REMOVED_PROBES = {
    f"benchmarks/{name}.py"
    for name in (
        "sumnet_readout sumnet_ensemble sumnet_elastic sumnet_self_training sumnet_digit_readings sumnet_recipe "
        "small_budget_recipes full_size_point digits_feed final_accuracy report_scale_baselines tsne_impl "
        "make_pairs demo_chain"
    ).split()
}


def test_named_files_exist():
    for page, text in PAGES.items():
        for path in re.findall(r"\b((?:scripts|benchmarks|profiles|pipelines|tests)/[\w./-]+\.(?:py|yaml))", text):
            history = page.parent.name == "docs" and path in REMOVED_PROBES
            assert history or (REPO / path).is_file(), f"{page.name}: {path}"
    assert not any((REPO / path).exists() for path in REMOVED_PROBES)
    for cmd in COMMANDS:
        if cmd.startswith("cp profiles/"):
            assert (REPO / cmd.split()[1]).is_file()


def _anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_pages_resolve():
    links = 0
    for page, text in PAGES.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.is_file(), f"{page.name}: link to {target}"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{page.name}: no heading for #{anchor}"
            links += 1
    assert links >= 5  # the README links its figures and both docs pages
