"""Check the generated project and fail the generation when it is inconsistent.

cookiecutter removes the project folder it created when this hook exits with
a non-zero status, so a failed check leaves nothing behind.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
from pathlib import Path

CONTEXT = json.loads({{ cookiecutter | tojson | tojson }})

sys.path.insert(0, os.path.join(CONTEXT["_repo_dir"], "hooks"))

import overlay_names  # noqa: E402

# Built by concatenation because cookiecutter renders this file with Jinja.
OPEN_VARIABLE, OPEN_BLOCK = "{" + "{", "{" + "%"
LEFTOVER_MARKERS = (
    OPEN_VARIABLE + " cookiecutter",
    OPEN_VARIABLE + "cookiecutter",
    OPEN_BLOCK,
)
FREE_TEXT_KEYS = ("project_name", "description", "author_name", "author_email")
WHEEL = ("tool", "hatch", "build", "targets", "wheel")


class GeneratedProjectError(Exception):
    """Raised when a generated file disagrees with the derived names."""


def load_toml(path: Path) -> dict | None:
    """Parse PATH with tomlkit, or with tomllib where tomlkit is not installed.

    Returns None when neither is available (Python 3.10 without tomlkit).
    """
    text = path.read_text(encoding="utf-8")
    try:
        import tomlkit
    except ImportError:
        try:
            import tomllib  # Python 3.11 and later
        except ImportError:
            return None
        return tomllib.loads(text)
    return tomlkit.parse(text).unwrap()


def lookup(data: dict, *keys: str):
    """Return data[keys[0]][keys[1]]..., naming the missing TOML key on failure."""
    value = data
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            dotted = ".".join(
                f'"{part}"' if "." in part else part for part in keys[: depth + 1]
            )
            raise GeneratedProjectError(f"pyproject.toml has no key {dotted}")
        value = value[key]
    return value


def check_pyproject(project: Path, names: dict) -> None:
    """Check that pyproject.toml agrees with the derived names."""
    data = load_toml(project / "pyproject.toml")
    if data is None:
        # NOTE: cookiecutter runs this hook with its own Python. On 3.10
        # without tomlkit there is no TOML parser, so pyproject.toml goes
        # unchecked there. The other checks still run.
        return
    slug = names["package_slug"]
    module = names["module_name"]

    expect(lookup(data, "project", "name") == slug, f"project.name is not {slug!r}")
    entry_points = lookup(data, "project", "entry-points", "quicksand.images")
    expect(
        entry_points == {slug: f"{module}:image"},
        f"the quicksand.images entry point is not {slug} = {module}:image",
    )

    expect(
        lookup(data, *WHEEL, "packages") == [f"src/{module}"],
        f"tool.hatch.build.targets.wheel.packages is not ['src/{module}']",
    )
    expect(
        f"src/{module}/images/**" in lookup(data, *WHEEL, "artifacts"),
        "tool.hatch.build.targets.wheel.artifacts does not contain "
        f"src/{module}/images/**",
    )

    hook_path = lookup(data, *WHEEL, "hooks", "custom", "path")
    expect(hook_path == "hatch_build.py", "the build hook path is not hatch_build.py")
    expect((project / hook_path).is_file(), "hatch_build.py is missing")
    expect(
        (project / "src" / module / "__init__.py").is_file(),
        f"src/{module}/__init__.py is missing",
    )


def check_files(project: Path) -> None:
    """Check that every .py file parses and no template syntax is left over."""
    user_text = [CONTEXT[key] for key in FREE_TEXT_KEYS if CONTEXT[key]]
    for path in sorted(project.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        relative = path.relative_to(project).as_posix()
        if path.suffix == ".py":
            try:
                ast.parse(text, filename=relative)
            except SyntaxError as error:
                message = f"{relative} does not parse: {error}"
                raise GeneratedProjectError(message) from error
        # Template syntax typed by the user as free text is data, not a leftover.
        for value in user_text:
            for form in (value, json.dumps(value, ensure_ascii=False), repr(value)):
                text = text.replace(form, "")
        for marker in LEFTOVER_MARKERS:
            expect(marker not in text, f"{relative} contains unrendered {marker!r}")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise GeneratedProjectError(message)


def remove_bytecode(project: Path) -> None:
    """Delete __pycache__ folders that came from the installed template.

    pip compiles the .py files of an installed wheel, the template's included,
    and cookiecutter copies the resulting __pycache__ folders into the project.
    """
    for folder in sorted(project.rglob("__pycache__"), reverse=True):
        shutil.rmtree(folder)


def main() -> int:
    project = Path.cwd()
    names = overlay_names.derive(CONTEXT["project_name"], CONTEXT["base"])
    try:
        remove_bytecode(project)
        check_pyproject(project, names)
        check_files(project)
    except (GeneratedProjectError, OSError, TypeError, ValueError) as error:
        message = (
            f"error: generated project {project.name} is invalid: {error!s}; "
            "fix the template or report this as a bug"
        )
        print(message.encode("ascii", "backslashreplace").decode(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
