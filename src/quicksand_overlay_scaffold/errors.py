"""Errors that the scaffold command reports to the user as one line."""


class ScaffoldError(Exception):
    """Root of the errors a user can cause; the command prints it and exits 1."""


class InvalidInputError(ScaffoldError, ValueError):
    """Raised when a name, base image or free-text value cannot be used."""


class TargetExistsError(ScaffoldError, FileExistsError):
    """Raised when the project folder is not empty or a path on the way is a file."""


class GenerationFailedError(ScaffoldError, RuntimeError):
    """Raised when cookiecutter or one of the template's hooks fails."""


class VMTestError(ScaffoldError, RuntimeError):
    """Root of the errors the pytest plugin raises about a test VM."""


class VMBootError(VMTestError):
    """Raised when a test VM could not boot: QEMU or the base image missing, timeout."""


class RevertFailedError(VMTestError):
    """Raised when a revert to the post-boot checkpoint did not take effect."""


class GuestCommandError(VMTestError):
    """Raised when a test's guest command timed out or could not be delivered."""
