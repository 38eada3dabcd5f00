"""A booted overlay VM for tests: boot, checkpoint, verified revert and stop.

Every call goes through the session's LoopThread, so tests and fixtures stay
synchronous while quicksand's Sandbox runs on one event loop.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quicksand_core import ExecuteResult, Sandbox

from quicksand_overlay_scaffold.errors import (
    GuestCommandError,
    RevertFailedError,
    VMBootError,
)
from quicksand_overlay_scaffold.overlay import progress
from quicksand_overlay_scaffold.overlay.progress import still_booting
from quicksand_overlay_scaffold.pytest_plugin._loop import LoopThread

logger = logging.getLogger(__name__)

CHECKPOINT_TAG = "quicksand-pytest-booted"
# A file that exists in the running guest but not in the checkpoint. /run is a
# tmpfs, and a checkpoint contains RAM as well as disk, so a working revert
# removes it. A revert that failed silently in quicksand leaves it in place.
REVERT_MARKER = "/run/quicksand-pytest-marker"
REVERT_CHECK_TIMEOUT = 20.0
# Exit status the check command uses when the marker survived the revert.
_MARKER_SURVIVED = 3
_CHECK_AND_ARM = (
    f"if [ -e {REVERT_MARKER} ]; then exit {_MARKER_SURVIVED}; fi; : > {REVERT_MARKER}"
)
# Exit statuses of a command that `timeout -s KILL` stopped: 128 + SIGKILL from
# a shell, -1 where the guest agent reports a process killed by a signal.
KILLED_STATUSES = (137, -1)
# Seconds start() may take beyond the boot timeout: after the agent connects,
# quicksand connects QMP and may grow the guest file system.
START_MARGIN = 60.0
# Seconds that quicksand waits for a stopping VM before it kills QEMU, plus margin.
STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class BootSpec:
    """The boot parameters: overlay directory and Sandbox keyword arguments."""

    images_dir: str
    sandbox_kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = "overlay"


class GuestVM:
    """One quicksand Sandbox booted from a BootSpec, driven from synchronous code."""

    def __init__(self, loop: LoopThread, spec: BootSpec) -> None:
        self.loop = loop
        self.spec = spec
        self.sandbox: Sandbox | None = None
        self.boot_seconds: float | None = None
        self._checkpointed = False

    def boot(self, report: Callable[[str], None] | None = None) -> float:
        """Start the VM and return the seconds it took; raise VMBootError on failure.

        REPORT, if given, receives a "still booting" line about once a minute.
        """
        started = time.perf_counter()
        boot_timeout = float(self.spec.sandbox_kwargs.get("boot_timeout", 600.0))

        def on_wait(elapsed: float) -> None:
            if report is not None:
                report(still_booting(elapsed, boot_timeout))

        try:
            self.loop.run(
                self._start(),
                timeout=boot_timeout + START_MARGIN,
                on_wait=on_wait,
                interval=progress.BOOT_HEARTBEAT_SECONDS,
            )
        except TimeoutError as error:
            self.stop()
            raise VMBootError(
                f"the {self.spec.label} VM did not boot within "
                f"{boot_timeout + START_MARGIN:g} s; raise boot-timeout in "
                "pyproject.toml if this host is slow"
            ) from error
        except Exception as error:
            self.stop()
            raise VMBootError(_boot_failure_message(self.spec, error)) from error
        except BaseException:
            self.stop()
            raise
        self.boot_seconds = time.perf_counter() - started
        return self.boot_seconds

    async def _start(self) -> None:
        # Created on the loop thread, so its connections belong to that loop.
        self.sandbox = Sandbox(image=self.spec.images_dir, **self.spec.sandbox_kwargs)
        await self.sandbox.start()

    def execute(self, command: str, *, timeout: float, **options: Any) -> ExecuteResult:
        """Run COMMAND through quicksand's execute and wait up to TIMEOUT seconds.

        OPTIONS are passed on to ``Sandbox.execute`` (cwd, user, stdin, ...).
        quicksand itself gives up 5 s after TIMEOUT, so the wait here is longer.
        """
        sandbox = self._running()
        call = sandbox.execute(command, timeout=timeout, **options)
        return self.loop.run(call, timeout=timeout + 30.0)

    def run(self, command: str, *, timeout: float, **options: Any) -> ExecuteResult:
        """Run COMMAND in the guest, where it is killed after TIMEOUT seconds.

        Raises GuestCommandError when the command timed out or quicksand could
        not deliver it; any exit status of the command itself is returned.
        """
        started = time.monotonic()
        guarded = guarded_command(command, timeout)
        result = self.execute(guarded, timeout=timeout + 10, **options)
        elapsed = time.monotonic() - started
        if result.exit_code in KILLED_STATUSES and elapsed >= timeout:
            raise GuestCommandError(
                f"guest command {command!r} timed out after {timeout:g} s; "
                "pass a larger timeout=SECONDS"
            )
        if result.exit_code < 0:
            raise GuestCommandError(
                f"quicksand could not run guest command {command!r}: "
                f"{result.stderr.strip() or 'no message'}"
            )
        return result

    def call(self, awaitable: Any, timeout: float | None = None) -> Any:
        """Await AWAITABLE on the VM's event loop and return its result."""
        return self.loop.run(awaitable, timeout=timeout)

    def checkpoint(self) -> None:
        """Take the checkpoint that revert() returns to, then arm the marker."""
        sandbox = self._running()
        self.loop.run(sandbox.checkpoint(CHECKPOINT_TAG), timeout=120.0)
        self._checkpointed = True
        self._check_and_arm(after="the checkpoint")

    def revert(self) -> None:
        """Return the guest to the checkpoint and check that it really happened.

        quicksand ignores errors of QEMU's loadvm, so the marker written after
        the checkpoint is the evidence: it must be gone after a revert.
        """
        if not self._checkpointed:
            raise RevertFailedError("revert requested before a checkpoint was taken")
        sandbox = self._running()
        try:
            self.loop.run(sandbox.revert(CHECKPOINT_TAG), timeout=120.0)
        except (RuntimeError, ValueError, TimeoutError) as error:
            raise RevertFailedError(f"reverting the VM failed: {error}") from error
        self._check_and_arm(after="the revert")

    def _check_and_arm(self, *, after: str) -> None:
        result = self.execute(_CHECK_AND_ARM, timeout=REVERT_CHECK_TIMEOUT)
        if result.exit_code == 0:
            return
        if result.exit_code == _MARKER_SURVIVED:
            raise RevertFailedError(
                f"the revert to checkpoint {CHECKPOINT_TAG!r} did not take effect: "
                f"{REVERT_MARKER} written after the checkpoint still exists"
            )
        raise RevertFailedError(
            f"the guest did not run the revert check after {after} "
            f"(exit status {result.exit_code}: {result.stderr.strip() or 'no output'})"
        )

    def stop(self) -> None:
        """Stop the VM; safe to call twice and after a failed or interrupted boot."""
        sandbox, self.sandbox = self.sandbox, None
        self._checkpointed = False
        if sandbox is None:
            return
        try:
            self.loop.run(_stop_sandbox(sandbox), timeout=STOP_TIMEOUT)
        except Exception:
            logger.exception("stopping the %s VM failed", self.spec.label)

    @property
    def is_running(self) -> bool:
        return self.sandbox is not None and self.sandbox.is_running

    def _running(self) -> Sandbox:
        if self.sandbox is None or not self.sandbox.is_running:
            raise RuntimeError(f"the {self.spec.label} VM is not running")
        return self.sandbox


async def _stop_sandbox(sandbox: Sandbox) -> None:
    try:
        await sandbox.stop()
    finally:
        # Sandbox.stop() does nothing until start() has finished, so a boot that
        # was interrupted would leave QEMU running until this process exits.
        # NOTE: _process_manager and _cleanup are private in quicksand-core 0.14.
        manager = getattr(sandbox, "_process_manager", None)
        if manager is not None and manager.is_running:
            await sandbox._cleanup()


def _boot_failure_message(spec: BootSpec, error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if "QEMU not found" in text:
        return (
            "QEMU not found: install qemu-system-x86_64 and qemu-img "
            "(Debian: apt-get install qemu-system-x86 qemu-utils) and run pytest again"
        )
    if "Image not found" in text:
        return (
            f"booting {spec.images_dir} failed because its base image is not "
            f"installed: {text.splitlines()[0]}. Install the project's dependencies "
            "(uv sync) and run pytest again"
        )
    return f"booting the {spec.label} VM from {spec.images_dir} failed: {text}"


def guarded_command(command: str, timeout: float) -> str:
    """Wrap COMMAND so the guest kills it after TIMEOUT seconds.

    quicksand's execute stops waiting after its timeout, but the guest keeps
    running the command, and a runaway command blocks the agent of a
    one-CPU guest. `timeout` exists on both bases (busybox on Alpine,
    coreutils on Ubuntu). busybox kills only the shell, not its children.
    """
    seconds = max(1, int(timeout + 0.999))
    return f"timeout -s KILL {seconds} /bin/sh -c {shlex.quote(command)}"
