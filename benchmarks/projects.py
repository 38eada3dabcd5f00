"""Generated projects for the build and test sections: build, inspect, count boots."""

from __future__ import annotations

import logging
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from measure import BenchmarkError, CommandResult, run_timed
from workspace import Workspace

logger = logging.getLogger(__name__)

BOOT_LINE = "quicksand-overlay: booting "
HIT_LINE = "quicksand-overlay: overlay is up to date"


@dataclass
class BuildRun:
    """One `uv build --wheel` of a project: the timed command and the wheel it wrote."""

    result: CommandResult
    wheel: Path

    @property
    def boot_lines(self) -> int:
        return count_lines(self.result.output, BOOT_LINE)

    @property
    def hit_lines(self) -> int:
        return count_lines(self.result.output, HIT_LINE)


def count_lines(output: str, prefix: str) -> int:
    """Count the output lines that contain PREFIX (uv may put its own prefix first)."""
    return sum(1 for line in output.splitlines() if prefix in line)


def build_wheel(
    workspace: Workspace, project: Path, env: dict[str, str] | None = None
) -> BuildRun:
    """Build PROJECT's wheel with uv into a fresh PROJECT/dist, counting the VMs it boots."""
    dist = project / "dist"
    if dist.exists():
        shutil.rmtree(dist)
    command = [*workspace.uv, "build", "--wheel", "--out-dir", str(dist), str(project)]
    result = run_timed(command, env=env or workspace.build_env(), count_vms=True)
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        raise BenchmarkError(f"{dist}: expected one wheel, found {len(wheels)}")
    logger.info(
        "built %s in %.1f s, %d VM boots",
        wheels[0].name,
        result.seconds,
        result.vm_boots,
    )
    return BuildRun(result, wheels[0])


def module_dir(project: Path) -> Path:
    """Return PROJECT/src/<module>, the one package folder of a generated project."""
    packages = [path for path in (project / "src").iterdir() if path.is_dir()]
    if len(packages) != 1:
        raise BenchmarkError(
            f"{project / 'src'}: expected one package, found {packages}"
        )
    return packages[0]


def overlay_files(project: Path) -> list[Path]:
    """Return the qcow2 overlay files of PROJECT's built images folder."""
    return sorted((module_dir(project) / "images").rglob("*.qcow2"))


def wheel_members(wheel: Path) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(wheel) as archive:
        return [info for info in archive.infolist() if not info.is_dir()]


def accelerator_description() -> str:
    """Return the accelerator a build on this machine picks, and why."""
    from quicksand_overlay_scaffold.overlay.accelerator import choose_accelerator

    accelerator = choose_accelerator()
    return f"{accelerator.name} ({accelerator.reason})"
