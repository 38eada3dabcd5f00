"""Progress reporting: hatch's ``app.display_*`` in a build, stderr elsewhere."""

from __future__ import annotations

import sys
from typing import Protocol

LEVELS = ("info", "waiting", "warning", "success")


class Progress(Protocol):
    """Receives one progress message with its level (one of LEVELS)."""

    def __call__(self, level: str, message: str) -> None: ...


def print_progress(level: str, message: str) -> None:
    """Print MESSAGE to stderr; the default when no build front end displays it."""
    del level
    print(message, file=sys.stderr, flush=True)
