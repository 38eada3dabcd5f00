"""The benchmarks' work folder: a wheel of this checkout, virtual environments, projects."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import time
from functools import cached_property
from pathlib import Path

from measure import BenchmarkError, run_timed

logger = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / "work"

SETUP_REGION = re.compile(
    r"^async def _setup\(shell\):\n.*?(?=^# ---- End of the edit region)",
    re.MULTILINE | re.DOTALL,
)


def uv_command() -> list[str]:
    """Return the command that runs uv: the uv module of this Python, else uv on PATH."""
    try:
        import uv  # noqa: F401  (only checks that the module is installed)
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            raise BenchmarkError(
                "uv not found; install the test tools: uv sync --group test"
            ) from None
        return [found]
    return [sys.executable, "-m", "uv"]


class Workspace:
    """The folder benchmarks/work/, rebuilt lazily once per run."""

    def __init__(self, root: Path = WORK_DIR) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.uv = uv_command()

    def fresh_dir(self, name: str) -> Path:
        """Return an empty folder root/NAME, removing what an earlier run left there."""
        path = self.root / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    @cached_property
    def overlay_cache(self) -> Path:
        return self.fresh_dir("overlay-cache")

    @cached_property
    def wheelhouse(self) -> Path:
        """Build a wheel of this checkout into root/wheelhouse and return the folder.

        PyPI holds unrelated 0.3.x releases under this distribution name, so every
        build of a generated project finds this checkout's wheel here instead.
        """
        # uv caches a find-links wheel by its path, and every build of this
        # checkout has the same file name, so each run needs a new folder.
        wheelhouse = self.fresh_dir("wheelhouse") / str(time.time_ns())
        wheelhouse.mkdir()
        logger.info("building a wheel of this checkout into %s", wheelhouse)
        command = [*self.uv, "build", "--wheel", "--out-dir", str(wheelhouse)]
        run_timed([*command, str(REPO_ROOT)])
        return wheelhouse

    @staticmethod
    def bytecode_env() -> dict[str, str]:
        """Return os.environ with bytecode caching on, as users normally have it.

        The benchmarks run every command once untimed first, so the timed runs
        read cached bytecode even where PYTHONDONTWRITEBYTECODE is set here.
        """
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def build_env(self) -> dict[str, str]:
        """Return an environment in which pip and uv find this checkout's wheel."""
        env = dict(os.environ)
        # Keep find-links the machine already sets: pip splits on spaces, uv on commas.
        for name, separator in (("PIP_FIND_LINKS", " "), ("UV_FIND_LINKS", ",")):
            existing = env.get(name, "")
            env[name] = separator.join(filter(None, [str(self.wheelhouse), existing]))
        env["QUICKSAND_AUTO_INSTALL"] = "0"
        env.pop("QUICKSAND_OVERLAY_REBUILD", None)
        # The build hook restores overlays from a user cache without a boot, so a
        # cache of this run's own makes every first build boot a VM.
        env["QUICKSAND_OVERLAY_CACHE"] = str(self.overlay_cache)
        return env

    def make_venv(self, name: str, *requirements: str) -> Path:
        """Create root/NAME as a virtual environment holding REQUIREMENTS."""
        venv = self.root / name
        if venv.exists():
            shutil.rmtree(venv)
        python = ["--python", sys.executable]
        run_timed([*self.uv, "venv", "--quiet", *python, str(venv)])
        install = [*self.uv, "pip", "install", "--quiet", "--python", str(venv)]
        run_timed([*install, *requirements], env=self.build_env())
        return venv

    def scaffold(self, parent: Path, name: str, base: str = "alpine") -> Path:
        """Generate project NAME under PARENT with this checkout's template."""
        command = [sys.executable, "-m", "quicksand_overlay_scaffold", name]
        run_timed([*command, "--base", base, "--output-dir", str(parent)])
        return parent / name


def replace_setup(project: Path, body: str) -> None:
    """Replace the generated hatch_build.py's _setup with one whose body is BODY."""
    hook = project / "hatch_build.py"
    text = hook.read_text()
    lines = [f"    {line}" if line else "" for line in body.strip("\n").splitlines()]
    function = "async def _setup(shell):\n" + "\n".join(lines) + "\n\n\n"
    new_text, count = SETUP_REGION.subn(lambda _match: function, text)
    if count != 1:
        raise BenchmarkError(f"{hook}: the _setup edit region was not found")
    hook.write_text(new_text)
