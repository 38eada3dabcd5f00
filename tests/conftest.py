"""Fixtures shared by the scaffold's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# A missing base image must fail at once instead of trying to download it.
os.environ.setdefault("QUICKSAND_AUTO_INSTALL", "0")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "vm: boots real VMs with QEMU; skipped without QEMU, except in CI"
    )


def missing_qemu_tools() -> list[str]:
    """Return the QEMU programs that quicksand needs and PATH lacks."""
    return [tool for tool in ("qemu-system-x86_64", "qemu-img") if shutil.which(tool) is None]


@pytest.fixture(autouse=True)
def _require_qemu(request: pytest.FixtureRequest) -> None:
    """Skip a test marked vm where QEMU is missing, but fail it in CI."""
    if request.node.get_closest_marker("vm") is None:
        return
    missing = missing_qemu_tools()
    if not missing:
        return
    reason = (
        f"{' and '.join(missing)} not found on PATH; install QEMU "
        "(Debian: apt-get install qemu-system-x86 qemu-utils)"
    )
    if os.environ.get("CI"):
        # CI installs QEMU, so a missing QEMU there is a broken job, not a skip.
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _isolated_overlay_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep overlays that earlier runs stored in the user's cache out of this run.

    Without this, a test that expects a build boots no VM because an earlier
    run of the same test left an overlay with the same fingerprint behind.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUICKSAND_OVERLAY_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def scaffold_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build a wheel of this checkout into a folder usable as PIP_FIND_LINKS or UV_FIND_LINKS.

    PyPI holds unrelated 0.3.x releases under this distribution name, so
    generated projects must find this checkout's build-hook package here.
    """
    wheelhouse = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run(
        [sys.executable, "-m", "uv", "build", "--wheel", "--out-dir", str(wheelhouse), str(REPO_ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    return wheelhouse


@pytest.fixture
def wheelhouse_env(scaffold_wheelhouse: Path) -> dict[str, str]:
    """Return an environment in which pip and uv find this checkout's wheel."""
    env = dict(os.environ)
    # Keep find-links the machine already sets; pip splits on spaces, uv on commas.
    for name, separator in (("PIP_FIND_LINKS", " "), ("UV_FIND_LINKS", ",")):
        existing = env.get(name, "")
        env[name] = separator.join(filter(None, [str(scaffold_wheelhouse), existing]))
    env["QUICKSAND_AUTO_INSTALL"] = "0"
    return env
