"""Tests of the VM settings read from the build hook's pyproject.toml table."""

from __future__ import annotations

import pytest

from quicksand_overlay_scaffold.overlay.errors import InvalidSettingError
from quicksand_overlay_scaffold.overlay.settings import read_settings


@pytest.mark.parametrize(
    ("base", "memory", "cpus", "disk_size"),
    [
        ("ubuntu", "4G", 4, "10G"),
        ("ubuntu-desktop", "4G", 4, "10G"),
        ("alpine", "1G", 1, None),
        ("alpine-desktop", "2G", 2, None),
    ],
)
def test_defaults_by_base(
    base: str, memory: str, cpus: int, disk_size: str | None
) -> None:
    settings = read_settings({"path": "hatch_build.py", "base": base})
    assert settings.memory == memory
    assert settings.cpus == cpus
    assert settings.disk_size == disk_size
    assert settings.network == "full"
    assert settings.accelerator == "auto"
    assert settings.boot_timeout is None


def test_table_overrides_defaults() -> None:
    settings = read_settings(
        {
            "base": "alpine",
            "memory": "512M",
            "cpus": 1,
            "disk-size": "3G",
            "network": "none",
            "boot-timeout": 90,
            "accelerator": "tcg",
            "setup-timeout": 30.5,
            "inputs": ["files/*.conf"],
        }
    )
    assert settings.sandbox_kwargs() == {"memory": "512M", "cpus": 1, "disk_size": "3G"}
    assert settings.network == "none"
    assert settings.boot_timeout == 90.0
    assert settings.accelerator == "tcg"
    assert settings.setup_timeout == 30.5
    assert settings.inputs == ("files/*.conf",)


def test_hatch_keys_accepted() -> None:
    table = {
        "base": "alpine",
        "path": "hatch_build.py",
        "dependencies": [],
        "enable-by-default": True,
    }
    assert read_settings(table).base == "alpine"


def test_misspelt_setting_named() -> None:
    with pytest.raises(
        InvalidSettingError,
        match=r"unknown setting 'memroy'.*did you mean 'memory'\?.*valid settings: base, memory",
    ):
        read_settings({"base": "alpine", "memroy": "2G"})


def test_unknown_setting_lists_valid_ones() -> None:
    with pytest.raises(
        InvalidSettingError,
        match=r"unknown setting 'colour'.*valid settings: .*setup-timeout, inputs",
    ):
        read_settings({"base": "alpine", "colour": "blue"})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("base", "debian", "one of ubuntu, ubuntu-desktop, alpine"),
        ("memory", "lots", "a size such as"),
        ("memory", 4, "a size such as"),
        ("memory", "0G", "a size such as"),
        ("memory", "1.5 GB extra", "a size such as"),
        ("disk-size", "10GB", "a size such as"),
        ("cpus", 0, "a whole number of at least 1"),
        ("cpus", True, "a whole number of at least 1"),
        ("cpus", "2", "a whole number of at least 1"),
        ("network", "mounts", "one of 'full', 'none'"),
        ("boot-timeout", -5, "a finite number of seconds greater than 0"),
        ("boot-timeout", 0, "a finite number of seconds greater than 0"),
        ("boot-timeout", float("nan"), "a finite number of seconds greater than 0"),
        ("boot-timeout", float("inf"), "a finite number of seconds greater than 0"),
        ("setup-timeout", float("nan"), "a finite number of seconds greater than 0"),
        ("setup-timeout", "long", "a finite number of seconds greater than 0"),
        ("accelerator", "xen", "one of 'auto', 'kvm', 'tcg'"),
        ("inputs", "files/a.conf", "a list of file paths"),
    ],
)
def test_invalid_value_named(key: str, value: object, expected: str) -> None:
    table = {"base": "alpine", key: value}
    with pytest.raises(
        InvalidSettingError, match=rf"invalid setting {key} = .*expected {expected}"
    ):
        read_settings(table)


def test_missing_base_rejected() -> None:
    with pytest.raises(InvalidSettingError, match=r"invalid setting base = None"):
        read_settings({"memory": "1G"})


@pytest.mark.parametrize("memory", ["1.5G", "2048", "4GB", "512MiB", "2g"])
def test_memory_forms_quicksand_accepts(memory: str) -> None:
    """Every memory form quicksand-core parses passes unchanged."""
    assert read_settings({"base": "alpine", "memory": memory}).memory == memory


@pytest.mark.parametrize(
    "pattern", ["../secret.txt", "/etc/*", "files/../../x", "C:\\data\\*", "..\\x"]
)
def test_inputs_outside_project_rejected(pattern: str) -> None:
    """An absolute inputs pattern, or one with '..', is named in a one-line error."""
    with pytest.raises(InvalidSettingError) as caught:
        read_settings({"base": "alpine", "inputs": ["files/*.conf", pattern]})
    message = str(caught.value)
    assert message.startswith(f"invalid inputs pattern {pattern!r} in ")
    assert "is absolute or contains '..'" in message
    assert "\n" not in message


def test_inputs_inside_project_kept() -> None:
    patterns = ["files/*.conf", "a..b/c.txt", "**/*.sh"]
    settings = read_settings({"base": "alpine", "inputs": patterns})
    assert settings.inputs == tuple(patterns)
