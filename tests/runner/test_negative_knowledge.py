"""Never a second job, even when the state lies consistently (issue 30): "no job of this hash"
comes from a complete listing recent enough to be true, never from the state alone.

Each path starts from what the product assumes can happen — Voice ID forgets a ClientToken some
time after its job was made (``FakeVoiceId.token_lifetime``) — and a state that is consistent,
so nothing but the listing rule can catch it. The apply loop is the real one; the state lives
in the real local store (its mark, its digest) where the path needs them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from reconciler.adapters.localstore import LocalStateStore
from reconciler.core.hold import DEFAULT_TOKEN_LIFETIME
from reconciler.core.loading import load
from reconciler.core.plan import ActionKind
from reconciler.core.state import JobRecord
from reconciler.core.times import iso
from reconciler.runner.apply import apply
from reconciler.runner.context import ApplyReport, Run, RunOptions
from tests.runner.conftest import HORIZON, World, write_specs
from tests.runner.fakes import MemoryStore

TOKEN = DEFAULT_TOKEN_LIFETIME
"""Voice ID forgets a token this long after its job was made (the product's assumption)."""


def _apply(world: World, store: Any, **options: Any) -> ApplyReport:
    opts = RunOptions(**{"list_lag_horizon": HORIZON, **options})
    return apply(world.specs, Run(store, world.voiceid, world.objects, opts, world.clock))


def _one_job_each(world: World) -> None:
    counts = world.voiceid.jobs_per_name()
    assert all(n == 1 for n in counts.values()), counts


def _long_after(world: World) -> None:
    """More than a token's lifetime later: every job ended, every token forgotten."""
    world.clock.advance(TOKEN + 1)


def test_a_spec_moved_to_a_state_that_listed_the_domain_before_its_job_existed(
    world: World, tmp_path: Path
) -> None:
    """State B listed the domain before state A started spec-2's job; spec-2 then moves to B.
    B's listing is older than the token's lifetime: listed again, the job found, in sync."""
    world.voiceid.token_lifetime = TOKEN
    world.voiceid.max_active = 3
    a_store, b_store = MemoryStore(), MemoryStore()
    everything = world.specs
    world.specs = [s for s in everything if s.name != "spec-2"]
    _apply(world, b_store, max_active=3, list_lag_horizon=0.0)  # B: spec-0, spec-1
    world.clock.advance(61)
    world.specs = [s for s in everything if s.name == "spec-2"]
    _apply(world, a_store, max_active=3, list_lag_horizon=0.0)  # A: spec-2
    _long_after(world)
    world.specs = everything  # the repository migration: spec-2 is B's now
    report = _apply(world, b_store, max_active=3)
    assert not report.started
    assert {a.name: a.kind for a in report.plan.actions}["spec-2"] is ActionKind.IN_SYNC
    _one_job_each(world)


def test_a_spec_moved_within_the_token_lifetime_is_found_by_its_token(
    world: World,
) -> None:
    """The same move sooner: B's listing is fresh enough (no listing again), and the Start
    with the spec's ClientToken returns the job A made — still one job."""
    world.voiceid.max_active = 3
    a_store, b_store = MemoryStore(), MemoryStore()
    everything = world.specs
    world.specs = [s for s in everything if s.name != "spec-2"]
    _apply(world, b_store, max_active=3, list_lag_horizon=0.0)
    world.clock.advance(61)
    world.specs = [s for s in everything if s.name == "spec-2"]
    _apply(world, a_store, max_active=3, list_lag_horizon=0.0)
    world.clock.advance(61)
    world.specs = everything
    world.voiceid.calls.clear()
    _apply(world, b_store, max_active=3)
    assert world.voiceid.calls["List/SpeakerEnrollmentJob/all"] == 0  # the listing was fresh
    _one_job_each(world)


def _local(tmp_path: Path, name: str = "state.json") -> LocalStateStore:
    return LocalStateStore(tmp_path / name)


def test_a_whole_prefix_restored_to_an_earlier_point_starts_nothing_twice(
    world: World, tmp_path: Path
) -> None:
    """State, mark and backup restored together (a versioned bucket's point-in-time restore):
    they agree, so nothing local can tell. The listing it holds is older than the token's
    lifetime by the time it is used: listed again, the jobs started since are found."""
    world.voiceid.token_lifetime = TOKEN
    state = tmp_path / "state.json"
    _apply(world, _local(tmp_path), list_lag_horizon=0.0)  # spec-0 starts
    saved = tmp_path / "saved"
    saved.mkdir()
    for path in tmp_path.glob("state.json*"):
        shutil.copy2(path, saved / path.name)
    for _ in range(2):  # spec-1, then spec-2, one after another
        world.clock.advance(61)
        _apply(world, _local(tmp_path), list_lag_horizon=0.0)
    assert world.voiceid.starts() == 3
    _long_after(world)
    for path in tmp_path.glob("state.json*"):
        path.unlink()
    for path in saved.iterdir():
        shutil.copy2(path, tmp_path / path.name)
    report = _apply(world, LocalStateStore(state))
    assert not report.started
    assert all(a.kind is ActionKind.IN_SYNC for a in report.plan.actions)
    _one_job_each(world)


def test_a_hand_edit_that_forgets_a_job_is_caught_by_the_marks_digest(
    world: World, tmp_path: Path
) -> None:
    """`jobs: []` typed into one spec's entry, serial and mark left alone, while the listing
    is fresh and Voice ID has (against the assumption) forgotten the token: the content is not
    what was written, so the state is distrusted and the domain listed again."""
    world.voiceid.token_lifetime = 0.0  # worse than assumed: no token is honoured
    state = tmp_path / "state.json"
    _apply(world, _local(tmp_path), list_lag_horizon=0.0)  # spec-0 starts
    world.clock.advance(61)
    data = LocalStateStore(state).read()
    entry = data.specs["SpeakerEnrollmentJob/spec-0"]
    entry.jobs = []
    state.write_text(data.to_json())  # the same serial, the mark untouched
    assert "edited since it was written" in (LocalStateStore(state).read().untrusted or "")
    world.voiceid.calls.clear()
    report = _apply(world, LocalStateStore(state), list_lag_horizon=0.0)
    assert world.voiceid.calls["List/SpeakerEnrollmentJob/all"] == 1  # listed in full again
    assert {a.name: a.kind for a in report.plan.actions}["spec-0"] is ActionKind.IN_SYNC
    _one_job_each(world)


def test_a_committed_state_without_its_mark_is_not_trusted_to_say_what_is_missing(
    world: World, tmp_path: Path
) -> None:
    """A fresh clone: the state committed in git, rolled back to an older version, and no
    mark (the mark stays out of git). A state with written versions behind it and no mark
    cannot prove where it came from: its domain is listed in full (and held) before a start."""
    world.voiceid.token_lifetime = 0.0
    first = tmp_path / "first"
    first.mkdir()
    _apply(world, _local(first), list_lag_horizon=0.0)  # spec-0
    old = (first / "state.json").read_text()
    world.clock.advance(61)
    _apply(world, _local(first), list_lag_horizon=0.0)  # spec-1
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "state.json").write_text(old)  # git checkout of the older version
    world.clock.advance(61)
    store = _local(clone)
    report = _apply(world, store)
    assert "no high-water mark" in (store.read().untrusted or "") or report.plan.actions
    assert not report.started  # held: listed in full, waiting the horizon
    assert all(a.kind is not ActionKind.START for a in report.plan.actions), report.plan.actions
    world.clock.advance(HORIZON + 1)
    _apply(world, _local(clone))
    _one_job_each(world)


def test_a_resumed_start_refused_for_the_quota_keeps_its_intent(world: World) -> None:
    """A Start made its job and the run died before the answer; List lags more than the
    horizon and the token is not honoured. The resumed Start is refused (the quota is held by
    that very job): the intent is kept and held from now, never dropped, so no later run
    starts a second job while the first is invisible."""
    world.voiceid.list_lag = 2 * HORIZON
    world.voiceid.duration = 400.0
    world.voiceid.token_lifetime = 0.0
    world.specs = [s for s in world.specs if s.name == "spec-0"]
    report = world.apply(dry_run=True, list_lag_horizon=0.0)
    action = next(a for a in report.plan.starts if a.name == "spec-0")
    assert action.request
    assert action.client_token
    assert action.job_name
    assert action.hash
    world.voiceid.start_job(
        action.spec_kind,
        action.request.api_params(client_token=action.client_token, job_name=action.job_name),
    )  # the Start the killed run made
    state = world.store.read()
    state.specs[action.key].jobs.append(
        JobRecord(
            hash=action.hash,
            attempt=1,
            client_token=action.client_token,
            job_name=action.job_name,
            domain_id=action.request.domain_id,
            kind=action.spec_kind,
            intent_at=iso(world.clock.time()),
        )
    )
    world.store.write(state)
    for step in (HORIZON + 1, 150.0, 150.0, HORIZON):  # resumed, refused, held, ..., found
        world.clock.advance(step)
        world.apply()
    _one_job_each(world)
    assert len([j for j in world.voiceid.jobs if j.job_name.startswith("spec-0-")]) == 1


def test_token_lifetime_zero_lists_in_full_before_every_start(world: World) -> None:
    """--token-lifetime 0: no listing is trusted across observations — a poll that may start
    lists the slot in full first; a poll with nothing to start lists nothing in full."""
    for _ in range(3):
        world.voiceid.calls.clear()
        world.apply(token_lifetime=0.0, list_lag_horizon=0.0)
        assert world.voiceid.calls["List/SpeakerEnrollmentJob/all"] == 1
        world.clock.advance(61)
    world.voiceid.calls.clear()
    world.apply(token_lifetime=0.0, list_lag_horizon=0.0)  # all three ran: nothing to start
    assert world.voiceid.calls["List/SpeakerEnrollmentJob/all"] == 0


def test_the_steady_state_still_costs_one_call(world: World, tmp_path: Path) -> None:
    """Every job ended, nothing to start, the listing long stale: no listing at all."""
    world.voiceid.max_active = 3
    world.apply(max_active=3, list_lag_horizon=0.0)
    _long_after(world)
    world.apply(max_active=3)
    world.voiceid.calls.clear()
    _long_after(world)
    world.apply(max_active=3)
    listed = {k: n for k, n in world.voiceid.calls.items() if k.startswith("List/")}
    assert not listed, world.voiceid.calls  # nothing can start: nothing to prove, no listing
    assert not world.voiceid.calls["Describe"]
    del tmp_path


def test_more_specs_later_are_listed_for_once_per_bound(world: World, tmp_path: Path) -> None:
    """A queue drained by hourly runs: each run that starts a first attempt after the bound
    lists the slot in full once; runs within the bound do not."""
    specs = write_specs(tmp_path / "queue", 6)
    world.specs = load([tmp_path / "queue"])
    assert len(specs) == 6
    world.voiceid.duration = 30.0
    full = []
    for _ in range(6):
        world.voiceid.calls.clear()
        world.apply()
        full.append(world.voiceid.calls["List/SpeakerEnrollmentJob/all"])
        world.clock.advance(1200)  # every 20 minutes
    # the first, then once the listing is older than the token's lifetime less the horizon
    assert full == [1, 0, 0, 1, 0, 0]
    _one_job_each(world)


def test_a_full_listing_is_taken_without_the_state_lock(world: World) -> None:
    """A full listing (minutes in a large domain) is paged while no lock is held; the poll then
    takes the lock, reads the state afresh and uses it — another run is never kept waiting."""
    held_while_listing: list[bool] = []
    listing = world.voiceid.list_jobs

    def watching(kind: Any, domain_id: str, status: Any = None, **kw: Any) -> Any:
        if status is None:
            held_while_listing.append(world.store.holding)
        return listing(kind, domain_id, status, **kw)

    world.voiceid.list_jobs = watching  # type: ignore[method-assign]
    report = world.apply(list_lag_horizon=0.0)
    _long_after(world)
    world.apply()
    assert held_while_listing == [False, False]  # the cold start's, then the stale one's
    assert [a.name for a in report.started] == ["spec-0"]
    _one_job_each(world)


def test_a_distrusted_state_stays_distrusted_across_a_listing_taken_without_the_lock(
    world: World, tmp_path: Path
) -> None:
    """The poll that stops to list writes nothing: a state behind its mark is read again as
    distrusted, and its first listing still holds the starts for the horizon."""
    world.voiceid.token_lifetime = 0.0
    store = _local(tmp_path)
    _apply(world, store, list_lag_horizon=0.0)  # spec-0
    old = (tmp_path / "state.json").read_text()
    world.clock.advance(61)
    _apply(world, _local(tmp_path), list_lag_horizon=0.0)  # spec-1
    (tmp_path / "state.json").write_text(old)  # rolled back behind its mark
    world.clock.advance(61)
    report = _apply(world, _local(tmp_path))
    assert not report.started
    assert all("waiting" in a.reason for a in report.plan.actions if a.kind is ActionKind.QUEUED)
    _one_job_each(world)
