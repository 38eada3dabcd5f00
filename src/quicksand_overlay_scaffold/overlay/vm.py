"""Boot the base image, run ``_setup`` through the guest shell and save the disk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from quicksand_overlay_scaffold.overlay.accelerator import Accelerator
from quicksand_overlay_scaffold.overlay.base_image import BaseImage
from quicksand_overlay_scaffold.overlay.errors import (
    BootFailedError,
    BootTimeoutError,
    BuildInterruptedError,
    SaveFailedError,
)
from quicksand_overlay_scaffold.overlay.guest import PID_FILE_PATTERN, GuestShell
from quicksand_overlay_scaffold.overlay.progress import Progress, boot_heartbeat
from quicksand_overlay_scaffold.overlay.qemu import QemuTools, compress_overlay
from quicksand_overlay_scaffold.overlay.settings import OverlaySettings

logger = logging.getLogger(__name__)

# An upper bound for fstrim, which only discards the free blocks of one file system.
TRIM_TIMEOUT = 120

BOOTING_PREFIX = "quicksand-overlay: booting "
ROUTE_WAIT_SECONDS = 60
CONSOLE_TAIL_LINES = 15
# An Alpine guest under TCG once stopped early in boot (no console output
# after SeaBIOS, one vCPU halted and the other spinning) on a 2-core host
# running four VMs, while other boots worked. So a boot that times out is
# tried once more.
BOOT_ATTEMPTS = 2
# quicksand-core 0.14 waits up to boot_timeout for the agent over virtio-serial
# and then up to boot_timeout again over TCP, and start() also grows the file
# system when disk_size is set. So start() as a whole gets boot_timeout plus
# this margin in seconds.
START_MARGIN = 120.0
# Polls /proc/net/route for a default route (destination 00000000).
ROUTE_COMMAND = (
    f"i=0; while [ $i -lt {ROUTE_WAIT_SECONDS} ]; do "
    "awk 'NR > 1 && $2 == \"00000000\" {found = 1} END {exit !found}' /proc/net/route "
    "&& exit 0; sleep 1; i=$((i + 1)); done; exit 1"
)
T = TypeVar("T")


async def build_in_vm(
    *,
    setup: Callable[[GuestShell], Awaitable[Any]],
    settings: OverlaySettings,
    base: BaseImage,
    accelerator: Accelerator,
    qemu: QemuTools,
    workdir: Path,
    project_root: Path,
    progress: Progress,
) -> tuple[dict[str, float], set[Path]]:
    """Boot BASE, run SETUP and write the save to WORKDIR/images.

    Returns the seconds per phase and the project files the setup copied in.
    """
    from quicksand_core import Sandbox
    from quicksand_core._types import NetworkMode

    timings: dict[str, float] = {}
    boot_timeout = settings.boot_timeout or accelerator.boot_timeout
    network = NetworkMode.FULL if settings.network == "full" else NetworkMode.NONE

    def make_sandbox() -> Any:
        return Sandbox(
            image=base.image,
            accel=accelerator.name,
            extra_qemu_args=list(accelerator.extra_qemu_args),
            boot_timeout=boot_timeout,
            network_mode=network,
            **settings.sandbox_kwargs(),
        )

    announcement = (
        f"{BOOTING_PREFIX}{base.image} ({base.package} {base.version}) with "
        f"{accelerator.name} ({accelerator.reason}), boot timeout {boot_timeout:g} s"
    )
    started = time.monotonic()
    booting = _running(make_sandbox, boot_timeout, accelerator, progress, announcement)
    async with booting as sandbox:
        timings["boot"] = _since(started)
        copied = await _set_up_and_save(
            sandbox, setup, settings, project_root, workdir / "raw", progress, timings
        )
    started = time.monotonic()
    _compress(qemu, base, workdir / "raw", workdir / "images")
    timings["compress"] = _since(started)
    return timings, copied


async def _set_up_and_save(
    sandbox: Any,
    setup: Callable[[GuestShell], Awaitable[Any]],
    settings: OverlaySettings,
    project_root: Path,
    target: Path,
    progress: Progress,
    timings: dict[str, float],
) -> set[Path]:
    """Run SETUP in the booted SANDBOX, save its disk to TARGET and time each phase.

    Returns the project files the setup copied into the guest.
    """
    if settings.network == "full":
        started = time.monotonic()
        await _wait_for_default_route(sandbox, progress)
        timings["network"] = _since(started)
    shell = GuestShell(
        sandbox,
        default_timeout=settings.setup_timeout,
        progress=progress,
        root=project_root,
    )
    started = time.monotonic()
    await setup(shell)
    timings["setup"] = _since(started)
    progress("waiting", "quicksand-overlay: saving the overlay disk")
    started = time.monotonic()
    await sandbox.execute(f"rm -f {PID_FILE_PATTERN}", timeout=30)
    await _trim_free_space(sandbox, progress)
    await _save(sandbox, target)
    timings["save"] = _since(started)
    return shell.files_read


def run_interruptible(main: Callable[[], Awaitable[T]]) -> T:
    """Run MAIN in a new event loop and turn SIGTERM into BuildInterruptedError.

    SIGTERM cancels the build task, so ``async with`` blocks shut the VM down
    before the error is raised. Ctrl-C does the same through asyncio.run.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_with_sigterm(main))
    # asyncio.run cannot start inside a running event loop (an async test, for
    # one). The build then runs its own loop in a worker thread and blocks the
    # caller's loop until it ends. No SIGTERM handler can be set in that thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _with_sigterm(main)).result()


async def _with_sigterm(main: Callable[[], Awaitable[T]]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def on_sigterm() -> None:
        received.append(signal.SIGTERM)
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):
        installed = False
    try:
        return await main()
    except asyncio.CancelledError:
        if received:
            raise BuildInterruptedError(
                "overlay build stopped by SIGTERM; the previous overlay was left unchanged"
            ) from None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)


@contextlib.asynccontextmanager
async def _running(
    make_sandbox: Callable[[], Any],
    boot_timeout: float,
    accelerator: Accelerator,
    progress: Progress,
    announcement: str,
) -> AsyncIterator[Any]:
    """Start a Sandbox, once more after a boot timeout, and stop it on exit."""
    for attempt in range(1, BOOT_ATTEMPTS + 1):
        suffix = f" (attempt {attempt} of {BOOT_ATTEMPTS})" if attempt > 1 else ""
        progress("waiting", announcement + suffix)
        sandbox = make_sandbox()
        try:
            await _start(sandbox, boot_timeout, accelerator, progress)
            break
        except BootTimeoutError:
            if attempt == BOOT_ATTEMPTS:
                raise
            progress(
                "warning",
                f"quicksand-overlay: the VM did not boot within {boot_timeout:g} s; "
                "starting it once more",
            )
    try:
        yield sandbox
    finally:
        await sandbox.stop()


async def _start(
    sandbox: Any, boot_timeout: float, accelerator: Accelerator, progress: Progress
) -> None:
    try:
        async with boot_heartbeat(progress, boot_timeout):
            await asyncio.wait_for(sandbox.start(), timeout=boot_timeout + START_MARGIN)
    except BaseException as error:
        console = _console_output(sandbox)
        # NOTE: quicksand-core 0.14 stops QEMU itself only when the agent
        # connection fails with an Exception. A cancellation or a failed QMP
        # connection would leave QEMU running, so this calls its private cleanup,
        # which is safe to repeat.
        await sandbox._cleanup()
        if isinstance(error, Exception):
            raise _boot_error(error, boot_timeout, accelerator, console) from error
        raise


def _console_output(sandbox: Any) -> str:
    """Return the end of the guest console log, or "" once quicksand has removed it."""
    try:
        return str(sandbox._get_console_output(max_bytes=4000))
    except (AttributeError, OSError):
        return ""


def _boot_error(
    error: Exception, boot_timeout: float, accelerator: Accelerator, console: str = ""
) -> Exception:
    text = str(error)
    tail = _console_tail(text) or _last_lines(console)
    timed_out = isinstance(error, TimeoutError) or isinstance(
        error.__cause__, TimeoutError
    )
    if timed_out or "Could not connect to agent" in text:
        message = (
            f"the VM did not boot within {boot_timeout:g} s with {accelerator.name} "
            f"({accelerator.reason}); raise boot-timeout in pyproject.toml or set "
            "QUICKSAND_OVERLAY_ACCEL=tcg if the accelerator cannot run guests"
        )
        if tail:
            message += f"\n--- last lines of the console ---\n{tail}"
        return BootTimeoutError(message, tail)
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return BootFailedError(f"the VM failed to start: {first}")


def _console_tail(text: str) -> str:
    _, marker, console = text.partition("Console output")
    if not marker:
        return ""
    return _last_lines("\n".join(console.splitlines()[1:]))


def _last_lines(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-CONSOLE_TAIL_LINES:])


async def _wait_for_default_route(sandbox: Any, progress: Progress) -> None:
    result = await sandbox.execute(
        ROUTE_COMMAND,
        timeout=ROUTE_WAIT_SECONDS + 10,
        on_stdout=_ignore,
        on_stderr=_ignore,
    )
    if result.exit_code != 0:
        progress(
            "warning",
            f"quicksand-overlay: the guest has no default route after {ROUTE_WAIT_SECONDS} s; "
            "setup commands that need the network may fail",
        )


async def _trim_free_space(sandbox: Any, progress: Progress) -> None:
    """Discard the blocks of deleted files so that the saved overlay leaves them out.

    quicksand-core 0.14.0 runs ``fstrim -av`` before a save, but BusyBox's
    fstrim in the Alpine image has no ``-a`` option, so that trims nothing
    there. Trimming the root file system by its mount point works on both
    BusyBox and util-linux.
    """
    result = await sandbox.execute("sync && fstrim -v /", timeout=TRIM_TIMEOUT)
    if result.exit_code != 0:
        output = (result.stderr or result.stdout).strip()
        progress(
            "warning",
            f"quicksand-overlay: fstrim / failed ({output or result.exit_code}); "
            "deleted files may still take space in the overlay",
        )
        return
    logger.info("trimmed the guest's root file system: %s", result.stdout.strip())


async def _save(sandbox: Any, target: Path) -> None:
    try:
        await sandbox.save(target.name, workspace=target.parent, compress=False)
    except (OSError, RuntimeError) as error:
        raise SaveFailedError(f"saving the overlay disk failed: {error}") from error


def _compress(qemu: QemuTools, base: BaseImage, raw: Path, target: Path) -> None:
    overlays = sorted((raw / "overlays").glob("*.qcow2"))
    if len(overlays) != 1:
        raise SaveFailedError(
            f"expected one overlay file in {raw / 'overlays'}, found {len(overlays)}"
        )
    (target / "overlays").mkdir(parents=True)
    compress_overlay(
        qemu.img, overlays[0], target / "overlays" / overlays[0].name, base.disk
    )
    shutil.copy2(raw / "manifest.json", target / "manifest.json")
    shutil.rmtree(raw)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 2)


def _ignore(_line: str) -> None:
    """Discards a streamed line (passing a callback makes the guest enforce the timeout)."""
