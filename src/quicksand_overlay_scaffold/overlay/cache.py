"""Keep recent overlays by fingerprint in the user's cache folder.

`uv build` and `python -m build` first make an sdist, which never contains the
overlay, and then build the wheel from it in a temporary folder. Without this
cache every such build would boot a VM even when nothing changed.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from quicksand_overlay_scaffold.overlay.fingerprint import (
    RECORD_NAME,
    cache_dir,
    read_record,
)

logger = logging.getLogger(__name__)

ENTRIES_PER_PROJECT = 3


def project_cache(project_name: str) -> Path:
    """Return the folder of PROJECT_NAME's cached overlays, one subfolder per fingerprint."""
    return cache_dir() / "overlays" / project_name


def store_overlay(
    project_name: str, images_dir: Path, record: Mapping[str, Any]
) -> Path | None:
    """Copy IMAGES_DIR into the cache, drop all but the newest entries, return the copy.

    Return None, after a logged warning, when the copy failed.
    """
    folder = project_cache(project_name)
    entry = folder / record["fingerprint"]
    staging = folder / f".{record['fingerprint']}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(images_dir, staging)
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)
        _prune(folder)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        logger.warning("could not cache the overlay in %s: %s", folder, error)
        return None
    return entry


def find_cached(
    project_name: str, fingerprint_for: Callable[[Mapping[str, Any]], str]
) -> Path | None:
    """Return a cached images folder whose fingerprint matches the current inputs.

    FINGERPRINT_FOR computes the current fingerprint over the files a cached
    record lists, because files that _setup copied in are known only from a
    record.
    """
    folder = project_cache(project_name)
    if not folder.is_dir():
        return None
    for entry in sorted(folder.iterdir(), key=_mtime, reverse=True):
        record = read_record(entry) if entry.is_dir() else None
        if record is None or entry.name != record.get("fingerprint"):
            continue
        if fingerprint_for(record) == record["fingerprint"] and _complete(entry):
            return entry
    return None


def newest_cached_record(project_name: str) -> dict[str, Any] | None:
    """Return the record of PROJECT_NAME's most recently cached overlay, if any."""
    folder = project_cache(project_name)
    if not folder.is_dir():
        return None
    for entry in sorted(folder.iterdir(), key=_mtime, reverse=True):
        record = read_record(entry) if entry.is_dir() else None
        if record is not None and entry.name == record.get("fingerprint"):
            return record
    return None


def _complete(entry: Path) -> bool:
    has_record = (entry / RECORD_NAME).is_file() and (entry / "manifest.json").is_file()
    return has_record and any((entry / "overlays").glob("*.qcow2"))


def _prune(folder: Path) -> None:
    entries = [
        path
        for path in folder.iterdir()
        if path.is_dir() and not path.name.startswith(".")
    ]
    for old in sorted(entries, key=_mtime, reverse=True)[ENTRIES_PER_PROJECT:]:
        shutil.rmtree(old, ignore_errors=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
