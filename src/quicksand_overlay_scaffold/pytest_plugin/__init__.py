"""pytest plugin for generated overlay projects: build, boot once, test each state.

A generated project's tests/conftest.py loads it with::

    pytest_plugins = ["quicksand_overlay_scaffold.pytest_plugin"]

Fixtures:

- ``host``: a testinfra Host for the test's VM (``host.file``, ``host.user``,
  ``host.package``, ``host.service``, ``host.run``, ``host.check_output``).
- ``sandbox``: the same VM with blocking ``run()``/``execute()``, and
  ``call(coroutine)`` for quicksand's async API via ``sandbox.quicksand``.
- ``overlay_vm``: the GuestVM under both; ``overlay_session`` and
  ``overlay_build``: the session's VMs and the build outcome.

The overlay is built first when missing or out of date (the same build as
``uv build``), then booted once per session. Before each test the shared VM
is reverted to a checkpoint taken after boot. ``@pytest.mark.fresh_vm`` gives
a test a VM of its own.

ini options: ``quicksand_network_mode`` (none, mounts_only or full; default
none) and ``quicksand_command_timeout`` (seconds per guest command; default 60).
"""

from quicksand_overlay_scaffold.pytest_plugin._fixtures import (
    host,
    overlay_build,
    overlay_session,
    overlay_vm,
    pytest_addoption,
    pytest_configure,
    sandbox,
)
from quicksand_overlay_scaffold.pytest_plugin._sandbox import GuestSandbox

__all__ = [
    "GuestSandbox",
    "host",
    "overlay_build",
    "overlay_session",
    "overlay_vm",
    "pytest_addoption",
    "pytest_configure",
    "sandbox",
]
