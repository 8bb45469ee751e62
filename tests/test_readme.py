"""The README's commands exist: make targets, mnistsum subcommands and options, files it names, and CI's command."""

import re
import shlex
from pathlib import Path

import pytest

from mnistsum.cli import parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
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


def test_named_files_exist():
    for path in re.findall(r"\b((?:scripts|benchmarks|profiles|pipelines|tests)/[\w./-]+\.(?:py|yaml))", README):
        assert (REPO / path).is_file(), path
    for cmd in COMMANDS:
        if cmd.startswith("cp profiles/"):
            assert (REPO / cmd.split()[1]).is_file()
