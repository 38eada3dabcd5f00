"""Run the benchmarks and write results.json and results.md beside this file.

Usage: python benchmarks/run.py [--quick] [--sections scaffold,build-hit,...]
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from measure import machine_facts
from report import render
from workspace import BENCH_DIR, Workspace

logger = logging.getLogger("benchmarks")


@dataclass(frozen=True)
class Section:
    title: str
    module: str
    repetitions: int
    quick_repetitions: int


SECTIONS = {
    "scaffold": Section("1. Scaffolding", "section_scaffold", 10, 3),
    "build-hit": Section("2. Build with an unchanged setup", "section_build_hit", 5, 2),
    "build-changed": Section(
        "3. Build with a changed setup", "section_build_changed", 3, 1
    ),
    "tests": Section("4. Generated test suite", "section_tests", 2, 1),
    "size": Section("5. Overlay size", "section_size", 1, 1),
}
ALIASES = {str(number): key for number, key in enumerate(SECTIONS, start=1)}


def parse_sections(text: str) -> list[str]:
    chosen = []
    for item in text.split(","):
        key = ALIASES.get(item.strip(), item.strip())
        if key not in SECTIONS:
            names = ", ".join(SECTIONS)
            raise argparse.ArgumentTypeError(
                f"unknown section {item!r}; choose from {names} or 1-{len(SECTIONS)}"
            )
        chosen.append(key)
    return chosen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions per measurement"
    )
    parser.add_argument(
        "--sections",
        type=parse_sections,
        default=list(SECTIONS),
        help="comma-separated sections to run, by name or number "
        f"({', '.join(SECTIONS)}; default: all). Results of the others are kept.",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=BENCH_DIR,
        help="folder for results.json and results.md (default: %(default)s)",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="log every command"
    )
    return parser


def run_section(key: str, workspace: Workspace, quick: bool) -> dict:
    """Run one section and return its record; a failure is recorded, not raised."""
    section = SECTIONS[key]
    repetitions = section.quick_repetitions if quick else section.repetitions
    started = datetime.now(UTC)
    record = {
        "title": section.title,
        "started": started.isoformat(timespec="seconds"),
        "repetitions": repetitions,
        "machine": machine_facts(),
    }
    logger.info("section %s: %d repetitions", key, repetitions)
    clock = time.perf_counter()
    try:
        module = importlib.import_module(section.module)
        record |= {"accelerator": "none (no VM)"} | module.run(workspace, repetitions)
    except Exception as error:  # noqa: BLE001  (recorded; the other sections still run)
        logger.error("section %s failed: %s", key, error)
        logger.debug("%s", traceback.format_exc())
        record["error"] = str(error).splitlines()[0] if str(error) else repr(error)
        record["error_detail"] = str(error)
    record["duration_s"] = time.perf_counter() - clock
    return record


def load_results(path: Path) -> dict:
    if path.is_file():
        return json.loads(path.read_text())
    return {}


def write_results(results: dict, results_dir: Path) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    titles = {key: section.title for key, section in SECTIONS.items()}
    (results_dir / "results.md").write_text(render(results, titles))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not args.verbose:
        # quicksand-core logs every boot step at info level in the bare-VM runs.
        logging.getLogger("quicksand").setLevel(logging.WARNING)
    results = load_results(args.results_dir / "results.json")
    results.setdefault("sections", {})
    clock = time.perf_counter()
    workspace = Workspace()
    results["machine"] = machine_facts()
    command = "python benchmarks/run.py" + " ".join(["", *(argv or sys.argv[1:])])
    results["run"] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command.rstrip(),
        "sections": args.sections,
        "quick": args.quick,
    }
    for key in args.sections:
        results["sections"][key] = run_section(key, workspace, args.quick)
        # Written after every section, so an interrupted run keeps what it measured.
        results["run"]["duration_s"] = time.perf_counter() - clock
        write_results(results, args.results_dir)
    failed = [key for key in args.sections if "error" in results["sections"][key]]
    logger.info(
        "wrote results.json and results.md to %s in %.0f s",
        args.results_dir,
        results["run"]["duration_s"],
    )
    if failed:
        logger.error(
            "failed sections: %s; rerun them with --sections", ",".join(failed)
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
