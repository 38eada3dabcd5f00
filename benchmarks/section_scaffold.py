"""Section 1: scaffolding time and output size against cookiecutter and upstream 0.3.12."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from measure import CommandResult, folder_size, run_timed, summarize
from report import target
from workspace import REPO_ROOT, Workspace

logger = logging.getLogger(__name__)

PROJECT = "bench-box"
UPSTREAM = "quicksand-overlay-scaffold==0.3.12"
TARGET_RATIO = 1.2


def scaffold_commands(ours: Path, upstream: Path) -> dict[str, list[str]]:
    """Return the three commands, each to be run in an empty folder."""
    return {
        "ours": [
            str(ours / "bin" / "quicksand-overlay-scaffold"),
            PROJECT,
            "--base",
            "alpine",
        ],
        "cookiecutter": [
            str(ours / "bin" / "cookiecutter"),
            "--no-input",
            str(REPO_ROOT),
            f"project_name={PROJECT}",
            "base=alpine",
        ],
        "upstream 0.3.12": [
            str(upstream / "bin" / "quicksand-overlay-scaffold"),
            PROJECT,
            "--base",
            "alpine",
        ],
    }


def time_round_robin(
    workspace: Workspace, commands: dict[str, list[str]], repetitions: int
) -> tuple[dict[str, list[float]], dict[str, Path]]:
    """Run each command REPETITIONS times, interleaved so that drift hits all alike.

    One untimed warm-up run per command first writes the bytecode caches.
    """
    samples: dict[str, list[float]] = {label: [] for label in commands}
    outputs: dict[str, Path] = {}
    for round_number in range(repetitions + 1):
        for index, (label, command) in enumerate(commands.items()):
            cwd = workspace.fresh_dir(f"scaffold/{index}")
            result = run_timed(command, cwd=cwd, env=workspace.bytecode_env())
            if round_number > 0:
                samples[label].append(result.seconds)
            outputs[label] = cwd / PROJECT
    return samples, outputs


def import_milliseconds(python: Path, module: str) -> float:
    """Return the cumulative import time of MODULE in milliseconds (python -X importtime)."""
    command = [str(python), "-X", "importtime", "-c", f"import {module}"]
    result: CommandResult = run_timed(command, env=Workspace.bytecode_env())
    pattern = re.compile(
        r"^import time:\s+\d+ \|\s+(\d+) \|\s*" + re.escape(module) + "$"
    )
    for line in result.output.splitlines():
        found = pattern.match(line)
        if found:
            return int(found.group(1)) / 1000
    return float("nan")


def startup_samples(python: Path, repetitions: int) -> dict[str, dict]:
    """Time the interpreter start alone and with each command's imports, for context."""
    probes = {
        "python -c pass": "pass",
        "import cookiecutter.cli": "import cookiecutter.cli",
        "import quicksand_overlay_scaffold.cli": "import quicksand_overlay_scaffold.cli",
    }
    found = {}
    for label, code in probes.items():
        command = [str(python), "-c", code]
        env = Workspace.bytecode_env()
        run_timed(command, env=env)
        seconds = [run_timed(command, env=env).seconds for _ in range(repetitions)]
        found[label] = summarize(seconds)
    return found


def run(workspace: Workspace, repetitions: int) -> dict:
    ours = workspace.make_venv("venv-ours", str(wheel_path(workspace)))
    upstream = workspace.make_venv("venv-upstream", UPSTREAM)
    commands = scaffold_commands(ours, upstream)
    samples, outputs = time_round_robin(workspace, commands, repetitions)
    times = {f"{label} (s)": summarize(values) for label, values in samples.items()}
    sizes = {label: folder_size(path) for label, path in outputs.items()}
    python = ours / "bin" / "python"
    startup = {
        f"{label} (s)": stats
        for label, stats in startup_samples(python, repetitions).items()
    }
    imports_ms = {
        "cookiecutter.cli": import_milliseconds(python, "cookiecutter.cli"),
        "quicksand_overlay_scaffold.cli": import_milliseconds(
            python, "quicksand_overlay_scaffold.cli"
        ),
    }
    ratio = times["ours (s)"]["median"] / times["cookiecutter (s)"]["median"]
    upstream_ratio = (
        times["upstream 0.3.12 (s)"]["median"] / times["cookiecutter (s)"]["median"]
    )
    values = {"ours / cookiecutter, median time": ratio}
    values["upstream 0.3.12 / cookiecutter, median time"] = upstream_ratio
    for label, size in sizes.items():
        values[f"{label}: output files"] = size["files"]
        values[f"{label}: output bytes"] = size["bytes"]
    for module, milliseconds in imports_ms.items():
        values[f"import {module}, cumulative (ms)"] = milliseconds
    return {
        "measurements": times | startup,
        "values": values,
        "targets": [
            target(
                "ours / plain cookiecutter, median wall time",
                ratio,
                "<=",
                TARGET_RATIO,
                missed_because=slow_explanation(imports_ms),
            )
        ],
        "notes": notes(sizes, upstream),
    }


def wheel_path(workspace: Workspace) -> Path:
    wheels = sorted(workspace.wheelhouse.glob("quicksand_overlay_scaffold-*.whl"))
    return wheels[-1]


def slow_explanation(imports_ms: dict[str, float]) -> str:
    ours = imports_ms["quicksand_overlay_scaffold.cli"]
    plain = imports_ms["cookiecutter.cli"]
    return (
        f"importing quicksand_overlay_scaffold.cli takes {ours:.0f} ms against "
        f"{plain:.0f} ms for cookiecutter.cli (python -X importtime)"
    )


def notes(sizes: dict[str, dict], upstream: Path) -> list[str]:
    packages = sum(
        1 for _ in (upstream / "lib").glob("python*/site-packages/*.dist-info")
    )
    upstream_size = sizes["upstream 0.3.12"]
    return [
        (
            "All three commands run as console scripts under the same Python interpreter. "
            "Ours and cookiecutter share one virtual environment holding a wheel of this "
            "checkout; cookiecutter renders the repository root, the same template that "
            "the wheel carries."
        ),
        (
            f"Upstream 0.3.12 copies the site-packages folder it is installed in: with "
            f"{packages} distributions in its virtual environment, its output held "
            f"{upstream_size['files']} files and {upstream_size['bytes']} bytes."
        ),
    ]
