"""Unit tests of the pytest plugin for the cases a real VM cannot produce on demand.

A revert that quicksand fails silently, and a guest that stops responding
after a revert, cannot be caused in a real VM, so a stand-in Sandbox runs the
plugin's guest commands in a local shell. Error messages for an invalid
project and missing QEMU use real projects and no VM.
"""

from __future__ import annotations

import asyncio
import re
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

import pytest
from quicksand_core import ExecuteResult, NetworkMode

from quicksand_overlay_scaffold.cli import main as scaffold
from quicksand_overlay_scaffold.errors import RevertFailedError, VMBootError
from quicksand_overlay_scaffold.overlay import progress
from quicksand_overlay_scaffold.overlay.builder import BuildOutcome
from quicksand_overlay_scaffold.overlay.project import load_project
from quicksand_overlay_scaffold.pytest_plugin import _fixtures
from quicksand_overlay_scaffold.pytest_plugin._loop import LoopThread
from quicksand_overlay_scaffold.pytest_plugin._session import OverlaySession
from quicksand_overlay_scaffold.pytest_plugin._vm import (
    REVERT_MARKER,
    BootSpec,
    GuestVM,
)


class LocalSandbox:
    """A Sandbox stand-in whose guest is a local folder; revert may silently fail."""

    def __init__(self, folder: Path, *, revert_works: bool = True) -> None:
        self.folder = folder
        self.revert_works = revert_works
        self.answers = True
        self.is_running = True
        self.snapshot: set[str] = set()

    async def start(self) -> None:
        self.is_running = True

    async def stop(self) -> None:
        self.is_running = False

    async def checkpoint(self, tag: str) -> None:
        self.snapshot = {path.name for path in self.folder.iterdir()}

    async def revert(self, tag: str) -> None:
        # quicksand-core returns normally even when QEMU's loadvm failed.
        if not self.revert_works:
            return
        for path in self.folder.iterdir():
            if path.name not in self.snapshot:
                path.unlink()

    async def execute(
        self, command: str, timeout: float, **options: Any
    ) -> ExecuteResult:
        if not self.answers:
            return ExecuteResult(stdout="", stderr="Request timed out", exit_code=-1)
        local = command.replace(REVERT_MARKER, str(self.folder / "marker"))
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", local, stdout=PIPE, stderr=PIPE
        )
        stdout, stderr = await process.communicate()
        assert process.returncode is not None
        return ExecuteResult(stdout.decode(), stderr.decode(), process.returncode)


@pytest.fixture
def loop() -> Any:
    thread = LoopThread()
    yield thread
    thread.close()


def local_vm(loop: LoopThread, sandbox: LocalSandbox) -> GuestVM:
    vm = GuestVM(loop, BootSpec("unused", label="local"))
    vm.sandbox = sandbox  # type: ignore[assignment]
    return vm


def test_revert_verified(loop: LoopThread, tmp_path: Path) -> None:
    sandbox = LocalSandbox(tmp_path)
    vm = local_vm(loop, sandbox)
    vm.checkpoint()
    assert (tmp_path / "marker").exists()
    vm.revert()
    vm.revert()
    assert (tmp_path / "marker").exists()


def test_revert_silent_failure(loop: LoopThread, tmp_path: Path) -> None:
    vm = local_vm(loop, LocalSandbox(tmp_path, revert_works=False))
    vm.checkpoint()
    with pytest.raises(RevertFailedError, match="did not take effect") as raised:
        vm.revert()
    assert REVERT_MARKER in str(raised.value)


def test_revert_guest_not_answering(loop: LoopThread, tmp_path: Path) -> None:
    sandbox = LocalSandbox(tmp_path)
    vm = local_vm(loop, sandbox)
    vm.checkpoint()
    sandbox.answers = False
    with pytest.raises(RevertFailedError, match="did not run the revert check"):
        vm.revert()


def test_revert_before_checkpoint(loop: LoopThread, tmp_path: Path) -> None:
    vm = local_vm(loop, LocalSandbox(tmp_path))
    with pytest.raises(RevertFailedError, match="before a checkpoint"):
        vm.revert()


def test_session_reboots_after_failed_revert(
    loop: LoopThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a failed revert the shared VM is stopped and the next test boots anew."""
    sandboxes: list[LocalSandbox] = []

    async def start(vm: GuestVM) -> None:
        folder = tmp_path / f"guest{len(sandboxes)}"
        folder.mkdir()
        sandbox = LocalSandbox(folder, revert_works=False)
        sandboxes.append(sandbox)
        vm.sandbox = sandbox  # type: ignore[assignment]

    monkeypatch.setattr(GuestVM, "_start", start)
    lines: list[str] = []
    session = OverlaySession(loop, BootSpec("unused", label="local"), lines.append)

    first = session.shared_vm()
    with pytest.raises(RevertFailedError):
        session.shared_vm()
    second = session.shared_vm()

    assert second is not first
    assert session.boots == 2
    assert not sandboxes[0].is_running
    boot_lines = [
        line for line in lines if line.startswith("quicksand-overlay: booting ")
    ]
    assert len(boot_lines) == 2
    session.close()
    assert not sandboxes[1].is_running


def failure_message(call: Any) -> str:
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as raised:
        call()
    return str(raised.value)


def test_build_invalid_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "box"\n')
    (tmp_path / "hatch_build.py").write_text("")
    message = failure_message(lambda: _fixtures.build_overlay(tmp_path, print))
    assert message.startswith("cannot read the overlay project:")
    assert "hooks.custom" in message


@pytest.fixture(scope="module")
def alpine_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("unit")
    assert scaffold(["unit-box", "--base", "alpine", "--output-dir", str(output)]) == 0
    return output / "unit-box"


@pytest.mark.parametrize("ci", ["", "true"], ids=["local", "ci"])
def test_build_without_qemu(
    alpine_project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str
) -> None:
    """Missing QEMU skips the tests on a developer's machine and fails them in CI."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected) as raised:
        _fixtures.build_overlay(alpine_project, print)
    message = str(raised.value)
    assert "QEMU not found" in message
    assert "apt-get install qemu-system-x86 qemu-utils" in message
    assert message.endswith("then run uv run pytest")
    assert not (alpine_project / "src" / "unit_box" / "images").exists()


def test_project_root_found_above(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "hatch_build.py").write_text("")
    nested = tmp_path / "tests" / "sub"
    nested.mkdir(parents=True)
    assert _fixtures.find_project_root(nested) == tmp_path


def test_project_root_missing(tmp_path: Path) -> None:
    with pytest.raises(
        pytest.UsageError, match="run pytest inside the generated project"
    ):
        _fixtures.find_project_root(tmp_path)


def recorded_outcome(project: Path) -> BuildOutcome:
    settings = {"memory": "1G", "cpus": 2, "disk_size": "2G"}
    images = project / "src" / "unit_box" / "images"
    return BuildOutcome(rebuilt=False, images_dir=images, record={"settings": settings})


def test_boot_spec_uses_recorded_settings(
    alpine_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUICKSAND_OVERLAY_ACCEL", "tcg")
    project = load_project(alpine_project)
    outcome = recorded_outcome(alpine_project)

    spec = _fixtures.boot_spec(project, outcome, NetworkMode.NONE)

    assert spec.images_dir == str(outcome.images_dir)
    assert spec.label == "unit-box"
    assert spec.sandbox_kwargs == {
        "memory": "1G",
        "cpus": 2,
        "disk_size": "2G",
        "accel": "tcg",
        "boot_timeout": project.settings.boot_timeout or 600.0,
        "extra_qemu_args": ["-cpu", "max"],
        "network_mode": NetworkMode.NONE,
    }


def test_boot_spec_invalid_accelerator(
    alpine_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUICKSAND_OVERLAY_ACCEL", "fast")
    project = load_project(alpine_project)
    with pytest.raises(pytest.fail.Exception) as raised:
        _fixtures.boot_spec(project, recorded_outcome(alpine_project), NetworkMode.NONE)
    message = str(raised.value)
    assert "invalid QUICKSAND_OVERLAY_ACCEL='fast'" in message
    assert message.endswith("Run uv run pytest again after the fix.")


def test_session_boot_retried_after_timeout(
    loop: LoopThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A boot that timed out is tried once more, as in the build."""
    attempts: list[int] = []

    async def start(vm: GuestVM) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("Failed to connect to guest agent") from TimeoutError()
        vm.sandbox = LocalSandbox(tmp_path)  # type: ignore[assignment]

    monkeypatch.setattr(GuestVM, "_start", start)
    lines: list[str] = []
    session = OverlaySession(loop, BootSpec("unused", label="local"), lines.append)

    session.shared_vm()

    assert len(attempts) == 2
    assert session.boots == 1
    assert (
        lines[0]
        == "quicksand-overlay: booting local for the test session (accelerator auto)"
    )
    assert lines[1].endswith("booting once more")
    assert lines[2].endswith("(attempt 2 of 2)")
    session.close()


def test_session_boot_failure_remembered(
    loop: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a failed boot, later tests fail at once without booting again."""
    attempts: list[int] = []

    async def start(vm: GuestVM) -> None:
        attempts.append(1)
        raise RuntimeError("Image not found: 'box'")

    monkeypatch.setattr(GuestVM, "_start", start)
    session = OverlaySession(loop, BootSpec("unused", label="local"), print)

    for _ in range(2):
        with pytest.raises(VMBootError, match="base image is not installed"):
            session.shared_vm()
    assert len(attempts) == 1


STILL_BOOTING = r"quicksand-overlay: still booting \(\d+ s of 300 s\)"


def test_session_slow_boot_reports_progress(
    loop: LoopThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow test-VM boot prints "still booting" lines, as the build does."""

    async def start(vm: GuestVM) -> None:
        await asyncio.sleep(0.35)
        vm.sandbox = LocalSandbox(tmp_path)  # type: ignore[assignment]

    monkeypatch.setattr(GuestVM, "_start", start)
    monkeypatch.setattr(progress, "BOOT_HEARTBEAT_SECONDS", 0.1)
    lines: list[str] = []
    spec = BootSpec("unused", {"boot_timeout": 300.0}, label="local")
    session = OverlaySession(loop, spec, lines.append)

    session.shared_vm()

    beats = lines[1:-1]
    assert lines[0].startswith("quicksand-overlay: booting local")
    assert lines[-1].startswith("quicksand-overlay: local booted in ")
    assert beats
    for line in beats:
        assert re.fullmatch(STILL_BOOTING, line)
    session.close()


def test_loop_run_times_out_with_heartbeat(loop: LoopThread) -> None:
    """The heartbeat does not stretch the timeout."""
    waited: list[float] = []
    with pytest.raises(TimeoutError, match="no result within 0.3 s"):
        loop.run(asyncio.sleep(5), timeout=0.3, on_wait=waited.append, interval=0.1)
    assert waited
    assert all(seconds < 0.3 for seconds in waited)
