"""apply on a terminal: the plan first, log lines above a status line that never wraps.

``apply --wait`` runs in a pseudo-terminal 40 and 160 columns wide while jobs end (each ending
logs ``apply.results``), and what it wrote is replayed on a small terminal emulator (carriage
return, erase-line, newline, auto-wrap at the width): the screen must show every log line
whole, at most one progress line (a stale one is what a wrapped status line leaves behind),
and no Python dict repr. Also: the console renderer is key=value, and -q silences it.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs

_ESCAPE = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")


def _screen(output: str, width: int) -> list[str]:
    """The lines a terminal ``width`` columns wide shows after ``output``, a line the terminal
    wrapped joined again (so each is what was written as one line): printable characters,
    CR, LF, ESC[K (erase to the end of the physical line); colours are dropped; a character
    past the last column wraps to a new physical line."""
    rows = [""]
    wrapped = [False]  # whether each physical row continues the one before it
    col = 0
    i = 0
    while i < len(output):
        char = output[i]
        if char == "\x1b":
            match = _ESCAPE.match(output, i)
            assert match, f"unknown escape at {output[i : i + 10]!r}"
            if match[2] == "K":
                rows[-1] = rows[-1][:col]
            i = match.end()
            continue
        if char == "\r":
            col = 0
        elif char == "\n":
            rows.append("")
            wrapped.append(False)
            col = 0
        else:
            if col >= width:
                rows.append("")
                wrapped.append(True)
                col = 0
            row = rows[-1].ljust(col)
            rows[-1] = row[:col] + char + row[col + 1 :]
            col += 1
        i += 1
    lines: list[str] = []
    for row, continues in zip(rows, wrapped, strict=True):
        if continues:
            lines[-1] += row
        else:
            lines.append(row)
    return lines


def _run_in_pty(argv: list[str], env: dict[str, str], width: int) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal ``width`` columns wide."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, width, 0, 0))
    clean = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=clean
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the follower side closed: the process is gone
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


def _apply_wait_in_pty(
    sandbox: Sandbox, tmp_path: Path, specs_count: int, width: int, *extra: str
) -> str:
    """``apply --wait`` of ``specs_count`` specs (jobs of 0.4 s) on a pty ``width`` columns
    wide; it must exit 0. Returns what it wrote."""
    world = build_world(sandbox)
    sandbox.configure(job_duration=0.4)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, specs_count)
    argv = [sys.executable, "-m", "reconciler", "apply", str(specs), "--state", str(state)]
    argv += ["--tps", "0", "--wait", "--poll-interval", "0.05", *extra]
    code, output = _run_in_pty(argv, {**os.environ, **sandbox.env()}, width)
    assert code == 0, output
    return output


@pytest.mark.parametrize("width", [40, 160])
def test_the_progress_line_stays_below_the_log_and_never_wraps(
    voiceid_sandbox: Sandbox, tmp_path: Path, width: int
) -> None:
    output = _apply_wait_in_pty(voiceid_sandbox, tmp_path, 4, width, "--timeout", "60")
    screen = _screen(output, width)
    assert "[wait]" in output, "no progress line was drawn: the test proves nothing"
    results = [line for line in screen if " apply.results " in line]
    assert len(results) == 4, screen  # every job's end logged while the progress line ran
    for line in results:
        assert re.match(r"^\d\d:\d\d:\d\d info +apply\.results ", line), line
        assert "[wait]" not in line  # never mixed with the status line
    assert sum(1 for line in screen if "[wait]" in line) == 1, screen  # no stale one
    drawn = re.findall(r"\[wait\][^\r\n\x1b]*", output)
    assert drawn, output
    assert all(len(status) < width for status in drawn), drawn  # so it never wraps
    assert "{" not in "\n".join(results)  # key=value, no dict repr
    plan_at = next(i for i, line in enumerate(screen) if line.startswith("Plan: 2 to start"))
    started_at = next(i for i, line in enumerate(screen) if line.startswith("Started "))
    assert plan_at < started_at  # the plan first, then what happened
    assert "Apply complete: 4 started, 0 queued, 0 blocked." in screen


def test_quiet_keeps_the_output_and_drops_the_log_and_the_progress(
    voiceid_sandbox: Sandbox, tmp_path: Path
) -> None:
    output = _apply_wait_in_pty(voiceid_sandbox, tmp_path, 2, 120, "-q")
    assert "[wait]" not in output
    assert " info " not in output
    assert "Apply complete: 2 started" in output
