"""The ``quicksand-overlay-scaffold NAME`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cookiecutter.exceptions import CookiecutterException, FailedHookException
from cookiecutter.main import cookiecutter

from quicksand_overlay_scaffold import __version__
from quicksand_overlay_scaffold.errors import (
    GenerationFailedError,
    InvalidInputError,
    ScaffoldError,
    TargetExistsError,
)
from quicksand_overlay_scaffold.template import overlay_names, template_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quicksand-overlay-scaffold",
        description="Create a quicksand overlay image package from the template.",
    )
    parser.add_argument("name", metavar="NAME", help="project name, such as my-box")
    parser.add_argument(
        "--base",
        default="ubuntu",
        help="base image: ubuntu, alpine, ubuntu-desktop or alpine-desktop "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("."),
        help="folder in which the project folder is created (default: the current folder)",
    )
    parser.add_argument("--description", help="one-line package description")
    parser.add_argument("--author", default="", help="author name")
    parser.add_argument("--author-email", default="", help="author email address")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def jinja_literal(text: str) -> str:
    """Wrap TEXT in a Jinja expression that renders to TEXT unchanged.

    cookiecutter renders every value passed as extra context as a template,
    so free text such as ``{{ x }}`` or ``{% raw %}`` would be evaluated. A
    Jinja string literal decodes its escapes like Python's ``unicode_escape``,
    which is the inverse of the encoding used here.
    """
    escaped = text.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return '{{ "' + escaped + '" }}'


def validate_inputs(args: argparse.Namespace) -> dict[str, str]:
    """Check the command's inputs and return the derived names."""
    names = overlay_names()
    try:
        names.check_project_name(args.name)
        names.check_base(args.base)
        if args.description is not None:
            names.check_text("description", args.description)
        names.check_text("author name", args.author)
        names.check_email(args.author_email)
    except names.InvalidNameError as error:
        raise InvalidInputError(str(error)) from error
    return names.derive(args.name, args.base)


def check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise TargetExistsError(
            f"{target} exists and is not a folder; choose another name or --output-dir"
        )
    if target.is_dir() and any(target.iterdir()):
        raise TargetExistsError(
            f"{target} exists and is not empty; choose another name or --output-dir"
        )


def generate(args: argparse.Namespace, derived: dict[str, str]) -> Path:
    """Run the packaged template through cookiecutter and return the project folder."""
    extra_context = {
        "project_name": args.name,
        "base": args.base,
        "author_name": jinja_literal(args.author),
        "author_email": jinja_literal(args.author_email),
    }
    if args.description is not None:
        extra_context["description"] = jinja_literal(args.description)
    target = args.output_dir / derived["package_slug"]
    check_target(target)
    try:
        project = cookiecutter(
            str(template_dir()),
            no_input=True,
            extra_context=extra_context,
            output_dir=str(args.output_dir),
            overwrite_if_exists=target.is_dir(),
        )
    except FailedHookException as error:
        raise GenerationFailedError(
            f"the template's hook rejected the project: {error}"
        ) from error
    except CookiecutterException as error:
        raise GenerationFailedError(f"cookiecutter failed: {error}") from error
    return Path(project)


def print_summary(project: Path, derived: dict[str, str]) -> None:
    print(f"Created {project}")
    print(f"  distribution and image name: {derived['package_slug']}")
    print(f"  module:                      {derived['module_name']}")
    print(f"  Sandbox class:               {derived['class_name']}")
    print(f"  base image package:          {derived['base_package']}")
    print("Next steps:")
    print(f"  cd {project}")
    print("  edit _setup in hatch_build.py")
    print("  uv build          # boots the base image and builds the overlay wheel")
    print("  uv run pytest     # boots the overlay and checks what _setup did")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # cookiecutter logs a hook failure at error level; the hook has already
    # printed the reason, so keep the output to that one line.
    logging.getLogger("cookiecutter").setLevel(logging.CRITICAL)
    try:
        derived = validate_inputs(args)
        project = generate(args, derived)
    except GenerationFailedError as error:
        if isinstance(error.__cause__, FailedHookException):
            return 1
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_summary(project, derived)
    return 0
