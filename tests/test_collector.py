"""The process's garbage collector: off while a command builds its run, on once it waits."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import collector, main
from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The collector as the command's process has it (off), and as it was after the test."""
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    collector.tune()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        (gc.enable if enabled else gc.disable)()


def _in_entrypoint(*argv: str) -> str:
    """What ``gc.isenabled()`` is when the command's own ``main`` runs, in a process started
    as the ``voiceid-reconciler`` command is."""
    code = (
        "import gc, sys, reconciler.cli as cli\n"
        "cli.main = lambda: print(gc.isenabled(), gc.get_freeze_count() > 0) or 0\n"
        f"sys.argv = ['voiceid-reconciler', *{list(argv)!r}]\n"
        "cli.entrypoint()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_command_runs_with_the_collector_off_and_version_leaves_it_alone() -> None:
    """The voiceid-reconciler process turns automatic collection off before the command; the
    --version answer (nothing to build) leaves the interpreter as it is."""
    assert _in_entrypoint("validate") == "False False"
    assert _in_entrypoint("--version") == "True False"


def test_resume_freezes_what_was_built_and_turns_collection_on(collector_off: None) -> None:
    """The first wait freezes what the run built (never scanned again) and turns automatic
    collection on, with the linear thresholds; a second wait changes nothing."""
    assert not gc.isenabled()
    built = [[i] for i in range(1000)]
    collector.resume()
    assert gc.isenabled()
    assert gc.get_threshold() == collector.THRESHOLDS
    frozen = gc.get_freeze_count()
    assert frozen >= len(built)
    more = [[i] for i in range(1000)]
    collector.resume()
    assert gc.get_freeze_count() < frozen + len(more)  # not frozen again


def test_the_waiting_clock_resumes_collection_before_it_sleeps(collector_off: None) -> None:
    """apply --wait's poll sleeps through the clock: collection is on from the first poll."""
    collector.WaitingClock().sleep(0)
    assert gc.isenabled()


@pytest.mark.parametrize("command", ["apply", "status"])
def test_a_long_command_waits_with_collection_on(
    voiceid_env: Sandbox, tmp_path: Path, collector_off: None, command: str
) -> None:
    """apply --wait and status --watch, once they wait for jobs in flight, collect garbage
    again (a run may poll for hours); a run that does not wait leaves it off."""
    world = build_world(voiceid_env)
    voiceid_env.configure(job_duration=0.3, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    argv = ["--state", str(state), "--tps", "0", "--log-format", "json"]
    assert main(["apply", str(specs), *argv]) == 0
    assert not gc.isenabled()
    if command == "apply":
        waiting = ["apply", str(specs), *argv, "--wait", "--poll-interval", "0.05"]
    else:
        waiting = ["status", str(specs), *argv, "--watch", "--interval", "0.05"]
    assert main([*waiting, "--timeout", "60"] if command == "apply" else waiting) == 0
    assert gc.isenabled()
