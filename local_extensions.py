"""Jinja filters that cookiecutter.json uses to derive names and quote text.

cookiecutter loads this module through ``_extensions`` in cookiecutter.json.
The naming rules live in ``hooks/overlay_names.py`` so that the hooks, which
may use only the standard library, share them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jinja2 import Environment
from jinja2.ext import Extension

sys.path.insert(0, str(Path(__file__).resolve().parent / "hooks"))

import overlay_names  # noqa: E402


def toml_string(value: str) -> str:
    """Quote VALUE as a TOML basic string, keeping non-ASCII characters as typed.

    TOML accepts JSON's escapes except surrogate pairs, so the JSON encoder
    runs with ``ensure_ascii=False``. DEL, which TOML requires escaped but
    JSON leaves alone, is escaped by hand.
    """
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def python_string(value: str) -> str:
    """Quote VALUE as a Python string literal."""
    return repr(str(value))


class OverlayFilters(Extension):
    """Register the naming and quoting filters on cookiecutter's environment."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(
            package_slug=overlay_names.package_slug,
            module_name=overlay_names.module_name,
            sandbox_class_name=overlay_names.class_name,
            base_package=overlay_names.base_package,
            base_module=overlay_names.base_module,
            base_requirement=overlay_names.base_requirement,
            toml_string=toml_string,
            python_string=python_string,
        )
