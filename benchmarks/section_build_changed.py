"""Section 3: a wheel build after the setup changed, split into phases, against a bare VM."""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path

from bare_vm import boot_run_stop, sandbox_arguments
from measure import summarize
from projects import build_wheel, module_dir
from report import target
from workspace import Workspace, replace_setup

logger = logging.getLogger(__name__)

PROJECT = "change-box"
TARGET_RATIO = 1.5
# Commands any Alpine guest runs without network access; the last one changes
# with every build, so that each build has a changed setup.
COMMANDS = [
    f"echo {PROJECT} > /etc/overlay-release",
    "adduser -D -s /bin/sh bench",
    "printf 'export BENCH_IMAGE=change-box\\n' > /etc/profile.d/bench.sh",
]
PHASES = ("boot", "network", "setup", "save", "compress")


def commands_for(build_number: int) -> list[str]:
    return [*COMMANDS, f"echo build-{build_number} > /etc/bench-change"]


def setup_body(commands: list[str]) -> str:
    return "".join(f"await shell({command!r}, timeout=120)\n" for command in commands)


def recorded_timings(project: Path) -> dict[str, float]:
    """Return the phase timings the build stored in images/overlay-build.json."""
    record = json.loads(
        (module_dir(project) / "images" / "overlay-build.json").read_text()
    )
    return record.get("timings", {})


def measure_build(workspace: Workspace, project: Path, build_number: int) -> dict:
    """Change the setup, build, then build again unchanged to time packaging alone."""
    replace_setup(project, setup_body(commands_for(build_number)))
    changed = build_wheel(workspace, project)
    unchanged = build_wheel(workspace, project)
    phases = recorded_timings(project)
    sample = {phase: phases.get(phase, 0.0) for phase in PHASES}
    sample["total"] = changed.result.seconds
    sample["packaging (an unchanged build)"] = unchanged.result.seconds
    sample["stop and the rest"] = (
        sample["total"] - sum(sample[p] for p in PHASES) - unchanged.result.seconds
    )
    sample["VMs booted"] = changed.result.vm_boots
    sample["VMs booted by the unchanged build"] = unchanged.result.vm_boots
    return sample


def run(workspace: Workspace, repetitions: int) -> dict:
    parent = workspace.fresh_dir("build-changed")
    project = workspace.scaffold(parent, PROJECT)
    replace_setup(project, setup_body(commands_for(0)))
    first = build_wheel(workspace, project)  # warm-up: fills uv's cache
    first_timings = recorded_timings(project)
    image, arguments, accelerator = sandbox_arguments(project)
    builds: list[dict] = []
    bare: list[dict] = []
    for number in range(1, repetitions + 1):
        builds.append(measure_build(workspace, project, number))
        bare.append(boot_run_stop(image, arguments, commands_for(number)))
        logger.info("build %d: %s; bare VM: %s", number, builds[-1], bare[-1])
    result = summarize_builds(builds, bare)
    result["accelerator"] = accelerator
    result["values"]["first build (s)"] = first.result.seconds
    result["values"]["first build: boot phase (s)"] = first_timings.get("boot", 0.0)
    boots = [first.result.vm_boots, *(b["VMs booted"] for b in builds)]
    result["targets"].insert(
        0,
        target(
            "VMs booted per changed build, first build included (max)",
            max(boots),
            "==",
            1,
            missed_because=(
                f"a build booted {max(boots)} VMs: a boot that produced no guest agent "
                "within the boot timeout was stopped and retried, so that build waited "
                "on the timeout (see the boot phases above)"
            ),
        ),
    )
    return result


def summarize_builds(builds: list[dict], bare: list[dict]) -> dict:
    stats = {
        f"build: {key} (s)": summarize([b[key] for b in builds])
        for key in builds[0]
        if "VMs" not in key
    }
    stats |= {
        f"bare VM: {key} (s)": summarize([b[key] for b in bare])
        for key in bare[0]
        if key != "boot attempts"
    }
    baseline = statistics.median(b["start"] + b["commands"] + b["stop"] for b in bare)
    total = statistics.median(b["total"] for b in builds)
    ratio = total / baseline
    excess = phase_excess(builds, bare)
    values = {
        "bare boot + setup commands + stop, median (s)": baseline,
        "build total / bare, median": ratio,
        "bare VM boot attempts (max)": max(b["boot attempts"] for b in bare),
        "VMs booted by the unchanged builds": sum(
            b["VMs booted by the unchanged build"] for b in builds
        ),
    }
    for phase, seconds in excess.items():
        values[f"excess over the bare VM: {phase} (s)"] = seconds
    allowed = phase_allowance(bare)
    for phase, seconds in allowed.items():
        values[f"allowed excess: {phase} (s)"] = seconds
    over = [phase for phase in excess if excess[phase] > allowed[phase]]
    return {
        "measurements": stats,
        "values": values,
        "targets": [
            target(
                "phases whose excess over the bare VM exceeds its allowance",
                len(over),
                "==",
                0,
                missed_because=", ".join(
                    f"the {phase} phase took {excess[phase]:.1f} s longer than the same "
                    f"step in the bare VM (allowed {allowed[phase]:.1f} s)"
                    for phase in over
                ),
            ),
            target(
                "changed build / (bare boot + setup commands + stop), median",
                ratio,
                "<=",
                TARGET_RATIO,
                missed_because=ratio_explanation(stats),
            ),
        ],
        "notes": NOTES,
    }


# A phase that waits on a timeout and then goes on stalls for at least that
# timeout. The smallest such wait known here is 5 s, the margin the host adds
# to a guest command's own timeout in quicksand-core 0.14.
WAIT_LIMIT = 5.0

# Each build phase and the step of the bare VM that does the same work. Save
# and compression have no counterpart there.
COUNTERPARTS = {
    "boot": "start",
    "network": "network",
    "setup": "commands",
    "save": None,
    "compress": None,
    "stop and the rest": "stop",
}


def phase_allowance(bare: list[dict]) -> dict[str, float]:
    """Return, per phase, the excess that counts as noise rather than a timeout wait.

    That is WAIT_LIMIT, or the spread (max - min) of the bare-VM step if that is
    larger: on a busy host boot times vary by tens of seconds from run to run.
    """
    allowed = {}
    for phase, counterpart in COUNTERPARTS.items():
        spread = 0.0
        if counterpart is not None:
            times = [run.get(counterpart, 0.0) for run in bare]
            spread = max(times) - min(times)
        allowed[phase] = max(WAIT_LIMIT, spread)
    return allowed


def phase_excess(builds: list[dict], bare: list[dict]) -> dict[str, float]:
    """Return, per phase, the median seconds it took beyond its bare-VM counterpart."""
    excess = {}
    for phase, counterpart in COUNTERPARTS.items():
        seconds = statistics.median(build[phase] for build in builds)
        if counterpart is not None:
            seconds -= statistics.median(run.get(counterpart, 0.0) for run in bare)
        excess[phase] = seconds
    return excess


def ratio_explanation(stats: dict) -> str:
    parts = {
        key.removeprefix("build: ").removesuffix(" (s)"): value["median"]
        for key, value in stats.items()
        if key.startswith("build: ") and "total" not in key
    }
    listed = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in parts.items())
    return (
        f"the bare VM has no save, compression or packaging; the build spent {listed}"
    )


NOTES = [
    (
        "Each repetition changes the last setup command, builds the wheel with "
        "`uv build --wheel` (timed as a whole), builds it again unchanged (packaging "
        "alone), and boots the base image bare with the same Sandbox arguments as the "
        "build, waits for its default route, runs the same setup commands and stops it."
    ),
    (
        "Phase times come from the timings the build hook stores in "
        "images/overlay-build.json: boot (until the guest agent answers), network (the "
        "wait for a default route), setup, save (sync, fstrim and the disk snapshot), "
        "compress (qemu-img convert -c). 'Stop and the rest' is the total minus those "
        "phases and minus the unchanged build: stopping the VM and hashing the inputs."
    ),
    (
        "The excess of a phase is its median time minus the median time of the same "
        "step in the bare VM (save and compression have none). A phase that waited on a "
        "timeout and went on would exceed it by at least 5 s, so an excess is allowed "
        "up to 5 s or up to the spread of the bare step's times, whichever is larger. "
        "The ratio's baseline leaves out the network wait: boot, setup commands and "
        "stop only."
    ),
]
