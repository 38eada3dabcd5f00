"""Scaffold, build and test quicksand overlay image packages."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("quicksand-overlay-scaffold")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
