"""Load a generated overlay project: its names, settings and ``_setup`` function."""

from __future__ import annotations

import importlib.util
import inspect
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from quicksand_overlay_scaffold.overlay.errors import InvalidProjectError
from quicksand_overlay_scaffold.overlay.settings import OverlaySettings, read_settings

DEFAULT_HOOK_PATH = "hatch_build.py"
SETUP_NAME = "_setup"


@dataclass(frozen=True)
class OverlayProject:
    """A generated project: its names, VM settings and ``_setup`` function."""

    root: Path
    name: str
    module: str
    hook_path: Path
    settings: OverlaySettings
    setup: Callable[..., Any]

    @property
    def images_dir(self) -> Path:
        """The folder the overlay is saved to, inside the package."""
        return self.root / "src" / self.module / "images"

    @property
    def base_image(self) -> str:
        """The name of the base image the overlay is built on, such as ``alpine``."""
        return self.settings.base


def load_project(
    root: Path, *, setup: Callable[..., Any] | None = None
) -> OverlayProject:
    """Read ROOT/pyproject.toml and the build script; SETUP skips loading the script."""
    root = Path(root).resolve()
    pyproject = _read_pyproject(root)
    name = pyproject.get("project", {}).get("name")
    if not isinstance(name, str) or not name:
        raise InvalidProjectError(f"{root / 'pyproject.toml'} has no [project] name")
    wheel = (
        pyproject.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
    )
    wheel = wheel.get("wheel", {})
    table = wheel.get("hooks", {}).get("custom")
    if table is None:
        raise InvalidProjectError(
            f"{root / 'pyproject.toml'} has no [tool.hatch.build.targets.wheel.hooks.custom] table"
        )
    hook_path = root / table.get("path", DEFAULT_HOOK_PATH)
    return OverlayProject(
        root=root,
        name=str(canonicalize_name(name)),
        module=_module_name(name, wheel.get("packages")),
        hook_path=hook_path,
        settings=read_settings(table),
        setup=check_setup(setup or load_setup(hook_path), hook_path),
    )


def load_setup(hook_path: Path) -> Any:
    """Import the build script and return its ``_setup`` (None when it has none)."""
    if not hook_path.is_file():
        raise InvalidProjectError(f"build script {hook_path} not found")
    spec = importlib.util.spec_from_file_location(
        f"_overlay_hook_{hook_path.stem}", hook_path
    )
    if spec is None or spec.loader is None:
        raise InvalidProjectError(f"cannot import build script {hook_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, SETUP_NAME, None)


def check_setup(setup: Any, hook_path: Path) -> Callable[..., Any]:
    """Return SETUP if it is an ``async def`` that takes one argument (the shell)."""
    if setup is None:
        raise InvalidProjectError(
            f"{hook_path} must define 'async def {SETUP_NAME}(shell)'"
        )
    if not inspect.iscoroutinefunction(setup):
        raise InvalidProjectError(
            f"{hook_path}: {SETUP_NAME} must be 'async def {SETUP_NAME}(shell)'; "
            f"add 'async' before 'def {SETUP_NAME}' (got {setup!r})"
        )
    try:
        inspect.signature(setup).bind(object())
    except TypeError as error:
        raise InvalidProjectError(
            f"{hook_path}: {SETUP_NAME} must take exactly one argument, the shell; "
            f"write 'async def {SETUP_NAME}(shell)' ({error})"
        ) from error
    return setup


def _read_pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as error:
        raise InvalidProjectError(f"{path} not found") from error
    except tomllib.TOMLDecodeError as error:
        raise InvalidProjectError(f"{path} is not valid TOML: {error}") from error


def _module_name(name: str, packages: Any) -> str:
    """Return the import name: the last part of the first wheel package, else from NAME."""
    if isinstance(packages, list) and packages and isinstance(packages[0], str):
        return Path(packages[0]).name
    return str(canonicalize_name(name)).replace("-", "_")
