"""Build hook: boot the {{ cookiecutter.base }} base image, run _setup, ship the overlay.

Edit _setup below. The build machinery comes from quicksand-overlay-scaffold,
which pyproject.toml lists in build-system.requires.
"""

import quicksand_overlay_scaffold.build_hook as overlay_build


# ---- Edit here: the commands that turn the base image into your image. ----
async def _setup(shell):
    await shell("echo {{ cookiecutter.__package_slug }} > /etc/overlay-release", timeout=30)


# ---- End of the edit region. ----


class OverlayBuildHook(overlay_build.OverlayBuildHook):
    setup = staticmethod(_setup)
