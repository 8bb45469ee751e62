"""One exception type for bad input: the CLI and the stages turn it into a one-line message and exit 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable


class InputError(Exception):
    """A file, key, shape or name that is not what was expected; the message says which and what."""


def exits_cleanly(main: Callable[..., None]) -> Callable[..., None]:
    """Run an entry point; bad input becomes one line on stderr and exit status 2, not a traceback."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> None:
        try:
            main(*args, **kwargs)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

    return wrapper
