"""Errors raised while building an overlay, each with a message a user can act on."""

from __future__ import annotations

DISK_FULL_MARKER = "No space left on device"


class OverlayBuildError(Exception):
    """Root of the errors that stop an overlay build."""


class InvalidProjectError(OverlayBuildError, ValueError):
    """Raised when pyproject.toml or the build script lacks what the build needs."""


class InvalidSettingError(OverlayBuildError, ValueError):
    """Raised when a VM setting in the hook's pyproject.toml table is unknown or invalid."""


class BaseImageNotFoundError(OverlayBuildError, LookupError):
    """Raised when the base image package is not installed or has no disk file."""


class QemuNotFoundError(OverlayBuildError, RuntimeError):
    """Raised when no runnable QEMU is found."""


class BootFailedError(OverlayBuildError, RuntimeError):
    """Raised when the VM could not be started for a reason other than a timeout."""


class BootTimeoutError(BootFailedError, TimeoutError):
    """Raised when the guest agent did not respond within the boot timeout."""

    def __init__(self, message: str, console_tail: str = "") -> None:
        super().__init__(message)
        self.console_tail = console_tail


class SaveFailedError(OverlayBuildError, RuntimeError):
    """Raised when saving or compressing the overlay disk failed."""


class BuildInterruptedError(OverlayBuildError, RuntimeError):
    """Raised when SIGTERM stopped the build; the previous overlay is kept."""


class SetupCommandError(OverlayBuildError, RuntimeError):
    """Raised when a command that ``_setup`` ran in the guest exited non-zero.

    The attributes keep the command, its exit status and the last lines of
    its output, so callers can report or inspect the failure.
    """

    def __init__(
        self,
        command: str,
        exit_status: int,
        stdout_tail: str,
        stderr_tail: str,
        *,
        reason: str = "",
    ) -> None:
        self.command = command
        self.exit_status = exit_status
        self.stdout_tail = stdout_tail
        self.stderr_tail = stderr_tail
        summary = reason or f"failed with exit status {exit_status}"
        message = f"setup command {command!r} {summary}"
        tail = _format_tail(stdout_tail, stderr_tail)
        super().__init__(f"{message}{tail}" if tail else message)


class SetupTimeoutError(SetupCommandError, TimeoutError):
    """Raised when a setup command ran longer than its timeout and was killed."""


class DiskFullError(SetupCommandError):
    """Raised when a setup command failed because the guest disk is full."""


def _format_tail(stdout_tail: str, stderr_tail: str) -> str:
    parts = []
    for label, text in (("stdout", stdout_tail), ("stderr", stderr_tail)):
        lines = text.rstrip("\n").splitlines()
        if lines:
            parts.append(f"\n--- last {len(lines)} lines of {label} ---")
            parts.extend(f"\n  {line}" for line in lines)
    return "".join(parts)
