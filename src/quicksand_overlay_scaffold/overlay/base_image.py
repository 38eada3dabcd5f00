"""Find the installed base image package, its version and its disk file."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from quicksand_overlay_scaffold.overlay.errors import BaseImageNotFoundError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "quicksand.images"


@dataclass(frozen=True)
class BaseImage:
    """An installed base image: the name Sandbox accepts and its disk file."""

    image: str
    package: str
    version: str
    disk: Path


def find_base_image(name: str) -> BaseImage:
    """Resolve NAME the way quicksand-core does and return its package and disk file.

    quicksand-core looks for an entry point named NAME, then ``quicksand-NAME``,
    in the ``quicksand.images`` group, and swallows every error on the way.
    This raises one that names the package to install.
    """
    entry_point = _entry_point(name)
    package = f"quicksand-{name}"
    if entry_point is None:
        raise BaseImageNotFoundError(
            f"base image {name!r} is not installed: add {package!r} to "
            "build-system.requires and dependencies in pyproject.toml"
        )
    if entry_point.dist is not None:
        package = entry_point.dist.name
    try:
        resolved = entry_point.load().resolve()
        disk = Path(resolved.chain[0])
    except Exception as error:
        raise BaseImageNotFoundError(
            f"base image {name!r} from {package} has no usable disk file ({error}); "
            f"reinstall {package} or set QUICKSAND_AUTO_INSTALL=1 to let it download"
        ) from error
    if not disk.is_file():
        raise BaseImageNotFoundError(
            f"base image {name!r} from {package} points to a missing disk file {disk}; "
            f"reinstall {package}"
        )
    version = entry_point.dist.version if entry_point.dist is not None else "unknown"
    return BaseImage(image=name, package=package, version=version, disk=disk)


def _entry_point(name: str) -> EntryPoint | None:
    candidates = entry_points(group=ENTRY_POINT_GROUP)
    for candidate_name in (name, f"quicksand-{name}"):
        for entry_point in candidates:
            if entry_point.name == candidate_name:
                return entry_point
    return None
