"""The ``shell`` callable that ``_setup`` uses to run commands in the build VM."""

from __future__ import annotations

import logging
import shlex
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quicksand_overlay_scaffold.overlay.errors import (
    DISK_FULL_MARKER,
    DiskFullError,
    SetupCommandError,
    SetupTimeoutError,
)
from quicksand_overlay_scaffold.overlay.progress import Progress, print_progress

logger = logging.getLogger(__name__)

TAIL_LINES = 20
# Each command writes its PID to a file of its own, so a kill after a timeout
# cannot reach a process that reused the PID of an earlier command.
PID_FILE_PATTERN = "/tmp/.quicksand-overlay-command-*.pid"
# Kills the recorded command and every process below it. quicksand-core 0.14
# stops waiting for a timed-out command but leaves it running in the guest.
KILL_COMMAND = (
    'kill_tree() {{ for child in $(pgrep -P "$1" 2>/dev/null); do '
    'kill_tree "$child"; done; kill -KILL "$1" 2>/dev/null; }}; '
    '[ -s {pid_file} ] && kill_tree "$(cat {pid_file})"; rm -f {pid_file}'
)
KILL_TIMEOUT = 30.0


@dataclass(frozen=True)
class CommandResult:
    """The output and duration of a setup command that succeeded."""

    command: str
    stdout: str
    stderr: str
    exit_status: int
    seconds: float


class _Tail:
    """Collects one output stream, keeps its last lines and reports each line."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.lines: deque[str] = deque(maxlen=TAIL_LINES)
        self._report = report

    def __call__(self, line: str) -> None:
        text = line.rstrip("\n")
        self.lines.append(text)
        self._report(text)

    def text(self) -> str:
        return "\n".join(self.lines)


class GuestShell:
    """Runs setup commands in a running Sandbox: ``await shell("cmd", timeout=60)``.

    Output is streamed line by line, stdout at INFO and stderr at WARNING, to
    the logger and to PROGRESS. A non-zero exit raises SetupCommandError.
    """

    def __init__(
        self,
        sandbox: Any,
        *,
        default_timeout: float,
        progress: Progress = print_progress,
        root: Path | None = None,
    ) -> None:
        self._sandbox = sandbox
        self._default_timeout = default_timeout
        self._progress = progress
        self._root = root
        self._commands_run = 0
        self.files_read: set[Path] = set()

    async def __call__(
        self, command: str, *, timeout: float | None = None, user: str | None = None
    ) -> CommandResult:
        """Run COMMAND under /bin/sh in the guest and return its output."""
        return await self._run(command, timeout=timeout, user=user)

    async def put(
        self, local_path: str | Path, guest_path: str, *, mode: str = "644"
    ) -> None:
        """Copy a file of the project into the guest at GUEST_PATH.

        The file is recorded as a build input, so a change to it rebuilds the overlay.
        """
        source = Path(local_path)
        if self._root is not None and not source.is_absolute():
            source = self._root / source
        data = source.read_bytes()
        self.files_read.add(source.resolve())
        target = shlex.quote(guest_path)
        command = f"cat > {target} && chmod {shlex.quote(mode)} {target}"
        await self._run(
            command,
            timeout=self._default_timeout,
            stdin=data,
            display_name=f"put {source.name} -> {guest_path}",
        )

    async def _run(
        self,
        command: str,
        *,
        timeout: float | None,
        user: str | None = None,
        stdin: bytes | None = None,
        display_name: str | None = None,
    ) -> CommandResult:
        seconds = float(timeout or self._default_timeout)
        label = display_name or command
        self._progress("info", f"$ {label}")
        stdout = _Tail(lambda line: self._line("info", line))
        stderr = _Tail(lambda line: self._line("warning", line))
        self._commands_run += 1
        pid_file = PID_FILE_PATTERN.replace("*", str(self._commands_run))
        quoted = shlex.quote(command)
        wrapped = f"echo $$ 2>/dev/null > {pid_file}; exec /bin/sh -c {quoted}"
        started = time.monotonic()
        result = await self._sandbox.execute(
            wrapped,
            timeout=seconds,
            user=user,
            on_stdout=stdout,
            on_stderr=stderr,
            stdin=stdin,
        )
        elapsed = time.monotonic() - started
        status = result.exit_code
        self._progress("info", f"[{elapsed:.1f} s] exit status {status}: {label}")
        if status != 0:
            timed_out = status == -1 and (
                elapsed >= seconds or "timed out" in stderr.text()
            )
            if timed_out:
                await self._kill_runaway(pid_file)
            _raise_failure(label, status, stdout, stderr, timed_out, seconds)
        return CommandResult(command, result.stdout, result.stderr, status, elapsed)

    def _line(self, level: str, line: str) -> None:
        logger.log(logging.INFO if level == "info" else logging.WARNING, "%s", line)
        self._progress(level, f"  {line}")

    async def _kill_runaway(self, pid_file: str) -> None:
        command = KILL_COMMAND.format(pid_file=pid_file)
        result = await self._sandbox.execute(
            command, timeout=KILL_TIMEOUT, on_stdout=_ignore
        )
        if result.exit_code not in (0, 1):
            logger.warning(
                "could not kill the timed-out command: %s", result.stderr.strip()
            )


def _raise_failure(
    label: str, status: int, stdout: _Tail, stderr: _Tail, timed_out: bool, limit: float
) -> None:
    out, err = stdout.text(), stderr.text()
    if timed_out:
        reason = f"timed out after {limit:g} s and was killed"
        raise SetupTimeoutError(label, status, out, err, reason=reason)
    if DISK_FULL_MARKER in out or DISK_FULL_MARKER in err:
        reason = (
            f"failed with exit status {status} because the guest disk is full; "
            "raise disk-size in [tool.hatch.build.targets.wheel.hooks.custom]"
        )
        raise DiskFullError(label, status, out, err, reason=reason)
    raise SetupCommandError(label, status, out, err)


def _ignore(_line: str) -> None:
    """Discards a streamed line (passing a callback makes the guest enforce the timeout)."""
