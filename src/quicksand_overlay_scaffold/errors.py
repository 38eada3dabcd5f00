"""Errors that the scaffold command reports to the user as one line."""


class ScaffoldError(Exception):
    """Root of the errors a user can cause; the command prints it and exits 1."""


class InvalidInputError(ScaffoldError, ValueError):
    """Raised when a name, base image or free-text value cannot be used."""


class TargetExistsError(ScaffoldError, FileExistsError):
    """Raised when the project folder exists and is not empty."""


class GenerationFailedError(ScaffoldError, RuntimeError):
    """Raised when cookiecutter or one of the template's hooks fails."""
