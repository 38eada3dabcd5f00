"""A bare boot of the base image, the setup commands and a stop, timed in this process."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from measure import BenchmarkError

logger = logging.getLogger(__name__)

COMMAND_TIMEOUT = 120.0
# The guest agent responds before the guest's network is up. Like the build,
# wait for a default route (polling /proc/net/route once a second).
ROUTE_COMMAND = (
    "i=0; while [ $i -lt 60 ]; do "
    "awk 'NR > 1 && $2 == \"00000000\" {found = 1} END {exit !found}' /proc/net/route "
    "&& exit 0; sleep 1; i=$((i + 1)); done; exit 1"
)


def sandbox_arguments(project: Path) -> tuple[str, dict, str]:
    """Return the base image, the Sandbox keyword arguments and the accelerator chosen.

    They are the ones the project's build passes, read through the same
    functions the build hook uses.
    """
    from quicksand_core._types import NetworkMode

    from quicksand_overlay_scaffold.overlay.accelerator import choose_accelerator
    from quicksand_overlay_scaffold.overlay.project import load_project

    settings = load_project(project).settings
    accelerator = choose_accelerator(settings.accelerator)
    network = NetworkMode.FULL if settings.network == "full" else NetworkMode.NONE
    arguments = {
        "accel": accelerator.name,
        "extra_qemu_args": list(accelerator.extra_qemu_args),
        "boot_timeout": settings.boot_timeout or accelerator.boot_timeout,
        "network_mode": network,
        **settings.sandbox_kwargs(),
    }
    return settings.base, arguments, f"{accelerator.name} ({accelerator.reason})"


# A bare boot that has not reached the guest agent by then is stopped and tried
# once more, as the build does. Under TCG on a busy 2-core host an Alpine guest
# now and then stops early in boot, while a normal boot there takes under 100 s.
BOOT_LIMIT = 300.0
BOOT_ATTEMPTS = 2


async def _start(image: str, arguments: dict) -> tuple[Any, float, int]:
    """Start a Sandbox; return it, the seconds of the boot that worked, the attempts."""
    from quicksand_core import Sandbox

    for attempt in range(1, BOOT_ATTEMPTS + 1):
        sandbox = Sandbox(image=image, **arguments)
        started = time.perf_counter()
        try:
            await asyncio.wait_for(sandbox.start(), BOOT_LIMIT)
        except TimeoutError:
            # NOTE: quicksand-core 0.14 leaves QEMU running after a cancelled
            # start(); its private _cleanup() stops it and may be repeated.
            await sandbox._cleanup()
            logger.warning(
                "bare VM: no guest agent after %.0f s; booting again", BOOT_LIMIT
            )
            continue
        return sandbox, time.perf_counter() - started, attempt
    raise BenchmarkError(
        f"the bare {image} VM did not boot within {BOOT_LIMIT:.0f} s in "
        f"{BOOT_ATTEMPTS} attempts; rerun this section when the machine is less busy"
    )


async def _boot_run_stop(image: str, arguments: dict, commands: list[str]) -> dict:
    sandbox, seconds, attempts = await _start(image, arguments)
    timings = {"start": seconds, "boot attempts": attempts}
    try:
        if arguments["network_mode"].name == "FULL":
            started = time.perf_counter()
            await _run(sandbox, ROUTE_COMMAND)
            timings["network"] = time.perf_counter() - started
        started = time.perf_counter()
        for command in commands:
            await _run(sandbox, command)
        timings["commands"] = time.perf_counter() - started
    finally:
        started = time.perf_counter()
        await sandbox.stop()
        timings["stop"] = time.perf_counter() - started
    return timings


async def _run(sandbox, command: str) -> None:
    result = await sandbox.execute(
        command, timeout=COMMAND_TIMEOUT, on_stdout=_ignore, on_stderr=_ignore
    )
    if result.exit_code != 0:
        raise BenchmarkError(
            f"{command!r} failed in the bare VM with exit status "
            f"{result.exit_code}: {result.stderr.strip()[-500:]}"
        )


def _ignore(line: str) -> None:
    del line


def boot_run_stop(image: str, arguments: dict, commands: list[str]) -> dict:
    """Boot IMAGE, run COMMANDS one by one, stop; return seconds for each step.

    Commands stream their output as the build's shell does, so the guest
    enforces their timeout the same way.
    """
    timeout = BOOT_LIMIT * BOOT_ATTEMPTS + COMMAND_TIMEOUT * (len(commands) + 2)
    return asyncio.run(
        asyncio.wait_for(_boot_run_stop(image, arguments, commands), timeout)
    )
