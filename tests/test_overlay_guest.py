"""Tests of the guest shell handed to _setup, with a stand-in for the Sandbox.

The real failing command runs in test_build_e2e.py and test_overlay_guest_vm.py;
these cover the cases a VM reaches only slowly or by accident.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from quicksand_overlay_scaffold.overlay.errors import (
    DiskFullError,
    SetupCommandError,
    SetupTimeoutError,
)
from quicksand_overlay_scaffold.overlay.guest import KILL_COMMAND, GuestShell


@dataclass
class Result:
    stdout: str
    stderr: str
    exit_code: int


class ScriptedSandbox:
    """Returns scripted results from execute(), streaming their output line by line."""

    def __init__(self, *answers: tuple[str, str, int]) -> None:
        self.answers = list(answers)
        self.calls: list[dict] = []

    async def execute(
        self, command, timeout, user=None, on_stdout=None, on_stderr=None, stdin=None
    ):
        self.calls.append(
            {
                "command": command,
                "timeout": timeout,
                "stdin": stdin,
                "streamed": on_stdout is not None,
            }
        )
        stdout, stderr, status = self.answers.pop(0) if self.answers else ("", "", 0)
        for line in stdout.splitlines(keepends=True):
            on_stdout(line)
        for line in stderr.splitlines(keepends=True):
            on_stderr(line)
        return Result(stdout, stderr, status)


def run_shell(sandbox: ScriptedSandbox, command: str, **kwargs):
    messages: list[tuple[str, str]] = []
    shell = GuestShell(
        sandbox,
        default_timeout=600,
        progress=lambda level, text: messages.append((level, text)),
    )
    result = asyncio.run(shell(command, **kwargs))
    return result, messages


def test_output_streamed_by_level() -> None:
    sandbox = ScriptedSandbox(("one\ntwo\n", "careful\n", 0))
    result, messages = run_shell(sandbox, "make all", timeout=45)
    assert result.stdout == "one\ntwo\n"
    assert ("info", "$ make all") in messages
    assert ("info", "  one") in messages
    assert ("info", "  two") in messages
    assert ("warning", "  careful") in messages
    assert messages[-1][0] == "info"
    assert messages[-1][1].endswith("exit status 0: make all")
    assert messages[-1][1].startswith("[")


def test_timeout_passed_and_streamed() -> None:
    """Streaming callbacks make the guest agent enforce the timeout."""
    sandbox = ScriptedSandbox()
    run_shell(sandbox, "true", timeout=45)
    assert sandbox.calls[0]["timeout"] == 45
    assert sandbox.calls[0]["streamed"] is True
    assert "exec /bin/sh -c true" in sandbox.calls[0]["command"]


def test_default_timeout_used() -> None:
    sandbox = ScriptedSandbox()
    run_shell(sandbox, "true")
    assert sandbox.calls[0]["timeout"] == 600


def test_failure_raises_with_tails() -> None:
    stdout = "".join(f"line {n}\n" for n in range(30))
    sandbox = ScriptedSandbox((stdout, "fatal: no such package\n", 2))
    with pytest.raises(SetupCommandError) as caught:
        run_shell(sandbox, "apk add nothing", timeout=60)
    error = caught.value
    assert error.command == "apk add nothing"
    assert error.exit_status == 2
    assert error.stdout_tail.splitlines() == [f"line {n}" for n in range(10, 30)]
    assert error.stderr_tail == "fatal: no such package"
    first_line = str(error).splitlines()[0]
    assert first_line == "setup command 'apk add nothing' failed with exit status 2"
    assert "  fatal: no such package" in str(error)


def test_disk_full_detected() -> None:
    sandbox = ScriptedSandbox(("", "write error: No space left on device\n", 1))
    with pytest.raises(DiskFullError, match=r"guest disk is full; raise disk-size"):
        run_shell(sandbox, "dd if=/dev/zero of=/big", timeout=60)


def test_timeout_kills_runaway() -> None:
    sandbox = ScriptedSandbox(
        ("", "Command timed out after 5 seconds\n", -1), ("", "", 0)
    )
    with pytest.raises(
        SetupTimeoutError, match=r"'sleep 100' timed out after 5 s and was killed"
    ):
        run_shell(sandbox, "sleep 100", timeout=5)
    pid_file = "/tmp/.quicksand-overlay-command-1.pid"
    assert f"echo $$ 2>/dev/null > {pid_file};" in sandbox.calls[0]["command"]
    assert sandbox.calls[1]["command"] == KILL_COMMAND.format(pid_file=pid_file)


def test_put_sends_file(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "app.conf").write_bytes(b"port = 80\n")
    sandbox = ScriptedSandbox()
    shell = GuestShell(
        sandbox, default_timeout=60, progress=lambda *_: None, root=tmp_path
    )
    asyncio.run(shell.put("files/app.conf", "/etc/app conf", mode="600"))
    call = sandbox.calls[0]
    assert call["stdin"] == b"port = 80\n"
    _, _, exec_part = call["command"].partition("; exec ")
    assert shlex.split(exec_part) == [
        "/bin/sh",
        "-c",
        "cat > '/etc/app conf' && chmod 600 '/etc/app conf'",
    ]
    assert shell.files_read == {(tmp_path / "files" / "app.conf").resolve()}
