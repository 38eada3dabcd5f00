"""pytest configuration: the quicksand-overlay-scaffold plugin builds and boots the image.

The plugin provides the host and sandbox fixtures and the fresh_vm marker.
Its options go in pyproject.toml under [tool.pytest.ini_options]:
quicksand_network_mode (none, mounts_only or full) and
quicksand_command_timeout (seconds per guest command).
"""

pytest_plugins = ["quicksand_overlay_scaffold.pytest_plugin"]
