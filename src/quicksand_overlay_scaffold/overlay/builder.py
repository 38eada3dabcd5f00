"""Build the overlay when an input changed, and replace images/ only on success."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quicksand_overlay_scaffold.overlay.accelerator import choose_accelerator
from quicksand_overlay_scaffold.overlay.base_image import BaseImage, find_base_image
from quicksand_overlay_scaffold.overlay.cache import (
    find_cached,
    newest_cached_record,
    store_overlay,
)
from quicksand_overlay_scaffold.overlay.fingerprint import (
    RECORD_NAME,
    expand_inputs,
    hash_files,
    make_record,
    read_record,
    unmatched_inputs,
    write_record,
)
from quicksand_overlay_scaffold.overlay.progress import Progress, print_progress
from quicksand_overlay_scaffold.overlay.project import OverlayProject
from quicksand_overlay_scaffold.overlay.qemu import find_qemu
from quicksand_overlay_scaffold.overlay.vm import build_in_vm, run_interruptible

logger = logging.getLogger(__name__)

REBUILD_ENV = "QUICKSAND_OVERLAY_REBUILD"
UP_TO_DATE_PREFIX = "quicksand-overlay: overlay is up to date"
STAGING_PREFIX = ".images-build-"


@dataclass
class BuildOutcome:
    """The result of ensure_overlay: whether a VM ran, and the record now in images/."""

    rebuilt: bool
    images_dir: Path
    record: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class OverlayStatus:
    """Whether the overlay in images/ matches the current inputs, and why not."""

    current: bool
    forced: bool
    reason: str
    record: dict[str, Any]
    previous: dict[str, Any] | None
    base: BaseImage


def overlay_status(project: OverlayProject, *, force: bool = False) -> OverlayStatus:
    """Compare the stored fingerprint with the current inputs, booting nothing."""
    images_dir = project.images_dir
    _recover_interrupted_swap(images_dir)
    base = find_base_image(project.base_image)
    previous = read_record(images_dir)
    record = _current_record(project, base, previous, set())
    forced = force or os.environ.get(REBUILD_ENV, "") not in ("", "0")
    current = not forced and _is_current(images_dir, previous, record)
    reason = "" if current else _reason(previous, record, forced)
    if previous is None and not forced:
        reason = _reason_from_cache(project, base) or reason
    return OverlayStatus(current, forced, reason, record, previous, base)


def ensure_overlay(
    project: OverlayProject, *, force: bool = False, progress: Progress | None = None
) -> BuildOutcome:
    """Build PROJECT's overlay unless the stored fingerprint matches its inputs.

    A match returns at once without booting a VM. FORCE, or
    QUICKSAND_OVERLAY_REBUILD=1, rebuilds regardless.
    """
    report = progress or print_progress
    for pattern in unmatched_inputs(project.root, project.settings.inputs):
        report(
            "warning",
            f"quicksand-overlay: inputs pattern {pattern!r} matches no file "
            f"under {project.root}",
        )
    status = overlay_status(project, force=force)
    if status.current:
        report(
            "success",
            f"{UP_TO_DATE_PREFIX} (fingerprint {status.record['fingerprint'][:12]}, "
            f"{status.base.package} {status.base.version}); no VM booted",
        )
        record = status.previous or status.record
        return BuildOutcome(rebuilt=False, images_dir=project.images_dir, record=record)
    if not status.forced:
        restored = _restore_cached(project, status.base)
        if restored is not None:
            report(
                "success",
                f"{UP_TO_DATE_PREFIX} (fingerprint {restored['fingerprint'][:12]}, "
                "copied from the build cache); no VM booted",
            )
            return BuildOutcome(
                rebuilt=False, images_dir=project.images_dir, record=restored
            )
    report("info", f"quicksand-overlay: building the overlay: {status.reason}")
    outcome = _build(project, status.base, report)
    # A plain `uv build` or `python -m build` builds the wheel from the sdist in
    # a temporary folder that it then deletes, so name the copy that stays.
    entry = store_overlay(project.name, outcome.images_dir, outcome.record)
    if entry is not None:
        report("info", f"quicksand-overlay: overlay cached in {entry}")
    return outcome


def _restore_cached(project: OverlayProject, base: BaseImage) -> dict[str, Any] | None:
    """Put a cached overlay built from the same inputs into images/, if there is one."""

    def fingerprint_for(cached: Mapping[str, Any]) -> str:
        return _current_record(project, base, cached, set())["fingerprint"]

    cached = find_cached(project.name, fingerprint_for)
    if cached is None:
        return None
    workdir = _make_workdir(project.images_dir)
    try:
        shutil.copytree(cached, workdir / "images")
        _swap_in(workdir / "images", project.images_dir, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return read_record(project.images_dir)


def _current_record(
    project: OverlayProject,
    base: BaseImage,
    previous: Mapping[str, Any] | None,
    copied: set[Path],
) -> dict[str, Any]:
    """Return the record of the current inputs.

    The files hashed are the build script, the ``inputs`` setting, the files
    the setup copied in (COPIED), and those the previous build recorded.
    """
    root = project.root
    paths = {project.hook_path, *expand_inputs(root, project.settings.inputs), *copied}
    if previous is not None:
        paths.update(root / name for name in previous.get("files", {}))
    settings = project.settings
    return make_record(
        base, settings.sandbox_kwargs(), settings.network, hash_files(root, paths)
    )


def _is_current(
    images_dir: Path, previous: dict[str, Any] | None, record: dict[str, Any]
) -> bool:
    if previous is None or previous.get("fingerprint") != record["fingerprint"]:
        return False
    return (images_dir / "manifest.json").is_file() and any(
        (images_dir / "overlays").glob("*.qcow2")
    )


def _reason(
    previous: dict[str, Any] | None, record: dict[str, Any], forced: bool
) -> str:
    if forced:
        return f"rebuild forced (force=True or {REBUILD_ENV}=1)"
    if previous is None:
        return "no overlay built yet"
    changed = _changes(previous, record)
    return "changed: " + ", ".join(changed) if changed else "overlay files missing"


def _reason_from_cache(project: OverlayProject, base: BaseImage) -> str | None:
    """Describe what changed since the newest cached build, when images/ is missing.

    A wheel built from an sdist has no images/, but the build cache may hold an
    overlay from an earlier build of the same project.
    """
    cached = newest_cached_record(project.name)
    if cached is None:
        return None
    changed = _changes(cached, _current_record(project, base, cached, set()))
    if not changed:
        return None
    return "changed since the newest cached build: " + ", ".join(changed)


def _changes(previous: Mapping[str, Any], record: Mapping[str, Any]) -> list[str]:
    """Return the inputs that differ between PREVIOUS and RECORD, files as "file X"."""
    changed = [
        key
        for key in ("base", "arch", "settings", "network")
        if previous.get(key) != record[key]
    ]
    old_files, new_files = previous.get("files", {}), record["files"]
    changed += [
        f"file {name}" for name in new_files if old_files.get(name) != new_files[name]
    ]
    return changed


def _build(project: OverlayProject, base: BaseImage, report: Progress) -> BuildOutcome:
    settings = project.settings
    accelerator = choose_accelerator(settings.accelerator)
    qemu = find_qemu()
    images_dir = project.images_dir
    workdir = _make_workdir(images_dir)
    try:
        timings, copied = run_interruptible(
            lambda: build_in_vm(
                setup=project.setup,
                settings=settings,
                base=base,
                accelerator=accelerator,
                qemu=qemu,
                workdir=workdir,
                project_root=project.root,
                progress=report,
            )
        )
        record = _current_record(project, base, None, copied)
        record["timings"] = timings
        write_record(workdir / "images", record)
        _swap_in(workdir / "images", images_dir, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(
        "success",
        f"quicksand-overlay: overlay saved to {images_dir} ({_describe(timings)})",
    )
    return BuildOutcome(
        rebuilt=True, images_dir=images_dir, record=record, timings=timings
    )


def _make_workdir(images_dir: Path) -> Path:
    """Create a staging folder beside IMAGES_DIR, so that renames stay on one file system."""
    images_dir.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{STAGING_PREFIX}{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=images_dir.parent))


def _swap_in(new_images: Path, images_dir: Path, workdir: Path) -> None:
    """Replace IMAGES_DIR with NEW_IMAGES, keeping the old one until the new one is in place.

    NOTE: these are two renames, not one atomic exchange (the standard library
    has no renameat2). A crash between them leaves the old folder in WORKDIR,
    and the next build puts it back.
    """
    if images_dir.exists():
        images_dir.rename(workdir / "previous")
    new_images.rename(images_dir)


def _recover_interrupted_swap(images_dir: Path) -> None:
    """Remove staging folders of builds that were killed, restoring images/ if needed."""
    for stale in sorted(images_dir.parent.glob(f"{STAGING_PREFIX}*")):
        if _process_alive(stale.name.removeprefix(STAGING_PREFIX).split("-")[0]):
            continue
        previous = stale / "previous"
        if not images_dir.exists() and (previous / RECORD_NAME).is_file():
            previous.rename(images_dir)
            logger.warning("restored %s from an interrupted build", images_dir)
        shutil.rmtree(stale, ignore_errors=True)


def _process_alive(pid_text: str) -> bool:
    """Return whether the build that owns a staging folder still runs."""
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(timings: dict[str, float]) -> str:
    return ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in timings.items())
