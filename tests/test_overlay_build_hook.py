"""Tests of the hatch build hook, constructed directly as hatchling's own tests do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hatchling.builders.hooks.custom import CustomBuildHook

from quicksand_overlay_scaffold.build_hook import OverlayBuildHook, wheel_tag
from quicksand_overlay_scaffold.cli import main as scaffold
from quicksand_overlay_scaffold.overlay import builder
from quicksand_overlay_scaffold.overlay.builder import ensure_overlay, overlay_status
from quicksand_overlay_scaffold.overlay.cache import project_cache, store_overlay
from quicksand_overlay_scaffold.overlay.errors import (
    InvalidProjectError,
    InvalidSettingError,
)
from quicksand_overlay_scaffold.overlay.fingerprint import read_record, write_record
from quicksand_overlay_scaffold.overlay.project import load_project

NAME = "hook-box"
MODULE = "hook_box"


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    assert scaffold([NAME, "--base", "alpine", "--output-dir", str(tmp_path)]) == 0
    return tmp_path / NAME


@pytest.fixture(autouse=True)
def private_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Keep disk hashes and cached overlays of these tests out of the user's cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("QUICKSAND_OVERLAY_CACHE", str(cache))
    return cache


@pytest.fixture
def no_boot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to boot a VM fail at once instead of taking minutes."""
    monkeypatch.setenv("QUICKSAND_OVERLAY_ACCEL", "no-boot-in-unit-tests")
    monkeypatch.delenv("QUICKSAND_OVERLAY_REBUILD", raising=False)


def hook_table(root: Path) -> dict:
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return data["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["custom"]


def make_hook(root: Path, target_name: str) -> OverlayBuildHook:
    """Load hatch_build.py through hatchling's own custom-hook loader."""
    hook = CustomBuildHook(
        str(root), hook_table(root), None, None, str(root / "dist"), target_name
    )
    assert isinstance(hook, OverlayBuildHook)
    return hook


def fake_built_overlay(root: Path) -> Path:
    """Write images/ as a build would, with a record matching the current inputs."""
    project = load_project(root)
    images = project.images_dir
    (images / "overlays").mkdir(parents=True)
    (images / "manifest.json").write_text(json.dumps({"version": 6}))
    (images / "overlays" / "0.qcow2").write_bytes(b"QFI\xfb")
    write_record(images, overlay_status(project, force=False).record)
    return images


def test_script_defines_one_hook(project_root: Path) -> None:
    hook = make_hook(project_root, "wheel")
    assert hook.PLUGIN_NAME == "custom"
    assert callable(type(hook).setup)
    assert type(hook).setup.__name__ == "_setup"


@pytest.mark.parametrize(
    ("target", "version"),
    [("sdist", "standard"), ("wheel", "editable")],
    ids=["sdist", "editable"],
)
def test_skips_without_vm(
    project_root: Path, no_boot: None, target: str, version: str
) -> None:
    hook = make_hook(project_root, target)
    build_data: dict = {}
    hook.initialize(version, build_data)
    assert build_data == {}
    assert not (project_root / "src" / MODULE / "images").exists()


def test_wheel_tagged_when_current(project_root: Path, no_boot: None) -> None:
    """An up-to-date overlay gets a platform tag without booting a VM."""
    fake_built_overlay(project_root)
    build_data: dict = {}
    make_hook(project_root, "wheel").initialize("standard", build_data)
    assert build_data["pure_python"] is False
    assert build_data["tag"] == wheel_tag()


def test_wheel_builds_when_stale(project_root: Path, no_boot: None) -> None:
    """A changed _setup reaches the build path (stopped here by the accelerator check)."""
    images = fake_built_overlay(project_root)
    hook_file = project_root / "hatch_build.py"
    hook_file.write_text(hook_file.read_text().replace("adduser -D", "adduser -D -H"))
    with pytest.raises(InvalidSettingError, match="QUICKSAND_OVERLAY_ACCEL"):
        make_hook(project_root, "wheel").initialize("standard", {})
    assert (images / "overlays" / "0.qcow2").read_bytes() == b"QFI\xfb"


@pytest.mark.parametrize(
    ("platform_tags", "expected"),
    [
        (
            [
                "manylinux_2_36_x86_64",
                "manylinux_2_17_x86_64",
                "manylinux2014_x86_64",
                "linux_x86_64",
            ],
            "py3-none-manylinux_2_17_x86_64",
        ),
        (
            ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64"],
            "py3-none-manylinux_2_17_aarch64",
        ),
        (["musllinux_1_2_x86_64", "linux_x86_64"], "py3-none-musllinux_1_2_x86_64"),
        (["macosx_14_0_arm64", "macosx_11_0_arm64"], "py3-none-macosx_14_0_arm64"),
        (["win_amd64"], "py3-none-win_amd64"),
    ],
    ids=["glibc-x86_64", "glibc-aarch64", "musl", "macos", "windows"],
)
def test_wheel_tag(platform_tags: list[str], expected: str) -> None:
    assert wheel_tag(platform_tags) == expected


def test_status_reports_change(project_root: Path, no_boot: None) -> None:
    fake_built_overlay(project_root)
    project = load_project(project_root)
    assert overlay_status(project).current is True
    hook_file = project_root / "hatch_build.py"
    hook_file.write_text(hook_file.read_text() + "\n# changed\n")
    status = overlay_status(load_project(project_root))
    assert status.current is False
    assert status.reason == "changed: file hatch_build.py"


def test_status_forced_by_env(
    project_root: Path, no_boot: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_built_overlay(project_root)
    monkeypatch.setenv("QUICKSAND_OVERLAY_REBUILD", "1")
    status = overlay_status(load_project(project_root))
    assert status.current is False
    assert status.reason.startswith("rebuild forced")


def test_status_missing_overlay(project_root: Path, no_boot: None) -> None:
    images = fake_built_overlay(project_root)
    (images / "overlays" / "0.qcow2").unlink()
    status = overlay_status(load_project(project_root))
    assert status.current is False
    assert status.reason == "overlay files missing"


def test_project_names(project_root: Path) -> None:
    project = load_project(project_root)
    assert project.name == NAME
    assert project.module == MODULE
    assert project.images_dir == project_root / "src" / MODULE / "images"
    assert project.base_image == "alpine"
    assert project.settings.memory == "1G"


def test_misspelt_setting_fails_build(project_root: Path) -> None:
    pyproject = project_root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("\ncpus = 1\n", "\ncpu = 1\n"))
    with pytest.raises(
        InvalidSettingError, match=r"unknown setting 'cpu'.*did you mean 'cpus'"
    ):
        make_hook(project_root, "wheel").initialize("standard", {})


def test_invalid_setting_ends_backend_traceback(
    project_root: Path, no_boot: None
) -> None:
    """The backend's output ends with the setting error, as the hook's comment states."""
    pyproject = project_root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("\ncpus = 1\n", "\ncpus = 0\n"))
    result = subprocess.run(
        [sys.executable, "-c", "import hatchling.build as b; b.build_wheel('dist')"],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    last_line = result.stderr.rstrip("\n").splitlines()[-1]
    assert last_line == (
        "quicksand_overlay_scaffold.overlay.errors.InvalidSettingError: "
        "invalid setting cpus = 0 in [tool.hatch.build.targets.wheel.hooks.custom]: "
        "expected a whole number of at least 1"
    )


def test_missing_setup_rejected(project_root: Path) -> None:
    hook_file = project_root / "hatch_build.py"
    text = hook_file.read_text().replace("async def _setup(", "async def setup_steps(")
    hook_file.write_text(
        text.replace("staticmethod(_setup)", "staticmethod(setup_steps)")
    )
    with pytest.raises(
        InvalidProjectError, match=r"must define 'async def _setup\(shell\)'"
    ):
        load_project(project_root)


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (
            "def _setup(shell):",
            r"hatch_build.py: _setup must be 'async def.*add 'async'",
        ),
        (
            "async def _setup(shell, extra):",
            r"hatch_build.py: _setup must take exactly one argument",
        ),
    ],
    ids=["not-async", "two-arguments"],
)
def test_bad_setup_rejected_before_boot(
    project_root: Path, no_boot: None, definition: str, expected: str
) -> None:
    """A wrong _setup fails in initialize with one line, before any VM boots."""
    hook_file = project_root / "hatch_build.py"
    text = hook_file.read_text()
    assert "\nclass OverlayBuildHook(" in text
    # A second definition, placed before the class, replaces the template's _setup.
    hook_file.write_text(
        text.replace(
            "\nclass OverlayBuildHook(",
            f"\n{definition}\n    pass\n\n\nclass OverlayBuildHook(",
        )
    )
    with pytest.raises(InvalidProjectError, match=expected) as caught:
        make_hook(project_root, "wheel").initialize("standard", {})
    assert "\n" not in str(caught.value)


def test_unmatched_inputs_pattern_warned(project_root: Path, no_boot: None) -> None:
    """An inputs pattern that matches no file gets a warning, even with no rebuild."""
    (project_root / "files").mkdir()
    (project_root / "files" / "a.conf").write_text("x = 1\n")
    pyproject = project_root / "pyproject.toml"
    text = pyproject.read_text()
    assert "\ninputs = []\n" in text
    pyproject.write_text(
        text.replace(
            "\ninputs = []\n", '\ninputs = ["files/*.conf", "nothing/*.txt"]\n'
        )
    )
    fake_built_overlay(project_root)
    messages: list[tuple[str, str]] = []
    outcome = ensure_overlay(
        load_project(project_root),
        progress=lambda level, text: messages.append((level, text)),
    )
    assert outcome.rebuilt is False
    warnings = [text for level, text in messages if level == "warning"]
    expected = (
        "quicksand-overlay: inputs pattern 'nothing/*.txt' matches no file "
        f"under {project_root.resolve()}"
    )
    assert warnings == [expected]


def test_rebuild_names_cache_entry(
    project_root: Path, no_boot: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a build, the log names the cache entry."""

    def fake_build(project, base, report) -> builder.BuildOutcome:
        images = fake_built_overlay(project.root)
        record = read_record(images)
        return builder.BuildOutcome(rebuilt=True, images_dir=images, record=record)

    monkeypatch.setattr(builder, "_build", fake_build)
    messages: list[str] = []
    outcome = ensure_overlay(
        load_project(project_root),
        force=True,
        progress=lambda level, text: messages.append(text),
    )
    entry = project_cache(NAME) / outcome.record["fingerprint"]
    assert (entry / "overlays" / "0.qcow2").is_file()
    assert messages[-1] == f"quicksand-overlay: overlay cached in {entry}"


def test_rebuild_reason_from_cache(project_root: Path, no_boot: None) -> None:
    """Without images/, the reason names what changed since the newest cached build."""
    images = fake_built_overlay(project_root)
    store_overlay(NAME, images, read_record(images))
    shutil.rmtree(images)
    hook_file = project_root / "hatch_build.py"
    hook_file.write_text(hook_file.read_text() + "\n# one more comment\n")
    status = overlay_status(load_project(project_root))
    assert status.current is False
    assert status.reason == "changed since the newest cached build: file hatch_build.py"


def test_rebuild_reason_without_cache(project_root: Path, no_boot: None) -> None:
    status = overlay_status(load_project(project_root))
    assert status.reason == "no overlay built yet"


def test_cached_overlay_restored(project_root: Path, no_boot: None) -> None:
    """A wheel built from an sdist, with no images/, reuses the cached overlay."""
    images = fake_built_overlay(project_root)
    project = load_project(project_root)
    record = read_record(images)
    store_overlay(project.name, images, record)
    shutil.rmtree(images)
    messages: list[str] = []
    outcome = ensure_overlay(
        project, progress=lambda level, text: messages.append(text)
    )
    assert outcome.rebuilt is False
    assert outcome.record == record
    assert (images / "overlays" / "0.qcow2").read_bytes() == b"QFI\xfb"
    expected = (
        f"quicksand-overlay: overlay is up to date (fingerprint "
        f"{record['fingerprint'][:12]}, copied from the build cache); no VM booted"
    )
    assert messages == [expected]


def test_stale_cache_not_used(project_root: Path, no_boot: None) -> None:
    images = fake_built_overlay(project_root)
    project = load_project(project_root)
    store_overlay(project.name, images, read_record(images))
    shutil.rmtree(images)
    hook_file = project_root / "hatch_build.py"
    hook_file.write_text(hook_file.read_text() + "\n# changed\n")
    with pytest.raises(InvalidSettingError, match="QUICKSAND_OVERLAY_ACCEL"):
        ensure_overlay(load_project(project_root), progress=lambda *_: None)
    assert not images.exists()


def test_cache_keeps_newest(project_root: Path, private_cache: Path) -> None:
    images = fake_built_overlay(project_root)
    record = read_record(images)
    for number in range(5):
        store_overlay(NAME, images, {**record, "fingerprint": f"{number:064x}"})
        entry = project_cache(NAME) / f"{number:064x}"
        os.utime(entry, (1000 + number, 1000 + number))
    remaining = sorted(path.name for path in project_cache(NAME).iterdir())
    assert remaining == [f"{number:064x}" for number in (2, 3, 4)]
