"""The synchronous ``sandbox`` fixture value: quicksand's API without async tests."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from quicksand_core import ExecuteResult, Sandbox

from quicksand_overlay_scaffold.pytest_plugin._vm import GuestVM

T = TypeVar("T")
_TAIL_LINES = 20


class GuestSandbox:
    """A booted overlay VM for one test.

    ``run()`` and ``execute()`` block until the guest command ends. For
    quicksand's own async API, pass a coroutine to ``call()``; it runs on the
    session's event loop, where the Sandbox lives::

        result = sandbox.call(sandbox.quicksand.execute("uname -a", timeout=10))
    """

    def __init__(self, vm: GuestVM, *, timeout: float) -> None:
        self._vm = vm
        self.timeout = timeout

    @property
    def quicksand(self) -> Sandbox:
        """The underlying ``quicksand_core.Sandbox``; await its methods via call()."""
        return self._vm._running()

    def call(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        """Await AWAITABLE on the session's event loop and return its result."""
        return self._vm.call(awaitable, timeout=timeout)

    def execute(
        self, command: str, *, timeout: float | None = None, **options: Any
    ) -> ExecuteResult:
        """Call ``Sandbox.execute`` unchanged and return its ExecuteResult.

        quicksand does not stop a command that outlives TIMEOUT in this mode;
        prefer run(), which kills it in the guest.
        """
        return self._vm.execute(command, timeout=timeout or self.timeout, **options)

    def run(
        self,
        command: str,
        *,
        timeout: float | None = None,
        check: bool = False,
        **options: Any,
    ) -> ExecuteResult:
        """Run COMMAND in the guest, killed there after TIMEOUT seconds.

        OPTIONS go to ``Sandbox.execute`` (cwd, user, stdin). With CHECK, a
        non-zero exit status fails the test with the command and its output.
        Raises GuestCommandError on a timeout.
        """
        result = self._vm.run(command, timeout=timeout or self.timeout, **options)
        if check and result.exit_code != 0:
            raise AssertionError(_failure_message(command, result))
        return result


def _failure_message(command: str, result: ExecuteResult) -> str:
    lines = [f"guest command {command!r} exited with status {result.exit_code}"]
    for label, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        tail = text.rstrip("\n").splitlines()[-_TAIL_LINES:]
        if tail:
            lines.append(f"--- {label} (last {len(tail)} lines) ---")
            lines.extend(tail)
    return "\n".join(lines)
