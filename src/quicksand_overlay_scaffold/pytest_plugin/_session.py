"""The VMs of one test session: a shared VM reverted before each test, and fresh VMs."""

from __future__ import annotations

import logging
from collections.abc import Callable

from quicksand_overlay_scaffold.errors import RevertFailedError, VMBootError
from quicksand_overlay_scaffold.overlay.vm import BOOTING_PREFIX
from quicksand_overlay_scaffold.pytest_plugin._loop import LoopThread
from quicksand_overlay_scaffold.pytest_plugin._vm import BootSpec, GuestVM

logger = logging.getLogger(__name__)

# As in the build: a TCG guest on a busy host can stall early in boot while the
# next boot works, so a boot that timed out is tried once more.
BOOT_ATTEMPTS = 2


class OverlaySession:
    """Boots the shared VM on first use and hands it to tests in the booted state."""

    def __init__(
        self, loop: LoopThread, spec: BootSpec, report: Callable[[str], None]
    ) -> None:
        self.loop = loop
        self.spec = spec
        self.report = report
        self.boots = 0
        self._shared: GuestVM | None = None
        self._used = False
        self._boot_failure: str | None = None

    def shared_vm(self) -> GuestVM:
        """Return the shared VM, reverted to its post-boot checkpoint if a test used it.

        A failed boot is remembered, so later tests fail at once instead of
        waiting for another boot timeout.
        """
        if self._boot_failure is not None:
            raise VMBootError(self._boot_failure)
        if self._shared is None:
            self._shared = self._boot_shared()
        elif self._used:
            self._revert_shared()
        self._used = True
        return self._shared

    def _boot_shared(self) -> GuestVM:
        vm = self.boot_vm("for the test session")
        try:
            vm.checkpoint()
        except BaseException:
            vm.stop()
            raise
        return vm

    def _revert_shared(self) -> None:
        assert self._shared is not None
        try:
            self._shared.revert()
        except RevertFailedError:
            # The VM's state is unknown now: stop it so the next test boots anew.
            self._shared.stop()
            self._shared = None
            raise

    def boot_vm(self, purpose: str) -> GuestVM:
        """Boot a new VM from the overlay; the caller stops it."""
        if self._boot_failure is not None:
            raise VMBootError(self._boot_failure)
        accel = self.spec.sandbox_kwargs.get("accel", "auto")
        announcement = (
            f"{BOOTING_PREFIX}{self.spec.label} {purpose} (accelerator {accel})"
        )
        for attempt in range(1, BOOT_ATTEMPTS + 1):
            suffix = f" (attempt {attempt} of {BOOT_ATTEMPTS})" if attempt > 1 else ""
            self.report(announcement + suffix)
            vm = GuestVM(self.loop, self.spec)
            try:
                seconds = vm.boot(self.report)
                break
            except VMBootError as error:
                if attempt < BOOT_ATTEMPTS and _timed_out(error):
                    self.report(f"quicksand-overlay: {error}; booting once more")
                    continue
                self._boot_failure = str(error)
                raise
        self.boots += 1
        self.report(f"quicksand-overlay: {self.spec.label} booted in {seconds:.1f} s")
        return vm

    def close(self) -> None:
        """Stop the shared VM if it is running."""
        vm, self._shared = self._shared, None
        if vm is not None:
            vm.stop()


def _timed_out(error: BaseException) -> bool:
    """Return whether ERROR or an exception it was raised from is a timeout."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, TimeoutError):
            return True
        current = current.__cause__
    return False
