"""SIGTERM or Ctrl-C during a build leaves images/ as it was and no QEMU behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quicksand_overlay_scaffold.cli import main as scaffold

pytestmark = pytest.mark.vm

BUILD_SCRIPT = """
import sys
from pathlib import Path
from quicksand_overlay_scaffold.overlay.builder import ensure_overlay
from quicksand_overlay_scaffold.overlay.project import load_project

ensure_overlay(load_project(Path(sys.argv[1])), force=True)
"""
WAIT_SECONDS = 120


def descendants(pid: int) -> set[int]:
    """Return the PIDs of every process below PID, read from /proc."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split()
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def wait_for_qemu(build: subprocess.Popen[str]) -> set[int]:
    """Wait until QEMU runs below BUILD and return the processes below BUILD."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        below = descendants(build.pid)
        commands = [
            Path(f"/proc/{pid}/cmdline").read_bytes()
            for pid in below
            if is_running(pid)
        ]
        if any(b"qemu-system" in command for command in commands):
            return below
        assert build.poll() is None, build.stderr.read() if build.stderr else ""
        time.sleep(0.5)
    pytest.fail(f"QEMU did not start within {WAIT_SECONDS} s")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("signal_number", "message"),
    [(signal.SIGTERM, "stopped by SIGTERM"), (signal.SIGINT, "KeyboardInterrupt")],
    ids=["sigterm", "ctrl-c"],
)
def test_interrupted_build_cleans_up(
    tmp_path: Path, signal_number: int, message: str
) -> None:
    assert (
        scaffold(["stop-box", "--base", "alpine", "--output-dir", str(tmp_path)]) == 0
    )
    root = tmp_path / "stop-box"
    images = root / "src" / "stop_box" / "images"
    (images / "overlays").mkdir(parents=True)
    (images / "overlays" / "0.qcow2").write_bytes(b"previous overlay")
    (images / "overlay-build.json").write_text(json.dumps({"format": 1}))
    env = {**os.environ, "QUICKSAND_OVERLAY_CACHE": str(tmp_path / "cache")}
    build = subprocess.Popen(
        [sys.executable, "-c", BUILD_SCRIPT, str(root)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        below = wait_for_qemu(build)
        build.send_signal(signal_number)
        _, stderr = build.communicate(timeout=WAIT_SECONDS)
    finally:
        if build.poll() is None:
            build.kill()
    assert build.returncode != 0
    assert message in stderr
    assert [pid for pid in below if is_running(pid)] == []
    assert (images / "overlays" / "0.qcow2").read_bytes() == b"previous overlay"
    assert list(images.parent.glob(".images-build-*")) == []
