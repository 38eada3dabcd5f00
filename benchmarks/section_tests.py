"""Section 4: the generated project's test session with 1, 5 and 20 trivial tests."""

from __future__ import annotations

import logging
import statistics
from pathlib import Path
from xml.etree import ElementTree

from measure import CommandResult, run_timed, summarize
from projects import BOOT_LINE, count_lines
from report import target
from workspace import Workspace

logger = logging.getLogger(__name__)

PROJECT = "suite-box"
TEST_COUNTS = (1, 5, 20)
TARGET_SECONDS_PER_TEST = 0.5
TEST_FILE = "tests/test_bench_trivial.py"

TEST_HEADER = '''\
"""Trivial checks written by the benchmark: each costs one command and one revert."""

'''
TEST_FUNCTION = """
def test_trivial_{index}(host):
    assert host.file("/etc/os-release").exists
"""


def write_tests(project: Path, count: int) -> None:
    body = "".join(TEST_FUNCTION.format(index=index) for index in range(count))
    (project / TEST_FILE).write_text(TEST_HEADER + body)


def prepare(workspace: Workspace, project: Path) -> None:
    """Create the project's environment with its dev group, as `uv run pytest` would."""
    command = [*workspace.uv, "sync", "--quiet", "--group", "dev"]
    run_timed([*command, "--directory", str(project)], env=workspace.build_env())


def run_session(workspace: Workspace, project: Path, count: int) -> CommandResult:
    """Run one pytest session over COUNT trivial tests and return the timed command."""
    write_tests(project, count)
    junit = project / f"junit-{count}.xml"
    command = [str(project / ".venv" / "bin" / "python"), "-m", "pytest", TEST_FILE]
    command += ["-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    result = run_timed(command, cwd=project, env=workspace.build_env(), count_vms=True)
    logger.info("%d tests: %.1f s, %d VM boots", count, result.seconds, result.vm_boots)
    return result


def test_seconds(junit: Path) -> list[float]:
    """Return each test's own time (setup, call and teardown) from a JUnit XML report."""
    tree = ElementTree.parse(junit)
    return [float(case.get("time", "nan")) for case in tree.iter("testcase")]


def run(workspace: Workspace, repetitions: int) -> dict:
    parent = workspace.fresh_dir("tests")
    project = workspace.scaffold(parent, PROJECT)
    prepare(workspace, project)
    first = run_session(workspace, project, 1)  # builds the overlay, then boots it
    sessions: dict[int, list[CommandResult]] = {count: [] for count in TEST_COUNTS}
    per_test: dict[int, list[float]] = {count: [] for count in TEST_COUNTS}
    for _ in range(repetitions):
        for count in TEST_COUNTS:
            sessions[count].append(run_session(workspace, project, count))
            per_test[count] += test_seconds(project / f"junit-{count}.xml")
    return summarize_sessions(first, sessions, per_test)


def summarize_sessions(
    first: CommandResult,
    sessions: dict[int, list[CommandResult]],
    per_test: dict[int, list[float]],
) -> dict:
    stats = {
        f"session with {count} tests (s)": summarize([r.seconds for r in results])
        for count, results in sessions.items()
    }
    stats |= {
        f"one test's own time, {count}-test sessions (s)": summarize(times)
        for count, times in per_test.items()
    }
    medians = {
        count: statistics.median(r.seconds for r in rs)
        for count, rs in sessions.items()
    }
    low, high = TEST_COUNTS[0], TEST_COUNTS[-1]
    added = (medians[high] - medians[low]) / (high - low)
    boots = [r.vm_boots for results in sessions.values() for r in results]
    boot_lines = [
        count_lines(r.output, BOOT_LINE) for rs in sessions.values() for r in rs
    ]
    values = {
        "first session, which builds the overlay (s)": first.seconds,
        f"added time per test, from {low} to {high} tests (s)": added,
        f"added time per test, from {low} to {TEST_COUNTS[1]} tests (s)": (
            medians[TEST_COUNTS[1]] - medians[low]
        )
        / (TEST_COUNTS[1] - low),
        "VMs booted per session (min)": min(boots),
        "VMs booted per session (max)": max(boots),
        "'booting' log lines per session (max)": max(boot_lines),
    }
    return {
        "measurements": stats,
        "values": values,
        "targets": [
            target("VMs booted per session (max)", max(boots), "==", 1),
            target("VMs booted per session (min)", min(boots), "==", 1),
            target(
                "added time per test (s)",
                added,
                "<=",
                TARGET_SECONDS_PER_TEST,
                missed_because=(
                    "each test's revert to the booted checkpoint and the check that "
                    "the revert happened cost more than the target under TCG"
                ),
            ),
        ],
        "notes": [
            (
                "Each session runs the generated project's pytest over a file of N trivial "
                "testinfra tests (`host.file('/etc/os-release').exists`) in the "
                "project's environment created by `uv sync --group dev`. A session's time is "
                "the wall time of the whole pytest process: start-up, boot, tests, stop."
            ),
            (
                "Added time per test is the difference of the median session times divided "
                "by the difference in the number of tests."
            ),
        ],
    }
