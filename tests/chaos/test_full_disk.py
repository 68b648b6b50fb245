"""Scenario 7: the disk under a local state fills up mid-run.

A file size limit on the ``apply --wait`` process (RLIMIT_FSIZE: every write past it fails, as
on a full disk) stops the state write at a random size: before the first Start, between a Start
and the write that records it, or later. The run must stop with one line naming the state (exit
1, no traceback); the state file must be a complete version (never torn) with no temporary file
left beside it; and a re-run with room again must converge without a second job.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Chaos, assert_clean_exit, seeded

pytestmark = pytest.mark.chaos


@seeded("full-disk")
def test_full_disk_under_the_local_state_stops_with_one_line(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    c = chaos_factory(seed)
    c.build(specs=c.rng.randint(4, 8), backend="local")
    limit = c.rng.randint(1_000, 7_000)  # a state is about 2 KB before the first Start, 5-7 after
    run = c.cli(*c.apply(timeout=60), file_size_limit=limit)
    state = Path(c.state)
    written = state.stat().st_size if state.exists() else 0
    c.record("full-disk", limit=limit, exit=run.returncode, starts=c.starts(), state_bytes=written)
    assert_clean_exit(run, f"{c.tag} file size limit {limit}", allowed=(0, 1))
    if run.returncode == 1:
        assert any(
            "cannot write the state" in line and str(state) in line for line in run.problem_lines
        ), run.describe()
    assert written <= limit, f"{c.tag}: the state grew past the limit: {written} > {limit}"
    leftovers = [p.name for p in state.parent.glob(".*.tmp")] if state.parent.exists() else []
    assert not leftovers, f"{c.tag}: temporary files left beside the state: {leftovers}"
    c.check(final=False)  # (a) no second job; (c) the state, if any, is a complete version
    c.converge()
