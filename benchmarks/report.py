"""Targets and the Markdown results page."""

from __future__ import annotations

import math

COMPARATORS = {"<=": (lambda value, limit: value <= limit), "==": (lambda v, x: v == x)}
SYMBOLS = {"<=": "≤", "==": "="}


def target(
    figure: str, value: float, op: str, limit: float, *, missed_because: str = ""
) -> dict:
    """Return a target record: the figure, its measured value, the limit and whether it is met."""
    met = not math.isnan(value) and COMPARATORS[op](value, limit)
    record = {"figure": figure, "value": value, "op": op, "limit": limit, "met": met}
    if not met:
        record["explanation"] = missed_because
    return record


def number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}"


def table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(number(cell) for cell in row) + " |" for row in rows]
    return lines


def target_rows(targets: list[dict]) -> list[list]:
    rows = []
    for record in targets:
        verdict = "met" if record["met"] else "**not met**"
        limit = f"{SYMBOLS[record['op']]} {number(record['limit'])}"
        rows.append([record["figure"], record["value"], limit, verdict])
    return rows


def machine_lines(machine: dict) -> list[str]:
    rows = [[key.replace("_", " "), value] for key, value in machine.items()]
    return table(["fact", "value"], rows)


def section_lines(key: str, section: dict) -> list[str]:
    lines = [f"## {section['title']}", ""]
    if "error" in section:
        return [*lines, f"This section failed: `{section['error']}`", ""]
    lines.append(
        f"Measured {section['started']} in {section['duration_s']:.0f} s, "
        f"{section['repetitions']} repetitions, accelerator: {section['accelerator']}. "
        f"Load average at the start: {section['machine']['load_average']}, "
        f"other QEMU processes running: {section['machine']['other_qemu_processes']}."
    )
    lines.append("")
    if section.get("targets"):
        lines += table(
            ["figure", "measured", "target", "result"], target_rows(section["targets"])
        )
        lines.append("")
    for record in section.get("targets", []):
        if not record["met"] and record.get("explanation"):
            lines += [
                f"Why *{record['figure']}* is not met: {record['explanation']}",
                "",
            ]
    stats = section.get("measurements", {})
    if stats:
        rows = [
            [name, s["median"], s["min"], s["max"], s["n"]] for name, s in stats.items()
        ]
        lines += table(["measurement", "median", "min", "max", "n"], rows)
        lines.append("")
    values = section.get("values", {})
    if values:
        lines += table(
            ["figure", "value"], [[name, value] for name, value in values.items()]
        )
        lines.append("")
    lines += [f"- {note}" for note in section.get("notes", [])]
    return [*lines, ""]


def render(results: dict, titles: dict[str, str]) -> str:
    """Render RESULTS (the content of results.json) as the Markdown results page."""
    lines = [
        "# Benchmark results",
        "",
        (
            "Written by `python benchmarks/run.py`; see [README.md](README.md) for what each "
            "section measures. Absolute times drift on shared machines: compare the ratios."
        ),
        "",
    ]
    run = results.get("run", {})
    if run:
        lines += [
            (
                f"Last run: {run['started']}, command `{run['command']}`, "
                f"sections {', '.join(run['sections'])}, {run['duration_s']:.0f} s in all."
            ),
            "",
        ]
    sections = results.get("sections", {})
    summary = []
    for key, title in titles.items():
        for record in sections.get(key, {}).get("targets", []):
            summary.append([title, *target_rows([record])[0]])
    if summary:
        lines += ["## Targets", ""]
        lines += table(["section", "figure", "measured", "target", "result"], summary)
        lines.append("")
    machine = results.get("machine")
    if machine:
        lines += ["## Machine", "", *machine_lines(machine), ""]
    for key in titles:
        if key in sections:
            lines += section_lines(key, sections[key])
    return "\n".join(lines).rstrip() + "\n"
