"""The guest shell against a real Alpine VM: failures, timeouts and file copies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from quicksand_overlay_scaffold.overlay.accelerator import choose_accelerator
from quicksand_overlay_scaffold.overlay.errors import (
    SetupCommandError,
    SetupTimeoutError,
)
from quicksand_overlay_scaffold.overlay.guest import GuestShell

pytestmark = pytest.mark.vm


class BootedVM:
    """An Alpine Sandbox running on its own event loop for this module's tests."""

    def __init__(self) -> None:
        from quicksand_core import Sandbox

        accelerator = choose_accelerator()
        self.loop = asyncio.new_event_loop()
        self.sandbox = Sandbox(
            image="alpine",
            accel=accelerator.name,
            extra_qemu_args=list(accelerator.extra_qemu_args),
            boot_timeout=accelerator.boot_timeout,
            memory="512M",
        )
        self.messages: list[tuple[str, str]] = []

    def shell(self, root: Path | None = None) -> GuestShell:
        def record(level: str, message: str) -> None:
            self.messages.append((level, message))

        return GuestShell(self.sandbox, default_timeout=60, progress=record, root=root)

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)


@pytest.fixture(scope="module")
def vm() -> Iterator[BootedVM]:
    booted = BootedVM()
    booted.run(booted.sandbox.start())
    try:
        yield booted
    finally:
        booted.run(booted.sandbox.stop())
        booted.loop.close()


def test_failing_command_raises(vm: BootedVM) -> None:
    command = "echo partial; echo 'no such thing' >&2; exit 3"
    with pytest.raises(SetupCommandError) as caught:
        vm.run(vm.shell()(command, timeout=30))
    assert caught.value.command == command
    assert caught.value.exit_status == 3
    assert caught.value.stdout_tail == "partial"
    assert caught.value.stderr_tail == "no such thing"
    assert ("warning", "  no such thing") in vm.messages


def test_timeout_kills_command(vm: BootedVM) -> None:
    """A timed-out command and its children are killed, not left running."""
    with pytest.raises(SetupTimeoutError, match=r"timed out after 3 s and was killed"):
        vm.run(vm.shell()("sleep 307 & sleep 308", timeout=3))
    result = vm.run(vm.sandbox.execute("pgrep -f 'sleep 30[78]' || true", timeout=30))
    assert result.stdout.strip() == ""


def test_put_copies_file(vm: BootedVM, tmp_path: Path) -> None:
    (tmp_path / "motd").write_text("welcome\n")
    shell = vm.shell(root=tmp_path)
    vm.run(shell.put("motd", "/etc/motd", mode="600"))
    result = vm.run(
        vm.sandbox.execute("cat /etc/motd; stat -c %a /etc/motd", timeout=30)
    )
    assert result.stdout.splitlines() == ["welcome", "600"]
    assert shell.files_read == {(tmp_path / "motd").resolve()}
