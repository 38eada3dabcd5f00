"""End to end: a generated Alpine project's own pytest suite, run for real.

One module-scoped sequence keeps VM boots few, because a build boots once and
takes one to two minutes under TCG. The first run builds and boots once. The
second rebuilds after a change to _setup and boots the session VM and one
fresh_vm test. The third is interrupted while a test runs.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.vm

NAME = "plugin-box"
BOOTING = "quicksand-overlay: booting "
SESSION_BOOT = f"{BOOTING}{NAME} for the test session"
FRESH_BOOT = f"{BOOTING}{NAME} for tests/test_extra.py::test_fresh_vm (fresh_vm)"
STEP_TIMEOUT = 1500

EXTRA_TESTS = """
import time

import pytest

from quicksand_overlay_scaffold.errors import GuestCommandError


def test_setup_step_present(host):
    assert host.file("/srv/data/state").content_string == "ready\\n"


def test_changes_a_write(host):
    host.run("echo changed > /root/leftover && rm /srv/data/state")
    host.run("nohup sleep 600 > /dev/null 2>&1 &")
    assert host.file("/root/leftover").exists
    assert host.run("pgrep -x sleep").rc == 0


def test_changes_b_gone(host):
    assert not host.file("/root/leftover").exists
    assert host.file("/srv/data/state").exists
    assert host.run("pgrep -x sleep").rc == 1


def test_expected_content(host):
    assert host.file("/srv/data/state").content_string == "done\\n"


def test_testinfra_modules(host):
    assert host.package("busybox").is_installed
    assert host.group("app").exists
    assert host.user("app").group == "app"
    agent = host.service("quicksand-guest-agent")
    assert agent.is_running
    assert agent.is_enabled
    assert host.check_output("printf abc") == "abc"
    assert host.run("exit 3").rc == 3
    with host.sudo("app"):
        assert host.check_output("id -un") == "app"


def test_command_timeout(host):
    started = time.monotonic()
    with pytest.raises(GuestCommandError, match="timed out after 2 s"):
        host.run("sleep 60", timeout=2)
    assert time.monotonic() - started < 20
    assert host.run("pgrep -x sleep").rc == 1


def test_sandbox_call(sandbox):
    result = sandbox.call(sandbox.quicksand.execute("cat /srv/data/state", timeout=10))
    assert result.stdout == "ready\\n"


@pytest.mark.fresh_vm
def test_fresh_vm(host):
    assert host.file("/srv/data/state").exists
    assert not host.file("/run/quicksand-pytest-marker").exists
"""

SLOW_TEST = """
def test_slow(host):
    host.run("sleep 300", timeout=600)
"""


class Project:
    """The generated project and how to run its test suite."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def pytest(
        self, env: dict[str, str], *args: str
    ) -> subprocess.CompletedProcess[str]:
        """Run `uv run pytest ARGS` in the project; stdout and stderr come back merged."""
        return subprocess.run(
            [sys.executable, "-m", "uv", "run", "pytest", "-v", *args],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))


def project_env(wheelhouse_env: dict[str, str]) -> dict[str, str]:
    env = dict(wheelhouse_env)
    env["UV_PYTHON"] = sys.executable
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("QUICKSAND_OVERLAY_REBUILD", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit status {result.returncode}, output:\n{result.stdout[-8000:]}"


def lines_starting(output: str, prefix: str) -> list[str]:
    """Return the lines of OUTPUT that start with PREFIX, leaving out boot retries.

    A boot that hangs under TCG is tried once more with an "(attempt 2 of 2)"
    line. The retry replaces the hung boot, so it is not a second VM.
    """
    return [
        line
        for line in output.splitlines()
        if line.startswith(prefix) and "(attempt " not in line
    ]


def outcomes(output: str) -> dict[str, str]:
    """Map each test in pytest's verbose OUTPUT to its outcome, such as PASSED."""
    pattern = r"^tests/(\S+) (PASSED|FAILED|ERROR|SKIPPED)"
    found = re.findall(pattern, output, re.MULTILINE)
    return dict(found)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    output = tmp_path_factory.mktemp("plugin-e2e")
    script = Path(sys.executable).with_name("quicksand-overlay-scaffold")
    subprocess.run(
        [str(script), NAME, "--base", "alpine", "--output-dir", str(output)],
        check=True,
        capture_output=True,
        text=True,
    )
    return Project(output / NAME)


def test_generated_suite_passes(
    project: Project, wheelhouse_env: dict[str, str]
) -> None:
    """A fresh project's `uv run pytest` builds the overlay, boots once and passes."""
    result = project.pytest(project_env(wheelhouse_env))
    assert result.returncode == 0, show(result)
    results = outcomes(result.stdout)
    assert len(results) == 7, show(result)
    assert set(results.values()) == {"PASSED"}, results
    # One boot for the build, one for the whole test session.
    assert len(lines_starting(result.stdout, BOOTING)) == 2, show(result)
    assert len(lines_starting(result.stdout, SESSION_BOOT)) == 1, show(result)


def test_changes_and_failures(project: Project, wheelhouse_env: dict[str, str]) -> None:
    """A new setup step rebuilds; a failed check is reported; tests stay isolated."""
    project.edit(
        "hatch_build.py",
        "    # An unprivileged user",
        '    await shell("mkdir -p /srv/data && echo ready > /srv/data/state", timeout=30)\n'
        "    # An unprivileged user",
    )
    (project.root / "tests" / "test_extra.py").write_text(EXTRA_TESTS)

    result = project.pytest(project_env(wheelhouse_env))

    assert result.returncode == 1, show(result)
    results = outcomes(result.stdout)
    failed = sorted(name for name, outcome in results.items() if outcome != "PASSED")
    assert failed == ["test_extra.py::test_expected_content"], show(result)
    assert len(results) == 15, show(result)
    assert "assert 'ready\\n' == 'done\\n'" in result.stdout, show(result)
    assert "quicksand-overlay: building the overlay" in result.stdout, show(result)
    # The rebuild, the session VM and the fresh_vm test: three boots.
    assert len(lines_starting(result.stdout, BOOTING)) == 3, show(result)
    assert len(lines_starting(result.stdout, SESSION_BOOT)) == 1, show(result)
    assert len(lines_starting(result.stdout, FRESH_BOOT)) == 1, show(result)


def descendants(pid: int) -> set[int]:
    """Return the PIDs of all processes below PID, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def qemu_below(pid: int) -> set[int]:
    qemu = set()
    for child in descendants(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu-system" in command.split(b"\0")[0]:
            qemu.add(child)
    return qemu


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_interrupt_stops_vm(project: Project, wheelhouse_env: dict[str, str]) -> None:
    """SIGINT to pytest while a test runs in the VM leaves no QEMU behind."""
    (project.root / "tests" / "test_slow.py").write_text(SLOW_TEST)
    python = project.root / ".venv" / "bin" / "python"
    process = subprocess.Popen(
        [str(python), "-m", "pytest", "-v", "tests/test_slow.py"],
        cwd=project.root,
        env=project_env(wheelhouse_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = wait_for_boot(process)
        time.sleep(3)
        qemu = qemu_below(process.pid)
        assert len(qemu) == 1, output
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output += rest
    assert "KeyboardInterrupt" in output, output
    assert process.returncode == 2, output
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in qemu) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(alive(pid) for pid in qemu), output


def wait_for_boot(process: subprocess.Popen[str]) -> str:
    """Read PROCESS's output until the session VM has booted; return what was read."""
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + STEP_TIMEOUT
    for line in process.stdout:
        lines.append(line)
        if f"quicksand-overlay: {NAME} booted in" in line:
            return "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
    raise AssertionError("pytest ended before the VM booted:\n" + "".join(lines))
