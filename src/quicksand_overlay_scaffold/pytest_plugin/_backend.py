"""A testinfra backend that runs commands in a quicksand VM through ``execute``.

testinfra modules (file, package, user, group, service, ...) build shell
commands and call ``backend.run``; this backend hands them to the guest agent.
"""

from __future__ import annotations

from typing import Any

from testinfra.backend.base import BaseBackend, CommandResult

from quicksand_overlay_scaffold.pytest_plugin._vm import GuestVM

DEFAULT_COMMAND_TIMEOUT = 60.0


class QuicksandBackend(BaseBackend):
    """testinfra backend for a GuestVM; every command gets a timeout."""

    NAME = "quicksand"

    def __init__(
        self, vm: GuestVM, *, timeout: float = DEFAULT_COMMAND_TIMEOUT, **kwargs: Any
    ) -> None:
        self.vm = vm
        self.timeout = timeout
        super().__init__(vm.spec.label, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        """Run COMMAND (with ``%s`` ARGS quoted in) in the guest.

        ``timeout=SECONDS`` overrides the backend's default for this command,
        as in ``host.run("make", timeout=600)``. Raises GuestCommandError when
        the command timed out or quicksand could not deliver it.
        """
        timeout = float(kwargs.get("timeout") or self.timeout)
        command = self.get_command(command, *args)
        result = self.vm.run(command, timeout=timeout)
        return self.result(
            result.exit_code, self.encode(command), result.stdout, result.stderr
        )
