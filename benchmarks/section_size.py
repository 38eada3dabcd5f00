"""Section 5: the shipped overlay's size for a setup that writes and deletes data."""

from __future__ import annotations

import logging

from projects import build_wheel, overlay_files
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


def run(workspace: Workspace, repetitions: int) -> dict:
    parent = workspace.fresh_dir("size")
    project = workspace.scaffold(parent, PROJECT)
    replace_setup(project, SETUP)
    build = build_wheel(workspace, project)
    overlays = overlay_files(project)
    overlay_bytes = sum(path.stat().st_size for path in overlays)
    wheel_bytes = build.wheel.stat().st_size
    kept = KEPT_MIB * MIB
    overlay_ratio = overlay_bytes / kept
    wheel_ratio = wheel_bytes / kept
    explanation = (
        "blocks of the deleted file were still allocated in the guest disk when the "
        "overlay was saved (the guest's discard did not reach the qcow2 file)"
    )
    return {
        "measurements": {},
        "values": {
            "build time (s)": build.result.seconds,
            "VMs booted": build.result.vm_boots,
            "random data kept (bytes)": kept,
            "random data written and deleted (bytes)": DELETED_MIB * MIB,
            "compressed overlay (bytes)": overlay_bytes,
            "overlay files": ", ".join(path.name for path in overlays),
            "wheel (bytes)": wheel_bytes,
            "overlay / kept data": overlay_ratio,
            "wheel / kept data": wheel_ratio,
        },
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
                "deletes it. One build; the sizes do not vary between builds of one setup."
            ),
        ],
    }
