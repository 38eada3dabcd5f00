"""Fingerprint the inputs of an overlay build and store it as overlay-build.json.

The fingerprint is a sha256 over a canonical JSON document of the inputs.
They are the base image (package, version and the sha256 of its disk file),
the host architecture, the settings that shape the disk and the sha256 of each
project file the setup reads. Equal fingerprints mean the overlay need not be
rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from quicksand_overlay_scaffold.overlay.base_image import BaseImage

logger = logging.getLogger(__name__)

RECORD_NAME = "overlay-build.json"
RECORD_FORMAT = 1
MISSING = "missing"
CACHE_ENV = "QUICKSAND_OVERLAY_CACHE"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Return the sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir() -> Path:
    """Return the folder for cached disk hashes (QUICKSAND_OVERLAY_CACHE overrides)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "quicksand-overlay-scaffold"


def disk_sha256(path: Path, cache: Path | None = None) -> str:
    """Return the sha256 of a base disk file, cached by path, size and mtime.

    Base disks are tens to hundreds of MiB, and every build checks the
    fingerprint, so a repeated check reads the cache instead of the disk.
    """
    cache_file = (cache or cache_dir()) / "disk-sha256.json"
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    entries = _read_json(cache_file) or {}
    if key in entries:
        return entries[key]
    digest = file_sha256(path)
    entries[key] = digest
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache_file.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(entries, indent=1, sort_keys=True))
        temporary.replace(cache_file)
    except OSError as error:
        logger.warning("could not write the disk hash cache %s: %s", cache_file, error)
    return digest


def host_arch() -> str:
    """Return this host's CPU architecture in the names QEMU uses (x86_64, aarch64)."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def hash_files(root: Path, paths: Iterable[Path]) -> dict[str, str]:
    """Return {path relative to ROOT in POSIX form: sha256, or "missing"} for PATHS."""
    hashes: dict[str, str] = {}
    for path in paths:
        absolute = (path if path.is_absolute() else root / path).resolve()
        # A file outside the project (copied in with an absolute path) keeps
        # its absolute path as its key.
        inside = absolute.is_relative_to(root.resolve())
        key = (
            absolute.relative_to(root.resolve()).as_posix() if inside else str(absolute)
        )
        hashes[key] = file_sha256(absolute) if absolute.is_file() else MISSING
    return dict(sorted(hashes.items()))


def expand_inputs(root: Path, patterns: Iterable[str]) -> list[Path]:
    """Return the files matched by the glob PATTERNS relative to ROOT, sorted.

    A pattern that matches nothing is kept as a plain path, so the record shows it missing.
    """
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(p for p in root.glob(pattern) if p.is_file())
        files.extend(matches or [root / pattern])
    return files


def unmatched_inputs(root: Path, patterns: Iterable[str]) -> list[str]:
    """Return the PATTERNS that match no file under ROOT."""
    return [
        pattern
        for pattern in patterns
        if not any(p.is_file() for p in root.glob(pattern))
    ]


def make_record(
    base: BaseImage,
    settings: Mapping[str, Any],
    network: str,
    files: Mapping[str, str],
    *,
    arch: str | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Build the overlay-build.json document, fingerprint included.

    ARCH defaults to this host's architecture and CACHE to cache_dir().
    """
    record: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "base": {
            "image": base.image,
            "package": base.package,
            "version": base.version,
            "disk": base.disk.name,
            "sha256": disk_sha256(base.disk, cache),
            "size": base.disk.stat().st_size,
        },
        "arch": arch or host_arch(),
        "settings": dict(settings),
        "network": network,
        "files": dict(sorted(files.items())),
    }
    record["fingerprint"] = fingerprint_of(record)
    return record


def fingerprint_of(record: Mapping[str, Any]) -> str:
    """Return the sha256 of every input in RECORD, ignoring the stored fingerprint."""
    inputs = {
        key: value
        for key, value in record.items()
        if key not in {"fingerprint", "timings"}
    }
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_record(images_dir: Path) -> dict[str, Any] | None:
    """Return the stored record of the overlay in IMAGES_DIR, or None if absent or unreadable."""
    record = _read_json(images_dir / RECORD_NAME)
    if record is None or record.get("format") != RECORD_FORMAT:
        return None
    return record


def write_record(images_dir: Path, record: Mapping[str, Any]) -> Path:
    """Write RECORD to IMAGES_DIR/overlay-build.json and return the path."""
    path = images_dir / RECORD_NAME
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
