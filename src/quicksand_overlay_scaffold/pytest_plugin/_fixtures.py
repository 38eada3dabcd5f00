"""Fixtures that build the project's overlay, boot it once and hand it to tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra.host
from quicksand_core import NetworkMode

from quicksand_overlay_scaffold.errors import RevertFailedError, VMBootError
from quicksand_overlay_scaffold.overlay.accelerator import choose_accelerator
from quicksand_overlay_scaffold.overlay.builder import BuildOutcome, ensure_overlay
from quicksand_overlay_scaffold.overlay.errors import (
    OverlayBuildError,
    QemuNotFoundError,
    SetupCommandError,
)
from quicksand_overlay_scaffold.overlay.project import OverlayProject, load_project
from quicksand_overlay_scaffold.overlay.qemu import find_qemu
from quicksand_overlay_scaffold.pytest_plugin._backend import QuicksandBackend
from quicksand_overlay_scaffold.pytest_plugin._loop import LoopThread
from quicksand_overlay_scaffold.pytest_plugin._sandbox import GuestSandbox
from quicksand_overlay_scaffold.pytest_plugin._session import OverlaySession
from quicksand_overlay_scaffold.pytest_plugin._vm import BootSpec, GuestVM

FRESH_VM_MARKER = "fresh_vm"
NETWORK_OPTION = "quicksand_network_mode"
TIMEOUT_OPTION = "quicksand_command_timeout"
RERUN_HINT = "uv run pytest"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        NETWORK_OPTION,
        "network mode of the test VMs: none (default), mounts_only or full",
        default="none",
    )
    parser.addini(
        TIMEOUT_OPTION,
        "seconds a guest command run by host or sandbox may take (default 60)",
        default="60",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{FRESH_VM_MARKER}: boot a VM of its own for this test instead of "
        "reverting the session's shared VM",
    )


def reporter(config: pytest.Config) -> Callable[[str], None]:
    """Return a function that prints a line to the terminal, even under capture."""
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def report(line: str) -> None:
        if terminal is None:
            print(line, file=sys.__stderr__, flush=True)
            return
        if capture is None:
            _write_line(terminal, line)
            return
        with capture.global_and_fixture_disabled():
            _write_line(terminal, line)

    return report


def _write_line(terminal: Any, line: str) -> None:
    terminal.write_line(line)
    # Flushed at once, because a build or boot takes minutes and CI logs and
    # pipes would otherwise show the line only when the buffer fills.
    terminal.flush()


def find_project_root(start: Path) -> Path:
    """Return the nearest folder at or above START with pyproject.toml and hatch_build.py."""
    for folder in (start, *start.parents):
        has_pyproject = (folder / "pyproject.toml").is_file()
        if has_pyproject and (folder / "hatch_build.py").is_file():
            return folder
    raise pytest.UsageError(
        f"no overlay project (pyproject.toml beside hatch_build.py) at or above {start}; "
        "run pytest inside the generated project"
    )


def network_mode(config: pytest.Config) -> NetworkMode:
    value = str(config.getini(NETWORK_OPTION)).strip().lower()
    try:
        return NetworkMode(value)
    except ValueError:
        choices = ", ".join(mode.value for mode in NetworkMode)
        raise pytest.UsageError(
            f"invalid {NETWORK_OPTION} = {value!r}: expected one of {choices}"
        ) from None


def command_timeout(config: pytest.Config) -> float:
    value = str(config.getini(TIMEOUT_OPTION)).strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise pytest.UsageError(
            f"invalid {TIMEOUT_OPTION} = {value!r}: expected a positive number of seconds"
        )
    return seconds


def skip_or_fail(message: str) -> None:
    """Skip for a missing tool on a developer's machine, but fail in CI."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def build_overlay(
    project_root: Path, report: Callable[[str], None]
) -> tuple[OverlayProject, BuildOutcome]:
    """Build the overlay if missing or out of date; turn build errors into test errors."""
    try:
        project = load_project(project_root)
    except OverlayBuildError as error:
        pytest.fail(f"cannot read the overlay project: {error}", pytrace=False)
    try:
        # Checked here too because an up-to-date overlay skips the build's check.
        find_qemu()
    except QemuNotFoundError as error:
        skip_or_fail(f"{error}; then run {RERUN_HINT}")

    def progress(level: str, message: str) -> None:
        del level
        report(message)

    try:
        outcome = ensure_overlay(project, progress=progress)
    except QemuNotFoundError as error:
        skip_or_fail(f"{error}; then run {RERUN_HINT}")
    except SetupCommandError as error:
        pytest.fail(
            f"building the overlay failed in _setup (hatch_build.py): {error}\n"
            f"Fix _setup and run {RERUN_HINT} again; `uv build` shows the same error.",
            pytrace=False,
        )
    except OverlayBuildError as error:
        pytest.fail(
            f"building the overlay failed: {error}\nRun {RERUN_HINT} again after the fix.",
            pytrace=False,
        )
    return project, outcome


def boot_spec(
    project: OverlayProject, outcome: BuildOutcome, mode: NetworkMode
) -> BootSpec:
    """Return how to boot the built overlay: recorded settings, the build's accelerator."""
    settings = project.settings
    try:
        accelerator = choose_accelerator(settings.accelerator)
    except OverlayBuildError as error:
        pytest.fail(f"{error}\nRun {RERUN_HINT} again after the fix.", pytrace=False)
    kwargs: dict[str, Any] = dict(outcome.record.get("settings", {}))
    kwargs.update(
        accel=accelerator.name,
        boot_timeout=settings.boot_timeout or accelerator.boot_timeout,
        extra_qemu_args=list(accelerator.extra_qemu_args),
        network_mode=mode,
    )
    return BootSpec(str(outcome.images_dir), kwargs, label=project.name)


@pytest.fixture(scope="session")
def overlay_build(
    request: pytest.FixtureRequest,
) -> tuple[OverlayProject, BuildOutcome]:
    """The project and its overlay, built first when missing or out of date."""
    root = find_project_root(request.config.rootpath)
    return build_overlay(root, reporter(request.config))


@pytest.fixture(scope="session")
def overlay_session(
    request: pytest.FixtureRequest, overlay_build: tuple[OverlayProject, BuildOutcome]
) -> Iterator[OverlaySession]:
    """The session's VMs; the shared one boots when the first test needs it."""
    project, outcome = overlay_build
    spec = boot_spec(project, outcome, network_mode(request.config))
    loop = LoopThread()
    session = OverlaySession(loop, spec, reporter(request.config))
    try:
        yield session
    finally:
        # Runs after failed tests and after Ctrl-C as well: pytest tears down
        # session fixtures in both cases.
        session.close()
        loop.close()


@pytest.fixture
def overlay_vm(
    request: pytest.FixtureRequest, overlay_session: OverlaySession
) -> Iterator[GuestVM]:
    """The VM for this test, in the state right after boot.

    Tests marked fresh_vm get a VM of their own, stopped after the test.
    Other tests share one VM, reverted to its post-boot checkpoint first.
    """
    if request.node.get_closest_marker(FRESH_VM_MARKER) is None:
        yield _shared_vm(overlay_session)
        return
    purpose = f"for {request.node.nodeid} ({FRESH_VM_MARKER})"
    vm = _call(overlay_session.boot_vm, purpose)
    try:
        yield vm
    finally:
        vm.stop()


def _shared_vm(session: OverlaySession) -> GuestVM:
    return _call(session.shared_vm)


def _call(function: Callable[..., GuestVM], *args: Any) -> GuestVM:
    try:
        return function(*args)
    except VMBootError as error:
        pytest.fail(f"{error}\nRun {RERUN_HINT} again after the fix.", pytrace=False)
    except RevertFailedError as error:
        pytest.fail(
            f"{error}; the shared VM was stopped and the next test boots a new one",
            pytrace=False,
        )


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, overlay_vm: GuestVM) -> GuestSandbox:
    """This test's VM with blocking run(), execute() and call() for async code."""
    return GuestSandbox(overlay_vm, timeout=command_timeout(request.config))


@pytest.fixture
def host(request: pytest.FixtureRequest, overlay_vm: GuestVM) -> testinfra.host.Host:
    """This test's VM as a testinfra Host: host.file(), host.user(), host.run(), ..."""
    backend = QuicksandBackend(overlay_vm, timeout=command_timeout(request.config))
    guest = testinfra.host.Host(backend)
    backend.set_host(guest)
    return guest
