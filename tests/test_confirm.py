"""An interactive apply asks for ``yes`` before it starts anything, as Terraform does; a run with
no terminal on stdin (CI, a CronJob) or with ``--auto-approve`` does not ask.

The CLI runs in a subprocess with stdin, stdout and stderr on a pseudo-terminal; the test
answers at the prompt as a person would.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from reconciler.cli import EXIT_OK, main
from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs

PROMPT = b"Enter a value:"


def _starts(sandbox: Sandbox) -> int:
    calls = sandbox.calls()
    return sum(n for op, n in calls.items() if op.startswith("Start"))


def _answer_in_pty(argv: list[str], env: dict[str, str], answer: bytes | None) -> tuple[int, str]:
    """Run ``argv`` on a pseudo-terminal; type ``answer`` at the prompt (None: expect none)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    seen = b""
    answered = False
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:
                    break
                if not data:
                    break
                seen += data
                if PROMPT in seen and not answered:
                    assert answer is not None, seen.decode("utf-8", "replace")
                    os.write(leader, answer)
                    answered = True
            elif process.poll() is not None:
                break
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return code, seen.decode("utf-8", "replace")


def test_an_interactive_apply_asks_and_only_yes_starts(
    voiceid_sandbox: Sandbox, tmp_path: Path
) -> None:
    world = build_world(voiceid_sandbox)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    env = {**os.environ, **voiceid_sandbox.env(), "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "reconciler", "apply", str(specs), "--state", str(state)]
    argv += ["--tps", "0"]

    code, shown = _answer_in_pty(argv, env, b"no\n")
    assert code == 1, shown
    assert "+ start" in shown.split("Enter a value:")[0]  # the plan, before the question
    assert "Apply cancelled: nothing was started." in shown
    assert _starts(voiceid_sandbox) == 0

    code, shown = _answer_in_pty(argv, env, b"yes\n")
    assert code == EXIT_OK, shown
    assert "Apply complete: 2 started" in shown
    assert _starts(voiceid_sandbox) == 2
    assert shown.count("+ start") == 2  # the plan is shown once, not again after 'yes'

    code, shown = _answer_in_pty(argv, env, None)  # nothing to start: nothing to ask
    assert code == EXIT_OK, shown
    assert _starts(voiceid_sandbox) == 2


def test_auto_approve_and_a_run_without_a_terminal_do_not_ask(
    voiceid_env: Sandbox, tmp_path: Path
) -> None:
    world = build_world(voiceid_env)
    # room for every job at once, in Voice ID and in the runs (--max-active): the second run's
    # starts never wait for the first run's jobs to end (under load they may still run; the
    # quota is not what this test is about)
    voiceid_env.configure(max_active_jobs=4)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    env = {**os.environ, "NO_COLOR": "1"}
    room = ["--tps", "0", "--max-active", "4"]
    argv = [sys.executable, "-m", "reconciler", "apply", str(specs), "--state", str(state)]
    code, shown = _answer_in_pty([*argv, *room, "--auto-approve"], env, None)
    assert code == EXIT_OK, shown
    assert _starts(voiceid_env) == 2
    write_specs(world, tmp_path / "more", 4)
    for extra in ("spec-0002.yaml", "spec-0003.yaml"):
        (tmp_path / "more" / extra).rename(specs / extra)
    # pytest's stdin is not a terminal: the in-process run does not ask
    assert main(["apply", str(specs), "--state", str(state), *room]) == EXIT_OK
    assert _starts(voiceid_env) == 4
