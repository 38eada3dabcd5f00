"""Section 4: the generated project's test session with 1, 5 and 20 trivial tests."""

from __future__ import annotations

import logging
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from measure import run_timed, summarize
from projects import BOOT_LINE, accelerator_description, count_lines
from report import target
from workspace import Workspace

logger = logging.getLogger(__name__)

PROJECT = "suite-box"
TEST_COUNTS = (1, 5, 20)
TARGET_SECONDS_PER_TEST = 0.5
TEST_FILE = "tests/test_bench_trivial.py"
# The plugin reports each boot's duration on the terminal in this form.
BOOTED = re.compile(r"quicksand-overlay: \S+ booted in ([0-9.]+) s")
# pytest --durations=0 lists each phase of each test: "0.52s setup tests/x.py::t".
DURATION = re.compile(
    r"^([0-9.]+)s (setup|call|teardown) +\S+::(test_trivial_\d+)", re.MULTILINE
)

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


@dataclass
class Session:
    """One pytest session: wall time, the boot time it reported, VMs, per-test times."""

    seconds: float
    boot_seconds: float
    vm_boots: int
    boot_lines: int
    test_seconds: list[float]
    phase_seconds: dict[str, list[float]]

    @property
    def without_boot(self) -> float:
        return self.seconds - self.boot_seconds


def run_session(workspace: Workspace, project: Path, count: int) -> Session:
    """Run one pytest session over COUNT trivial tests."""
    write_tests(project, count)
    junit = project / f"junit-{count}.xml"
    command = [str(project / ".venv" / "bin" / "python"), "-m", "pytest", TEST_FILE]
    command += ["-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    command += ["--durations=0", "--durations-min=0"]
    result = run_timed(command, cwd=project, env=workspace.build_env(), count_vms=True)
    boots = [float(seconds) for seconds in BOOTED.findall(result.output)]
    session = Session(
        seconds=result.seconds,
        boot_seconds=sum(boots),
        vm_boots=result.vm_boots,
        boot_lines=count_lines(result.output, BOOT_LINE),
        test_seconds=test_seconds(junit),
        phase_seconds=phase_seconds(result.output),
    )
    logger.info(
        "%d tests: %.1f s (boot %.1f s), %d VM boots",
        count,
        session.seconds,
        session.boot_seconds,
        session.vm_boots,
    )
    return session


def test_seconds(junit: Path) -> list[float]:
    """Return each test's own time (setup, call and teardown) from a JUnit XML report."""
    tree = ElementTree.parse(junit)
    return [float(case.get("time", "nan")) for case in tree.iter("testcase")]


def phase_seconds(output: str) -> dict[str, list[float]]:
    """Return the setup, call and teardown times of every test but the first.

    The first test's setup boots the VM; the others' setup reverts it.
    """
    phases: dict[str, list[float]] = {"setup": [], "call": [], "teardown": []}
    for seconds, phase, name in DURATION.findall(output):
        if name != "test_trivial_0":
            phases[phase].append(float(seconds))
    return phases


def run(workspace: Workspace, repetitions: int) -> dict:
    parent = workspace.fresh_dir("tests")
    project = workspace.scaffold(parent, PROJECT)
    prepare(workspace, project)
    first = run_session(workspace, project, 1)  # builds the overlay, then boots it
    sessions: dict[int, list[Session]] = {count: [] for count in TEST_COUNTS}
    for _ in range(repetitions):
        for count in TEST_COUNTS:
            sessions[count].append(run_session(workspace, project, count))
    result = summarize_sessions(first, sessions)
    result["accelerator"] = accelerator_description()
    return result


def added_per_test(
    sessions: dict[int, list[Session]], low: int, high: int, key
) -> float:
    """Return the median session time's growth per test from LOW to HIGH tests.

    Sessions that booted more than one VM waited on a boot timeout, so they are
    left out. The result is NaN when no session of LOW or HIGH tests is left.
    """
    clean = {n: [key(s) for s in sessions[n] if s.vm_boots == 1] for n in (low, high)}
    if not clean[low] or not clean[high]:
        return float("nan")
    medians = {n: statistics.median(times) for n, times in clean.items()}
    return (medians[high] - medians[low]) / (high - low)


def summarize_sessions(first: Session, sessions: dict[int, list[Session]]) -> dict:
    stats = {}
    for count, runs in sessions.items():
        stats[f"session with {count} tests (s)"] = summarize([r.seconds for r in runs])
        stats[f"session with {count} tests, boot excluded (s)"] = summarize(
            [r.without_boot for r in runs]
        )
        own_times = [t for r in runs for t in r.test_seconds[1:]]
        if own_times:
            stats[f"one test's own time, {count}-test sessions (s)"] = summarize(
                own_times
            )
    every = [r for runs in sessions.values() for r in runs]
    for phase in ("setup", "call", "teardown"):
        times = [t for r in every for t in r.phase_seconds[phase]]
        if times:
            stats[f"a test's {phase}, all but the first test (s)"] = summarize(times)
    stats["boot reported by the plugin (s)"] = summarize(
        [r.boot_seconds for r in every]
    )
    low, middle, high = TEST_COUNTS
    added = added_per_test(sessions, low, high, lambda r: r.without_boot)
    values = {
        "first session, which builds the overlay (s)": first.seconds,
        "VMs booted by the first session": first.vm_boots,
        f"added time per test, {low} to {high} tests, boot excluded (s)": added,
        f"added time per test, {low} to {middle} tests, boot excluded (s)": (
            added_per_test(sessions, low, middle, lambda r: r.without_boot)
        ),
        f"added time per test, {low} to {high} tests, wall time (s)": (
            added_per_test(sessions, low, high, lambda r: r.seconds)
        ),
        "sessions left out of the added time (more than one VM booted)": sum(
            1 for r in every if r.vm_boots != 1
        ),
        "VMs booted per session (min)": min(r.vm_boots for r in every),
        "VMs booted per session (max)": max(r.vm_boots for r in every),
        "'booting' log lines per session (max)": max(r.boot_lines for r in every),
    }
    return {
        "measurements": stats,
        "values": values,
        "targets": [
            target(
                "VMs booted per session (max)",
                max(r.vm_boots for r in every),
                "==",
                1,
                missed_because=(
                    "the plugin boots once more when a boot does not reach the guest "
                    "agent within its timeout, so a session that booted two VMs waited "
                    "on that timeout. Under TCG on a busy 2-core host an Alpine guest "
                    "now and then stops early in boot, with no console output after "
                    "SeaBIOS"
                ),
            ),
            target(
                "VMs booted per session (min)", min(r.vm_boots for r in every), "==", 1
            ),
            target(
                "added time per test, boot excluded (s)",
                added,
                "<=",
                TARGET_SECONDS_PER_TEST,
                missed_because=per_test_explanation(every),
            ),
        ],
        "notes": NOTES,
    }


def per_test_explanation(every: list[Session]) -> str:
    medians = {}
    for phase in ("setup", "call", "teardown"):
        times = [t for r in every for t in r.phase_seconds[phase]]
        medians[phase] = statistics.median(times) if times else float("nan")
    return (
        f"a test's setup, the revert to the booted checkpoint and the check that it "
        f"happened, takes {medians['setup']:.2f} s (median), its call "
        f"{medians['call']:.2f} s and its teardown {medians['teardown']:.2f} s; every "
        "guest command is one round trip to a guest emulated by TCG"
    )


NOTES = [
    (
        "Each session runs the generated project's pytest over a file of N trivial "
        "testinfra tests (`host.file('/etc/os-release').exists`) in the project's "
        "environment created by `uv sync --group dev`. A session's time is the wall "
        "time of the whole pytest process: start-up, boot, tests, stop. The first "
        "session also builds the overlay and is not counted."
    ),
    (
        "Added time per test is the difference of the median session times divided by "
        "the difference in the number of tests. Boot time under TCG varies by more "
        "than 20 tests cost, so the target uses session times minus the boot time the "
        "plugin reports ('booted in N s'); the plain wall-time figure is shown too. "
        "Sessions that booted more than one VM, because a boot timed out and was "
        "retried, are left out of these figures."
    ),
    (
        "A test's own time is its setup, call and teardown from pytest's JUnit XML "
        "report, leaving out each session's first test, whose setup boots the VM."
    ),
]
