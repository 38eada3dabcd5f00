"""Progress reporting: hatch's ``app.display_*`` in a build, stderr elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import Protocol

LEVELS = ("info", "waiting", "warning", "success")
# Seconds between "still booting" lines, so a slow TCG boot does not look hung.
BOOT_HEARTBEAT_SECONDS = 60.0


class Progress(Protocol):
    """Receives one progress message with its level (one of LEVELS)."""

    def __call__(self, level: str, message: str) -> None: ...


def print_progress(level: str, message: str) -> None:
    """Print MESSAGE to stderr; the default when no build front end displays it."""
    del level
    print(message, file=sys.stderr, flush=True)


def still_booting(elapsed: float, boot_timeout: float) -> str:
    """Return the line that reports a boot still in progress after ELAPSED seconds."""
    return f"quicksand-overlay: still booting ({elapsed:.0f} s of {boot_timeout:g} s)"


@contextlib.asynccontextmanager
async def boot_heartbeat(
    progress: Progress, boot_timeout: float
) -> AsyncIterator[None]:
    """Report a "still booting" line every BOOT_HEARTBEAT_SECONDS inside the block."""
    started = time.monotonic()

    async def beat() -> None:
        while True:
            await asyncio.sleep(BOOT_HEARTBEAT_SECONDS)
            progress("waiting", still_booting(time.monotonic() - started, boot_timeout))

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
