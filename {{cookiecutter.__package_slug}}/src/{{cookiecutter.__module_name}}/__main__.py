"""Boot the installed overlay and run one command, or commands read from stdin."""

import argparse
import asyncio
import math
import sys
import threading

from . import IMAGE_NAME, {{ cookiecutter.__class_name }}
from ._overlay import OverlayError

PROG = "python -m {{ cookiecutter.__module_name }}"
NETWORK_MODES = ("none", "mounts_only", "full")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"{text} is not a number of seconds greater than 0"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage="%(prog)s [OPTIONS] [COMMAND ...]",
        description=f"Boot the {IMAGE_NAME} overlay image and run COMMAND in it. "
        "Without COMMAND, read commands from stdin, one a line, until exit or EOF.",
    )
    parser.add_argument(
        "--memory",
        help="guest memory, such as 1G (default: the value used for the build)",
    )
    parser.add_argument(
        "--cpus",
        type=positive_int,
        help="number of guest CPUs (default: the value used for the build)",
    )
    parser.add_argument(
        "--network",
        choices=NETWORK_MODES,
        help="guest network mode (default: mounts_only, which has no internet)",
    )
    parser.add_argument(
        "--boot-timeout",
        type=positive_seconds,
        help="seconds to wait for the VM to boot (default: 120, or 600 under TCG)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=600.0,
        help="seconds each command may run (default: %(default)s)",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="COMMAND",
        help="a command for /bin/sh in the guest; its words are joined by spaces "
        "(put -- before a command that starts with -)",
    )
    return parser


async def run_command(sandbox, command: str, timeout: float) -> int:
    """Run COMMAND, copy its output to ours and return its exit status."""
    result = await sandbox.execute(command, timeout=timeout)
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    sys.stderr.write(result.stderr)
    sys.stderr.flush()
    # quicksand reports a failure to reach the guest agent as exit code -1.
    return result.exit_code if result.exit_code >= 0 else 1


def read_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue:
    """Start a daemon thread that puts each stdin line, then None, on a queue.

    A daemon thread, unlike asyncio.to_thread, does not keep the program
    waiting for one more line after Ctrl-C.
    """
    lines = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, daemon=True).start()
    return lines


async def run_interactive(sandbox, timeout: float) -> int:
    """Run commands from stdin and return the last one's exit status."""
    prompt = f"{IMAGE_NAME}$ " if sys.stdin.isatty() else ""
    lines = read_lines(asyncio.get_running_loop())
    status = 0
    while True:
        print(prompt, end="", flush=True)
        line = await lines.get()
        if line is None or line.strip() == "exit":
            return status
        if line.strip():
            status = await run_command(sandbox, line.strip(), timeout)


async def run(args: argparse.Namespace) -> int:
    requested = {
        "memory": args.memory,
        "cpus": args.cpus,
        "network_mode": args.network,
        "boot_timeout": args.boot_timeout,
    }
    config = {key: value for key, value in requested.items() if value is not None}
    async with {{ cookiecutter.__class_name }}(**config) as sandbox:
        if args.command:
            return await run_command(sandbox, " ".join(args.command), args.timeout)
        return await run_interactive(sandbox, args.timeout)


def one_line(error: Exception) -> str:
    """Describe ERROR in one line, listing each field of a pydantic ValidationError."""
    # Sandbox validates its settings with pydantic, whose ValidationError is a
    # ValueError with an errors() method and a multi-line message.
    details = getattr(error, "errors", None)
    if not callable(details):
        return " ".join(str(error).split())
    problems = []
    for detail in details():
        field = ".".join(str(part) for part in detail["loc"])
        problems.append(f"{field}: {detail['msg'].removeprefix('Value error, ')}")
    return "invalid setting " + "; ".join(problems)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    try:
        return asyncio.run(run(args))
    except (OverlayError, ValueError) as error:
        print(f"{PROG}: {one_line(error)}", file=sys.stderr)
        return 1
    except (RuntimeError, OSError, TimeoutError) as error:
        # quicksand's boot errors span lines (a timeout carries the console tail).
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
