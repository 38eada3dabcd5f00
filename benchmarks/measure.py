"""Timing, statistics, machine facts and a QEMU process counter for the benchmarks."""

from __future__ import annotations

import logging
import os
import platform
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

# Every process a benchmark starts carries this variable with a value unique to
# that command, so the QEMU counter finds the VMs a command booted even where
# other programs on the machine boot VMs at the same time.
MARKER_VARIABLE = "QSBENCH_COMMAND_ID"


class BenchmarkError(RuntimeError):
    """Raised when a measured command fails or a section cannot run."""


@dataclass
class CommandResult:
    """One timed command: wall time in seconds, exit status and merged output."""

    seconds: float
    returncode: int
    output: str
    qemu_commands: dict[int, str] = field(default_factory=dict)

    @property
    def vm_boots(self) -> int:
        """Count the QEMU processes that ran a guest: those given a disk with -drive.

        quicksand also starts QEMU briefly without a guest, to probe it.
        """
        return sum(
            1 for command in self.qemu_commands.values() if " -drive " in command
        )


def run_timed(
    command: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
    count_vms: bool = False,
) -> CommandResult:
    """Run COMMAND, time it with a monotonic clock, and raise BenchmarkError on failure.

    With count_vms, a background thread records every QEMU process that the
    command starts, however deep in its process tree.
    """
    env = dict(os.environ if env is None else env)
    marker = f"{os.getpid()}-{time.monotonic_ns()}"
    env[MARKER_VARIABLE] = marker
    watcher = QemuWatcher(marker) if count_vms else None
    if watcher:
        watcher.start()
    logger.debug("running %s in %s", command, cwd)
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            command,
            check=False,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    finally:
        seconds = time.perf_counter() - start
        qemu_commands = watcher.stop() if watcher else {}
    result = CommandResult(
        seconds, completed.returncode, completed.stdout, qemu_commands
    )
    if completed.returncode != 0:
        tail = "\n".join(completed.stdout.splitlines()[-40:])
        raise BenchmarkError(
            f"{' '.join(command)} failed with exit status {completed.returncode}:\n{tail}"
        )
    return result


def summarize(samples: list[float]) -> dict:
    """Return the median, minimum, maximum and the samples themselves."""
    if not samples:
        raise BenchmarkError("no samples to summarize")
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
        "samples": [round(sample, 4) for sample in samples],
    }


def folder_size(path: Path) -> dict:
    """Return the bytes and the number of regular files under PATH."""
    total = 0
    files = 0
    for item in path.rglob("*"):
        if item.is_file() and not item.is_symlink():
            total += item.stat().st_size
            files += 1
    return {"bytes": total, "files": files}


def qemu_processes() -> dict[int, tuple[str, str]]:
    """Return the environment and command line of each running qemu-system process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            if not name.startswith("qemu-system"):
                continue
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:  # the process ended while it was read
            continue
        found[int(entry.name)] = (environ, command.replace("\0", " "))
    return found


class QemuWatcher:
    """Poll /proc for QEMU processes whose environment carries one marker value."""

    POLL_SECONDS = 0.1

    def __init__(self, marker: str) -> None:
        self._needle = f"{MARKER_VARIABLE}={marker}\0"
        self._seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[int, str]:
        """Stop polling; return the command line of each QEMU process seen, by PID."""
        self._stop.set()
        self._thread.join()
        return dict(self._seen)

    def _poll(self) -> None:
        while not self._stop.is_set():
            for pid, (environ, command) in qemu_processes().items():
                if self._needle in environ + "\0":
                    self._seen.setdefault(pid, command)
            self._stop.wait(self.POLL_SECONDS)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def tool_version(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return "not found"
    completed = subprocess.run(command, check=False, capture_output=True, text=True)
    first = (completed.stdout or completed.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def machine_facts() -> dict:
    """Describe the machine: cores, CPU, memory, OS, Python, QEMU and current load."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(pages / 2**30, 1),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "qemu": tool_version(["qemu-system-x86_64", "--version"]),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "other_qemu_processes": len(qemu_processes()),
    }
