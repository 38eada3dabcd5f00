"""Tests of the boot retry and boot errors, with a stand-in for the Sandbox.

A real hung boot happens rarely and takes the whole boot timeout to show.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from quicksand_overlay_scaffold.overlay import progress, vm
from quicksand_overlay_scaffold.overlay.accelerator import Accelerator
from quicksand_overlay_scaffold.overlay.errors import BootFailedError, BootTimeoutError
from quicksand_overlay_scaffold.overlay.vm import _running

TCG = Accelerator("tcg", 600.0, "test", ("-cpu", "max"))
CONSOLE = "SeaBIOS (version 1.16.2)\nBooting from ROM...\n"


def agent_timeout() -> RuntimeError:
    """Build the error quicksand-core 0.14 raises when the guest agent never responds."""
    error = RuntimeError(
        "Failed to connect to guest agent: Could not connect to agent within 5s.\n\n"
        f"Console output (last 2KB):\n{CONSOLE}"
    )
    error.__cause__ = TimeoutError("timed out")
    return error


class FakeSandbox:
    """Fails start() with the queued errors, then starts; records cleanups."""

    def __init__(self, failure: BaseException | None) -> None:
        self.failure = failure
        self.cleaned = False
        self.stopped = False

    async def start(self) -> None:
        if self.failure is not None:
            raise self.failure

    async def _cleanup(self) -> None:
        self.cleaned = True

    async def stop(self) -> None:
        self.stopped = True


def boot(*failures: BaseException | None) -> tuple[list[FakeSandbox], list[str]]:
    made: list[FakeSandbox] = []
    messages: list[str] = []
    pending = list(failures)

    def make() -> FakeSandbox:
        made.append(FakeSandbox(pending.pop(0)))
        return made[-1]

    async def main() -> None:
        progress = lambda level, text: messages.append(text)
        async with _running(make, 5.0, TCG, progress, "quicksand-overlay: booting x"):
            pass

    asyncio.run(main())
    return made, messages


def test_timeout_retried_once() -> None:
    sandboxes, messages = boot(agent_timeout(), None)
    assert len(sandboxes) == 2
    assert sandboxes[0].cleaned is True
    assert sandboxes[1].stopped is True
    assert messages[0] == "quicksand-overlay: booting x"
    assert messages[1].endswith("starting it once more")
    assert messages[2] == "quicksand-overlay: booting x (attempt 2 of 2)"


def test_second_timeout_raised() -> None:
    with pytest.raises(BootTimeoutError) as caught:
        boot(agent_timeout(), agent_timeout())
    first_line = str(caught.value).splitlines()[0]
    assert first_line.startswith("the VM did not boot within 5 s with tcg")
    assert "QUICKSAND_OVERLAY_ACCEL=tcg" in first_line
    assert caught.value.console_tail == CONSOLE.strip()


def test_other_failure_not_retried() -> None:
    with pytest.raises(BootFailedError, match=r"the VM failed to start: qemu exited"):
        boot(RuntimeError("qemu exited with status 1"), None)


def test_cancelled_boot_cleaned() -> None:
    """A cancellation during boot (SIGTERM, Ctrl-C) still stops QEMU."""
    made: list[FakeSandbox] = []

    def make() -> FakeSandbox:
        made.append(FakeSandbox(asyncio.CancelledError()))
        return made[-1]

    async def main() -> None:
        async with _running(make, 5.0, TCG, lambda *_: None, "booting"):
            pass

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    assert made[0].cleaned is True


class HungSandbox(FakeSandbox):
    """Never finishes start(), like a guest that stops early in boot."""

    async def start(self) -> None:
        await asyncio.sleep(3600)

    def _get_console_output(self, max_bytes: int) -> str:
        return CONSOLE


def test_hung_boot_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """start() as a whole is bounded, not only quicksand's agent wait."""
    monkeypatch.setattr(vm, "START_MARGIN", 0.0)
    made: list[HungSandbox] = []

    def make() -> HungSandbox:
        made.append(HungSandbox(None))
        return made[-1]

    async def main() -> None:
        async with _running(make, 0.2, TCG, lambda *_: None, "booting"):
            pass

    with pytest.raises(BootTimeoutError) as caught:
        asyncio.run(main())
    assert len(made) == 2
    assert all(sandbox.cleaned for sandbox in made)
    assert caught.value.console_tail == CONSOLE.strip()


STILL_BOOTING = r"quicksand-overlay: still booting \(\d+ s of 300 s\)"


class SlowSandbox(FakeSandbox):
    """Takes 0.35 s to start, long enough for a few heartbeats of 0.1 s."""

    async def start(self) -> None:
        await asyncio.sleep(0.35)


def test_slow_boot_reports_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """A boot that takes a while prints "still booting" lines until it ends."""
    monkeypatch.setattr(progress, "BOOT_HEARTBEAT_SECONDS", 0.1)
    messages: list[tuple[str, str]] = []

    async def main() -> None:
        report = lambda level, text: messages.append((level, text))
        async with _running(lambda: SlowSandbox(None), 300.0, TCG, report, "booting"):
            count = len(messages)
            await asyncio.sleep(0.25)
        assert len(messages) == count

    asyncio.run(main())
    assert messages[0] == ("waiting", "booting")
    beats = messages[1:]
    assert beats
    for level, text in beats:
        assert level == "waiting"
        assert re.fullmatch(STILL_BOOTING, text)


def test_still_booting_line() -> None:
    line = progress.still_booting(120.4, 300.0)
    assert line == "quicksand-overlay: still booting (120 s of 300 s)"


class TrimSandbox:
    """Returns one fixed result from execute() and records the commands."""

    def __init__(self, exit_code: int, stdout: str = "", stderr: str = "") -> None:
        self.result = type(
            "Result", (), {"exit_code": exit_code, "stdout": stdout, "stderr": stderr}
        )()
        self.commands: list[str] = []

    async def execute(self, command: str, timeout: float) -> object:
        self.commands.append(command)
        return self.result


def test_trim_runs_fstrim_on_root() -> None:
    """The build trims / itself, since BusyBox fstrim has no -a option."""
    sandbox = TrimSandbox(0, stdout="/: 900 MiB (943718400 bytes) trimmed\n")
    messages: list[tuple[str, str]] = []
    asyncio.run(vm._trim_free_space(sandbox, lambda *m: messages.append(m)))
    assert sandbox.commands == ["sync && fstrim -v /"]
    assert messages == []


def test_trim_failure_warns() -> None:
    """A file system without discard support gives a warning, not a failed build."""
    sandbox = TrimSandbox(1, stderr="fstrim: ioctl 0xc0185879 failed: Not supported\n")
    messages: list[tuple[str, str]] = []
    asyncio.run(vm._trim_free_space(sandbox, lambda *m: messages.append(m)))
    assert len(messages) == 1
    level, text = messages[0]
    assert level == "warning"
    assert "fstrim / failed (fstrim: ioctl 0xc0185879 failed: Not supported)" in text
