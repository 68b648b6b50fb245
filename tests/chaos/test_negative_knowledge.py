"""Issue 30's five paths to a second job, through the sandbox and the real CLI.

Each path needs only what the product assumes can happen — Voice ID forgets the ClientToken of a
job some time after it was made (``client_token_ttl``; the product's ``--token-lifetime`` says
how long it counts on) — and a state that is *consistent*, so that it is trusted. Nothing but
the product's rule stands between the path and a second job: a Start needs a complete listing
of its (domain, kind) recent enough to be true, and a state that cannot prove where it came
from (no mark, a digest that is not what was written) knows nothing about what is missing.

Where a path is covered by the listing's age, the trial waits out the token lifetime (the
assumption holds); where it is covered by the state's provenance, the tokens are forgotten at
once (the assumption broken on purpose: only the provenance rule can then stop the Start).
Every trial asserts that its lie was in place (the job the state forgot exists and ended, its
token is forgotten) before the run that must not start it again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from .conftest import FAST, Chaos, Run, backend_of, seeded

pytestmark = pytest.mark.chaos

TOKEN = 2.0
"""Seconds Voice ID remembers a ClientToken here, and the product's --token-lifetime."""
HORIZON = 0.6
"""The list-lag horizon of every run (it covers LAG)."""
LAG = 0.3
"""List lag of the runs that must not start a second job."""
LIFETIME = ("--token-lifetime", f"{TOKEN:g}")
BELIEVED = ("--token-lifetime", "3600")
"""The default token lifetime: a listing of the last hour is believed, so a state's young
listing would be, were the state trusted (the provenance paths)."""
LOCK = ("--lock-ttl", "2", "--lock-timeout", "30")
"""A killed run's S3 lock expires after 2 s, so the next run is not kept waiting for long."""


def _world(c: Chaos, seed: int, *, backend: str | None = None, specs: int = 3) -> None:
    """One domain (every slot shared), jobs of 0.2 s, tokens remembered TOKEN seconds."""
    c.build(domains=1, specs=specs, backend=backend or backend_of(seed), job_duration=0.2)
    c.horizon = HORIZON
    c.sandbox.configure(client_token_ttl=TOKEN)


def _apply(
    c: Chaos,
    *extra: str,
    specs: str | None = None,
    state: str | None = None,
    lifetime: tuple[str, ...] = LIFETIME,
) -> Run:
    args = ["apply", specs or str(c.specs_dir), "--state", state or c.state, *FAST]
    run = c.cli(*args, *lifetime, "--wait", "--timeout", "60", *extra)
    assert run.returncode == 0, f"{c.tag}: {run.describe()}"
    return run


def _past_the_token_lifetime() -> None:
    """Every token forgotten, every listing older than the token lifetime less the horizon."""
    time.sleep(TOKEN + 0.3)


def _must_not_start_again(c: Chaos, lifetime: tuple[str, ...] = LIFETIME) -> Run:
    """The run under test: List lagging, nothing it could start twice started twice."""
    c.sandbox.configure(list_lag=LAG, client_token_ttl=TOKEN)
    run = c.cli(*c.apply(*lifetime, timeout=60))
    assert "Traceback" not in run.stderr, run.describe()
    c.check(final=False)  # (a): at most one job per hash, right after
    return run


def _ended_jobs(c: Chaos) -> int:
    c.calm()
    jobs = c.jobs()
    assert all(j["JobStatus"] in ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED") for j in jobs)
    return len(jobs)


@seeded("nk-moved-spec", ci=2)
def test_a_spec_moved_to_a_state_that_listed_its_slot_before_its_job_existed(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Path 1: state B lists the slot (it starts a spec there); the spec X is started under
    state A after that; X's job ends and its token is forgotten; X moves to B. B's listing is
    older than the token lifetime allows, so B lists again and finds X's job."""
    c = chaos_factory(seed)
    _world(c, seed)
    moved = next(s for s in c.specs[1:] if s.kind == c.specs[0].kind)  # B holds its slot
    other = c.specs_dir.parent / "a-specs"
    other.mkdir()
    (c.specs_dir / f"{moved.name}.yaml").rename(other / f"{moved.name}.yaml")
    state_a = c.state.replace("state.json", "a-state.json")
    _apply(c)  # B: lists the slot, starts its own specs
    _apply(c, specs=str(other), state=state_a)  # A: X's job, made after B's listing
    jobs = _ended_jobs(c)
    _past_the_token_lifetime()
    (other / f"{moved.name}.yaml").rename(c.specs_dir / f"{moved.name}.yaml")
    _must_not_start_again(c)
    assert len(c.jobs()) == jobs, f"{c.tag}: the moved spec was started again"
    c.record("negative-knowledge", path="moved", backend=backend_of(seed))


@seeded("nk-fresh-clone", ci=2)
def test_a_committed_state_rolled_back_in_a_fresh_clone_without_its_mark(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Path 2: an older committed state is checked out in a fresh clone (the mark is not in
    git). Its listing is young and it lacks a job started since, whose token is forgotten at
    once: only the missing mark stops the start (a state with a serial and no mark is not
    trusted to say what is missing)."""
    c = chaos_factory(seed)
    _world(c, seed)
    _apply(c, "--max-starts", "1", lifetime=BELIEVED)
    committed = (c.state_text() or "").encode()
    _apply(c, lifetime=BELIEVED)
    jobs = _ended_jobs(c)
    assert c.sandbox.expire_tokens() >= jobs, f"{c.tag}: the tokens were not forgotten"
    c.put_state(committed)
    assert c.delete_stored(".mark"), f"{c.tag}: no mark to leave behind"
    c.delete_stored(".journal")
    run = _must_not_start_again(c, BELIEVED)
    assert "no high-water mark" in run.stderr, run.describe()
    assert len(c.jobs()) == jobs, f"{c.tag}: a job of the rolled-back state was started again"
    c.record("negative-knowledge", path="fresh clone", backend=backend_of(seed))
    c.converge()


@seeded("nk-prefix-restored", ci=2)
def test_a_whole_prefix_restored_to_an_earlier_point(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Path 3: the state, its mark, backup and cache restored together to an earlier point
    (S3 versioning, AWS Backup; a directory restore locally). Mark and state agree — nothing
    local can tell — so the listing's age does: the restored listing is as old as the restore
    point, older than the token lifetime by the time a forgotten token could matter."""
    c = chaos_factory(seed)
    _world(c, seed)
    _apply(c, "--max-starts", "1")
    suffixes = ("", ".mark", ".backup", ".cache", ".journal")
    snapshot = {suffix: c.stored(suffix) for suffix in suffixes}
    assert snapshot[""], f"{c.tag}: no state to restore"
    assert snapshot[".mark"], f"{c.tag}: no mark to restore"
    _apply(c)
    jobs = _ended_jobs(c)
    _past_the_token_lifetime()
    for suffix, body in snapshot.items():
        if body is None:
            c.delete_stored(suffix)
        else:
            c.put_state(body, suffix)
    run = _must_not_start_again(c)
    assert "state.untrusted" not in run.stderr, f"{c.tag}: the restore was detected after all"
    assert len(c.jobs()) == jobs, f"{c.tag}: a job after the restore point was started again"
    c.record("negative-knowledge", path="prefix restored", backend=backend_of(seed))
    c.converge()


@seeded("nk-hand-edit", ci=2)
def test_a_hand_edit_that_forgets_a_job_and_leaves_serial_and_mark_alone(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Path 4: a spec's ``jobs`` set to ``[]`` by hand, serial and mark left alone, right after
    a run listed the slot (the listing is young) and with the job's token forgotten: only the
    mark's digest (what was written) stops the start."""
    c = chaos_factory(seed)
    _world(c, seed)
    _apply(c, lifetime=BELIEVED)
    jobs = _ended_jobs(c)
    assert c.sandbox.expire_tokens() >= jobs, f"{c.tag}: the tokens were not forgotten"
    data = json.loads(c.state_text() or "{}")
    key = sorted(data["specs"])[0]
    assert data["specs"][key]["jobs"], f"{c.tag}: {key} has no job to forget"
    data["specs"][key]["jobs"] = []
    data["specs"][key]["history"] = []
    c.put_state((json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    run = _must_not_start_again(c, BELIEVED)
    assert "edited since it was written" in run.stderr, run.describe()
    assert len(c.jobs()) == jobs, f"{c.tag}: the job the edit forgot was started again"
    c.record("negative-knowledge", path="hand edit", backend=backend_of(seed))
    c.converge()


@seeded("nk-resumed-start", ci=2)
def test_a_resumed_start_killed_in_flight_then_refused_for_the_quota_is_never_made_twice(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Path 5, step by step: (A) killed after its intent, before the Start left (its manifest
    is staged on a slow S3 in between); (B) resumes that Start and is killed with it in flight
    (the job is made; its token is soon forgotten); (C) comes before List shows the job. C's
    hold runs from B's resumed Start, not A's intent; were it to resume the Start again, the
    ServiceQuotaExceeded the job itself causes keeps the intent. The last run finds the job."""
    c = chaos_factory(seed)
    lag = 6.0  # longer than C takes (a killed run's S3 lock expires in 2 s), and than the job
    c.build(domains=1, specs=1, backend=backend_of(seed), rosters=1.0, job_duration=4.0)
    # h covers what it must: the lag, after a Start in flight 0.5 s, on a clock of whole
    # seconds (a run reads Voice ID's time from the Date of its answers)
    c.horizon = lag + 2.0
    c.sandbox.configure(client_token_ttl=0.2, list_lag=lag, s3_latency=0.4)
    a = c.spawn(*c.apply(*LOCK, timeout=60))
    intent = c.wait_until(a, lambda: c.stored(".journal") is not None, deadline=60)
    killed_a = c.kill(a)
    assert intent, f"{c.tag}: A wrote no intent"
    assert killed_a.returncode == -9, f"{c.tag}: A ended first {killed_a.describe()}"
    assert c.starts() == 0, f"{c.tag}: A's Start left before the kill"
    c.sandbox.configure(s3_latency=0.0, latency=0.5)  # B's Start answers slowly
    b = c.spawn(*c.apply(*LOCK, timeout=60))
    in_flight = c.wait_until(b, lambda: c.starts() >= 1, deadline=60)
    killed_b = c.kill(b)
    assert in_flight, f"{c.tag}: B made no Start: {killed_b.describe()}"
    assert killed_b.returncode == -9, f"{c.tag}: B ended first: {killed_b.describe()}"
    made = time.monotonic()
    c.sandbox.configure(latency=0.0, list_lag=0.0)
    assert c.wait_for_jobs(1, timeout=5), f"{c.tag}: the Start B never heard of made no job"
    c.sandbox.configure(list_lag=lag)  # the job is hidden from List again, for C
    time.sleep(0.3)  # its token is forgotten (client_token_ttl 0.2)
    run_c = c.cli(*c.apply(*LOCK, wait=False))
    assert time.monotonic() - made < lag, f"{c.tag}: List showed the job before C was done"
    assert run_c.returncode == 0, run_c.describe()
    assert "Traceback" not in run_c.stderr, run_c.describe()
    c.check(final=False)  # (a)
    c.sandbox.configure(list_lag=lag)
    after = c.cli(*c.apply(*LOCK, timeout=60))
    assert after.returncode == 0, after.describe()
    c.check(final=False)
    c.record("negative-knowledge", path="resumed start", backend=backend_of(seed))
    c.converge()
