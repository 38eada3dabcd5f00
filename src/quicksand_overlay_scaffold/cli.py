"""The ``quicksand-overlay-scaffold NAME`` command."""

from __future__ import annotations

import argparse
import io
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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
        help="folder in which the project folder is created "
        "(default: the current folder)",
    )
    parser.add_argument("--description", help="one-line package description")
    parser.add_argument("--author", default="", help="author name")
    parser.add_argument("--author-email", default="", help="author email address")
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
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
    """Raise TargetExistsError unless TARGET is missing or an empty folder."""
    parent = next(folder for folder in target.parents if folder.exists())
    if not parent.is_dir():
        raise TargetExistsError(
            f"{parent} exists and is not a folder; choose another --output-dir"
        )
    if target.exists() and not target.is_dir():
        raise TargetExistsError(
            f"{target} exists and is not a folder; choose another name or --output-dir"
        )
    if target.is_dir() and any(target.iterdir()):
        raise TargetExistsError(
            f"{target} exists and is not empty; choose another name or --output-dir"
        )


@contextmanager
def captured_stderr() -> Iterator[io.StringIO]:
    """Redirect file descriptor 2 for the duration and collect what it receives.

    cookiecutter runs the template's hooks as subprocesses that inherit this
    descriptor, so their messages are collected too. The yielded buffer holds
    the text once the block ends.
    """
    text = io.StringIO()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield text
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text.write(capture.read().decode("utf-8", errors="replace"))


def hook_failure_reason(output: str, error: FailedHookException) -> str:
    """Return the last line a failed hook printed, without its "error: " prefix."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return f"the template's hook failed without a message ({error})"
    return lines[-1].removeprefix("error: ")


def run_cookiecutter(
    extra_context: dict[str, str], output_dir: Path, target: Path
) -> Path:
    """Run the packaged template and return the project folder.

    Hook output is collected so that a failure reaches the user as one line.
    """
    try:
        with captured_stderr() as hook_output:
            project = cookiecutter(
                str(template_dir()),
                no_input=True,
                extra_context=extra_context,
                output_dir=str(output_dir),
                overwrite_if_exists=target.is_dir(),
            )
    except FailedHookException as error:
        reason = hook_failure_reason(hook_output.getvalue(), error)
        raise GenerationFailedError(reason) from error
    except CookiecutterException as error:
        raise GenerationFailedError(f"cookiecutter failed: {error}") from error
    except OSError as error:
        raise GenerationFailedError(
            f"could not write {target}: {error}; choose another --output-dir"
        ) from error
    sys.stderr.write(hook_output.getvalue())
    return Path(project)


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
    output_dir = args.output_dir.resolve()
    target = output_dir / derived["package_slug"]
    check_target(target)
    existed = target.is_dir()
    try:
        return run_cookiecutter(extra_context, output_dir, target)
    except GenerationFailedError:
        # cookiecutter removes only a project folder it created itself. The
        # folder was empty before, so removing its content restores it.
        if existed:
            empty_folder(target)
        raise


def empty_folder(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def find_links_steps() -> list[str]:
    """Return the commands that let uv find this version's wheel at build time.

    The generated project lists quicksand-overlay-scaffold in
    build-system.requires, and PyPI holds only unrelated older releases under
    that name, so a build needs a folder with this version's wheel.
    """
    if os.environ.get("UV_FIND_LINKS"):
        return []
    checkout = template_dir()
    if checkout.name == "template":
        return [
            f"export UV_FIND_LINKS=DIR   # DIR: a folder with the "
            f"quicksand-overlay-scaffold {__version__} wheel"
        ]
    dist = checkout / "dist"
    return [
        f"uv build --wheel --out-dir {dist} {checkout}   # the build hook's wheel",
        f"export UV_FIND_LINKS={dist} PIP_FIND_LINKS={dist}",
    ]


def print_summary(project: Path, derived: dict[str, str]) -> None:
    print(f"Created {project}")
    print(f"  distribution and image name: {derived['package_slug']}")
    print(f"  module:                      {derived['module_name']}")
    print(f"  Sandbox class:               {derived['class_name']}")
    print(f"  base image package:          {derived['base_package']}")
    print("Next steps:")
    print(f"  cd {project}")
    print("  edit _setup in hatch_build.py")
    for line in find_links_steps():
        print(f"  {line}")
    print("  uv build          # boots the base image and builds the overlay wheel")
    print("  uv run pytest     # boots the overlay and checks what _setup did")


def main(argv: list[str] | None = None) -> int:
    """Run the command and return its exit status: 0, 1 on a user error, 2 on usage."""
    args = build_parser().parse_args(argv)
    # cookiecutter logs a hook failure at error level; the hook's own message
    # is reported instead, so the user sees one line.
    logging.getLogger("cookiecutter").setLevel(logging.CRITICAL)
    try:
        derived = validate_inputs(args)
        project = generate(args, derived)
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_summary(project, derived)
    return 0
