"""Locate the cookiecutter template and the naming rules that ship with it."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

PACKAGE_DIR = Path(__file__).resolve().parent


def template_dir() -> Path:
    """Return the folder that contains cookiecutter.json.

    A wheel carries the template inside the package as ``template/``. In a
    source checkout, including an editable install, the template is the
    repository root two levels above this package.
    """
    packaged = PACKAGE_DIR / "template"
    if (packaged / "cookiecutter.json").is_file():
        return packaged
    checkout = PACKAGE_DIR.parent.parent
    if (checkout / "cookiecutter.json").is_file():
        return checkout
    raise FileNotFoundError(
        f"cookiecutter.json not found in {packaged} or {checkout}; "
        "reinstall quicksand-overlay-scaffold"
    )


@cache
def overlay_names() -> ModuleType:
    """Import the template's ``hooks/overlay_names.py``, the one copy of the naming rules."""
    path = template_dir() / "hooks" / "overlay_names.py"
    spec = importlib.util.spec_from_file_location("_quicksand_overlay_names", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
