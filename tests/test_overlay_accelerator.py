"""Tests of the accelerator choice for build VMs."""

from __future__ import annotations

from pathlib import Path

import pytest

from quicksand_overlay_scaffold.overlay.accelerator import choose_accelerator
from quicksand_overlay_scaffold.overlay.errors import InvalidSettingError

INTEL_FLAGS = "fpu vme de pse tsc msr sse sse2 ssse3 vmx sse4_1"
AMD_FLAGS = "fpu vme de pse tsc msr sse sse2 svm"
NO_VIRT_FLAGS = "fpu vme de pse tsc msr sse sse2 ssse3 sse4_1 hypervisor"


@pytest.fixture
def kvm(tmp_path: Path) -> Path:
    """A stand-in for /dev/kvm that is readable and writable."""
    device = tmp_path / "kvm"
    device.write_bytes(b"")
    return device


def cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n\n")
    return path


def choose(tmp_path: Path, kvm: Path, flags: str, machine: str = "x86_64", **kwargs):
    return choose_accelerator(
        environ=kwargs.pop("environ", {}),
        system=kwargs.pop("system", "Linux"),
        machine=machine,
        kvm_device=kvm,
        cpuinfo=cpuinfo(tmp_path, flags),
        **kwargs,
    )


@pytest.mark.parametrize("flags", [INTEL_FLAGS, AMD_FLAGS], ids=["vmx", "svm"])
def test_kvm_with_virt_flag(tmp_path: Path, kvm: Path, flags: str) -> None:
    accelerator = choose(tmp_path, kvm, flags)
    assert accelerator.name == "kvm"
    assert accelerator.extra_qemu_args == ()
    assert accelerator.boot_timeout == 120.0


def test_tcg_without_virt_flag(tmp_path: Path, kvm: Path) -> None:
    """A usable /dev/kvm without vmx or svm (nested sandboxes) gets TCG."""
    accelerator = choose(tmp_path, kvm, NO_VIRT_FLAGS)
    assert accelerator.name == "tcg"
    assert accelerator.extra_qemu_args == ("-cpu", "max")
    assert accelerator.boot_timeout == 600.0
    assert "neither the vmx nor the svm" in accelerator.reason


def test_tcg_without_kvm_device(tmp_path: Path) -> None:
    accelerator = choose(tmp_path, tmp_path / "no-kvm", INTEL_FLAGS)
    assert accelerator.name == "tcg"
    assert "does not exist" in accelerator.reason


def test_aarch64_needs_only_device(tmp_path: Path, kvm: Path) -> None:
    """ARM CPUs list no vmx or svm flag, so a usable /dev/kvm is enough there."""
    assert choose(tmp_path, kvm, "fp asimd evtstrm", machine="aarch64").name == "kvm"


def test_macos_uses_hvf(tmp_path: Path, kvm: Path) -> None:
    assert choose(tmp_path, kvm, "", machine="arm64", system="Darwin").name == "hvf"


def test_windows_falls_back_to_tcg(tmp_path: Path, kvm: Path) -> None:
    assert choose(tmp_path, kvm, "", machine="amd64", system="Windows").name == "tcg"


@pytest.mark.parametrize("name", ["tcg", "kvm", "hvf", "whpx"])
def test_env_overrides_detection(tmp_path: Path, kvm: Path, name: str) -> None:
    flags = NO_VIRT_FLAGS if name != "tcg" else INTEL_FLAGS
    accelerator = choose(
        tmp_path, kvm, flags, environ={"QUICKSAND_OVERLAY_ACCEL": name}
    )
    assert accelerator.name == name
    assert "QUICKSAND_OVERLAY_ACCEL" in accelerator.reason


def test_env_overrides_setting(tmp_path: Path, kvm: Path) -> None:
    accelerator = choose(
        tmp_path,
        kvm,
        INTEL_FLAGS,
        requested="kvm",
        environ={"QUICKSAND_OVERLAY_ACCEL": "TCG"},
    )
    assert accelerator.name == "tcg"
    assert accelerator.extra_qemu_args == ("-cpu", "max")


def test_env_auto_uses_setting(tmp_path: Path, kvm: Path) -> None:
    accelerator = choose(
        tmp_path,
        kvm,
        INTEL_FLAGS,
        requested="tcg",
        environ={"QUICKSAND_OVERLAY_ACCEL": "auto"},
    )
    assert accelerator.name == "tcg"
    assert "pyproject.toml" in accelerator.reason


def test_invalid_env_rejected(tmp_path: Path, kvm: Path) -> None:
    with pytest.raises(
        InvalidSettingError, match=r"invalid QUICKSAND_OVERLAY_ACCEL='xen'"
    ):
        choose(tmp_path, kvm, INTEL_FLAGS, environ={"QUICKSAND_OVERLAY_ACCEL": "xen"})


def test_unreadable_cpuinfo_means_tcg(tmp_path: Path, kvm: Path) -> None:
    accelerator = choose_accelerator(
        environ={},
        system="Linux",
        machine="x86_64",
        kvm_device=kvm,
        cpuinfo=tmp_path / "missing-cpuinfo",
    )
    assert accelerator.name == "tcg"
