"""Build hook: boot the {{ cookiecutter.base }} base image, run _setup, ship the overlay.

`uv build --wheel` boots the base image in a VM, runs _setup below in it and
saves the changed disk into src/{{ cookiecutter.__module_name }}/images/. The VM settings are in
pyproject.toml under [tool.hatch.build.targets.wheel.hooks.custom]. The build
machinery comes from quicksand-overlay-scaffold (see build-system.requires).
"""

import quicksand_overlay_scaffold.build_hook as overlay_build


# ---- Edit here: the commands that turn the base image into your image. ----
async def _setup(shell):
    """Run commands as root in the build VM: await shell("command", timeout=SECONDS).

    A command that exits non-zero stops the build with its output. To copy a
    project file in, use await shell.put("files/app.conf", "/etc/app.conf").
    """
    # A release file that identifies this image.
    await shell("echo 'NAME={{ cookiecutter.__package_slug }}' > /etc/{{ cookiecutter.__package_slug }}-release", timeout=30)
    # An unprivileged user for running applications.
{%- if cookiecutter.base.startswith("alpine") %}
    await shell("adduser -D -s /bin/sh app", timeout=30)
{%- else %}
    await shell("useradd --create-home --shell /bin/bash app", timeout=30)
{%- endif %}
    # A profile script that login shells source.
    await shell(
        "echo 'export OVERLAY_NAME={{ cookiecutter.__package_slug }}' > /etc/profile.d/{{ cookiecutter.__package_slug }}.sh",
        timeout=30,
    )
{%- if cookiecutter.base.startswith("alpine") %}

    # Install packages (the build VM has network access by default):
    # await shell("apk add --no-cache curl git", timeout=600)
{%- else %}

    # Install packages (the build VM has network access by default):
    # await shell("apt-get update", timeout=600)
    # await shell(
    #     "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl git",
    #     timeout=900,
    # )
    # await shell("apt-get clean && rm -rf /var/lib/apt/lists/*", timeout=120)
{%- endif %}


# ---- End of the edit region. ----


class OverlayBuildHook(overlay_build.OverlayBuildHook):
    setup = staticmethod(_setup)
