"""Checks the wheel that `uv build` makes: its platform tag and the overlay in it."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename

MODULE = "{{ cookiecutter.__module_name }}"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Calls the project's build backend (hatchling with the overlay hook) in this
# environment, as `uv build` does in an isolated one.
BUILD_WHEEL = "import sys, hatchling.build as backend; backend.build_wheel(sys.argv[1])"


@pytest.fixture(scope="module")
def wheel(overlay_build, tmp_path_factory):
    """Build the wheel; the overlay_build fixture already built the overlay."""
    out_dir = tmp_path_factory.mktemp("dist")
    # A forced rebuild applies to the overlay_build fixture, not to this build.
    env = {k: v for k, v in os.environ.items() if k != "QUICKSAND_OVERLAY_REBUILD"}
    completed = subprocess.run(
        [sys.executable, "-c", BUILD_WHEEL, str(out_dir)],
        check=False,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert "quicksand-overlay: booting" not in completed.stderr, completed.stderr
    (path,) = out_dir.glob("*.whl")
    return path


def test_wheel_tag(wheel):
    _, _, _, tags = parse_wheel_filename(wheel.name)
    (tag,) = tags
    assert tag.interpreter == "py3"
    assert tag.abi == "none"
    assert tag.platform != "any"
    assert tag in set(sys_tags()), f"{tag} does not install on this host"


def test_wheel_contains_overlay(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert f"{MODULE}/images/manifest.json" in names
    assert f"{MODULE}/images/overlay-build.json" in names
    overlays = [name for name in names if name.startswith(f"{MODULE}/images/overlays/")]
    assert overlays
    assert all(name.endswith(".qcow2") for name in overlays), overlays


def test_wheel_overlay_is_the_tested_one(wheel, overlay_build):
    _, outcome = overlay_build
    with zipfile.ZipFile(wheel) as archive:
        record = archive.read(f"{MODULE}/images/overlay-build.json")
    tested = (outcome.images_dir / "overlay-build.json").read_bytes()
    assert record == tested
