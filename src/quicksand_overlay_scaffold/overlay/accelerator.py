"""Choose the QEMU accelerator for a build VM without waiting on one that cannot work.

quicksand-core 0.14 picks KVM whenever /dev/kvm is readable and writable. Some
hosts (nested sandboxes among them) expose a /dev/kvm that cannot run a guest,
and a boot there hangs until the boot timeout. On x86 the CPU flags tell the
two apart: a host that can run KVM guests shows ``vmx`` (Intel) or ``svm``
(AMD) in /proc/cpuinfo.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from quicksand_overlay_scaffold.overlay.errors import InvalidSettingError

ENV_VAR = "QUICKSAND_OVERLAY_ACCEL"
CHOICES = ("auto", "kvm", "tcg", "hvf", "whpx")

# Boot timeouts in seconds. Under TCG an Alpine guest booted in 20 s to about
# 2.5 min on a 2-core x86_64 host, the longer times with four VMs running.
# 600 s is also the value quicksand-core 0.14 switches to for TCG.
HARDWARE_BOOT_TIMEOUT = 120.0
TCG_BOOT_TIMEOUT = 600.0
TCG_QEMU_ARGS = ("-cpu", "max")

_X86 = {"x86_64", "amd64", "i386", "i686"}
_ARM = {"aarch64", "arm64"}


@dataclass(frozen=True)
class Accelerator:
    """The accelerator a build VM uses and why it was chosen."""

    name: str
    boot_timeout: float
    reason: str
    extra_qemu_args: tuple[str, ...] = field(default=())


def choose_accelerator(
    requested: str = "auto",
    *,
    environ: Mapping[str, str] | None = None,
    system: str | None = None,
    machine: str | None = None,
    kvm_device: Path = Path("/dev/kvm"),
    cpuinfo: Path = Path("/proc/cpuinfo"),
) -> Accelerator:
    """Pick the accelerator: QUICKSAND_OVERLAY_ACCEL, then REQUESTED, then detection.

    ``system`` and ``machine`` default to this host's ``platform.system()``
    and ``platform.machine()``; tests pass other values and fake paths.
    """
    environ = os.environ if environ is None else environ
    override = environ.get(ENV_VAR, "").strip().lower()
    if override and override not in CHOICES:
        raise InvalidSettingError(
            f"invalid {ENV_VAR}={override!r}: expected one of {', '.join(CHOICES)}"
        )
    if override and override != "auto":
        return _named(override, f"{ENV_VAR}={override}")
    if requested != "auto":
        return _named(requested, f"accelerator = {requested!r} in pyproject.toml")
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    return _detect(system, machine, kvm_device, cpuinfo)


def _named(name: str, reason: str) -> Accelerator:
    if name == "tcg":
        return Accelerator("tcg", TCG_BOOT_TIMEOUT, reason, TCG_QEMU_ARGS)
    return Accelerator(name, HARDWARE_BOOT_TIMEOUT, reason)


def _detect(system: str, machine: str, kvm_device: Path, cpuinfo: Path) -> Accelerator:
    if system == "Darwin":
        return Accelerator("hvf", HARDWARE_BOOT_TIMEOUT, "macOS Hypervisor.framework")
    if system == "Linux":
        problem = kvm_problem(machine, kvm_device, cpuinfo)
        if problem is None:
            return Accelerator(
                "kvm", HARDWARE_BOOT_TIMEOUT, f"{kvm_device} can run guests"
            )
        reason = f"KVM not usable: {problem}; using software emulation (TCG)"
    else:
        reason = f"no hardware accelerator detected on {system}; using software emulation (TCG)"
    return Accelerator("tcg", TCG_BOOT_TIMEOUT, reason, TCG_QEMU_ARGS)


def kvm_problem(machine: str, kvm_device: Path, cpuinfo: Path) -> str | None:
    """Return why KVM cannot run a guest on this Linux host, or None if it can."""
    if not kvm_device.exists():
        return f"{kvm_device} does not exist"
    if not os.access(kvm_device, os.R_OK | os.W_OK):
        return f"{kvm_device} is not readable and writable by this user"
    if machine in _ARM:
        return None
    if machine not in _X86:
        return f"KVM is not checked on {machine} hosts"
    flags = cpu_flags(cpuinfo)
    if not flags & {"vmx", "svm"}:
        return f"{cpuinfo} shows neither the vmx nor the svm CPU flag"
    return None


def cpu_flags(cpuinfo: Path) -> set[str]:
    """Return the CPU flags listed in a /proc/cpuinfo file (empty if unreadable)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return set()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return flags
