"""Rules of the list-lag hold that the mutation run (python -m tools.mutate) showed unpinned."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from reconciler.core.hold import (
    DEFAULT_LIST_LAG_HORIZON,
    DEFAULT_TOKEN_LIFETIME,
    Decision,
    Listing,
    ListLag,
    decide,
    foreign_active,
    intent_holds,
    record_full_listing,
    slot_key,
    slots_to_observe,
    unconfirmed_slots,
)
from reconciler.core.jobs import ObservedJob
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import JobRecord, State
from reconciler.core.statepatch import StatePatch
from reconciler.core.times import iso

NOW = 1_800_000_000.0
SLOT = ("D" * 22, JobKind.ENROLLMENT)
OTHER = ("E" * 22, JobKind.REGISTRATION)
LAG = ListLag(NOW, 300.0)


def _record(
    *, job_id: str | None = None, intent_ago: float | None = None, status: JobStatus | None = None
) -> JobRecord:
    return JobRecord(
        hash="a" * 64,
        attempt=1,
        job_name="spec-" + "a" * 32,
        domain_id=SLOT[0],
        kind=SLOT[1],
        job_id=job_id,
        status=status,
        intent_at=None if intent_ago is None else iso(NOW - intent_ago),
    )


def _with(*records: JobRecord) -> State:
    state = State()
    state.orphans.extend(records)
    return state


def test_the_documented_defaults() -> None:
    """Five minutes of list lag and an hour of ClientToken memory (docs, --help)."""
    assert DEFAULT_LIST_LAG_HORIZON == 300.0
    assert DEFAULT_TOKEN_LIFETIME == 3600.0
    lag = ListLag(NOW)
    assert (lag.horizon, lag.token_lifetime) == (300.0, 3600.0)
    assert lag.listing_max_age == 3300.0
    assert ListLag(NOW, 600.0, token_lifetime=300.0).listing_max_age == 0.0


def test_a_confirmed_start_never_holds_its_slot_however_young() -> None:
    """Only an intent without a JobId holds: a job Voice ID confirmed 10 s ago is known."""
    assert intent_holds(_with(_record(job_id="j" * 22, intent_ago=10)), LAG) == {}
    assert intent_holds(_with(_record()), LAG) == {}  # no intent time: nothing to wait for
    held = intent_holds(_with(_record(intent_ago=10)), LAG)
    assert held.keys() == {SLOT}
    assert "10s ago" in held[SLOT]
    assert "up to 300s" in held[SLOT]
    assert "(290s left)" in held[SLOT]


def test_a_provisional_listing_holds_until_exactly_the_horizon() -> None:
    """299 s: still on hold; 300 s: listed in full once more."""
    state = State()
    state.listings[slot_key(SLOT)] = state.provisional[slot_key(SLOT)] = iso(NOW - 299)
    young = decide(state, SLOT, LAG, may_start=True, unconfirmed=False)
    assert young.listing is Listing.NONE
    assert young.hold is not None
    assert "waiting 300s" in young.hold
    assert "(1s left" in young.hold
    state.provisional[slot_key(SLOT)] = iso(NOW - 300)
    assert decide(state, SLOT, LAG, may_start=True, unconfirmed=False).hold is None


def test_a_provisional_slot_that_starts_nothing_only_lists_jobs_in_flight() -> None:
    """Provisional but listed recently, nothing to start: no full listing, no hold."""
    state = State()
    state.listings[slot_key(SLOT)] = state.provisional[slot_key(SLOT)] = iso(NOW - 1000)
    decision = decide(state, SLOT, LAG, may_start=False, unconfirmed=False)
    assert decision.listing is Listing.NONE
    assert decision.hold is None


def test_a_listing_exactly_the_max_age_old_still_proves_absence() -> None:
    """The limit is inclusive: at listing_max_age the listing is still good enough."""
    state = State()
    state.listings[slot_key(SLOT)] = iso(NOW - LAG.listing_max_age)
    assert decide(state, SLOT, LAG, may_start=True, unconfirmed=False).listing is Listing.ACTIVE
    state.listings[slot_key(SLOT)] = iso(NOW - LAG.listing_max_age - 1)
    assert decide(state, SLOT, LAG, may_start=True, unconfirmed=False).listing is Listing.FULL


def test_only_the_first_listing_of_a_slot_that_would_start_can_hold() -> None:
    """Each condition of the first-listing hold is needed: a second listing, a slot that
    starts nothing, or a zero horizon holds nothing, even with jobs of ours it did not know."""
    again = State()
    again.listings[slot_key(SLOT)] = iso(NOW - 5000)
    assert record_full_listing(again, SLOT, LAG, may_start=True, unknown_ours=True) is None
    assert again.listings[slot_key(SLOT)] == iso(NOW)
    idle = State()
    assert record_full_listing(idle, SLOT, LAG, may_start=False, unknown_ours=True) is None
    assert idle.provisional == {}
    assert idle.listings == {slot_key(SLOT): iso(NOW)}
    distrusted = StatePatch(distrust="it went backwards").applied_to(State())
    reason = record_full_listing(distrusted, SLOT, LAG, may_start=True, unknown_ours=False)
    assert reason is not None
    assert "waiting 300s" in reason
    assert distrusted.provisional == {slot_key(SLOT): iso(NOW)}


def test_slots_to_observe_are_the_desired_ones_and_those_running_jobs_of_ours() -> None:
    """An ended job of ours does not make its slot observed; a running one does."""
    running = _record(job_id="j" * 22, status=JobStatus.IN_PROGRESS)
    ended = _record(job_id="k" * 22, status=JobStatus.COMPLETED)
    ended.domain_id, ended.kind = OTHER
    assert slots_to_observe([], _with(running, ended)) == [SLOT]
    assert slots_to_observe([], _with(ended)) == []


def test_unconfirmed_slots_are_those_of_intents_only() -> None:
    assert unconfirmed_slots(_with(_record(job_id="j" * 22))) == set()
    assert unconfirmed_slots(_with(_record(intent_ago=5))) == {SLOT}


def test_foreign_active_leaves_out_our_own_running_job() -> None:
    """Our job in flight is counted from the state, never a second time as foreign."""
    ours = _record(job_id="ours", status=JobStatus.IN_PROGRESS)
    seen = [
        ObservedJob(SLOT[1], SLOT[0], "ours", "x", JobStatus.IN_PROGRESS),
        ObservedJob(SLOT[1], SLOT[0], "theirs", "y", JobStatus.IN_PROGRESS),
    ]
    assert foreign_active(seen, _with(ours)) == Counter({SLOT: 1})


def test_the_policy_values_are_immutable() -> None:
    """A ListLag and a Decision are values: shared between slots, never changed."""
    lag, decision = ListLag(NOW), Decision(Listing.FULL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        lag.now = 0.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.hold = "x"  # type: ignore[misc]
    assert len({lag, ListLag(NOW), decision, Decision(Listing.FULL)}) == 2


def test_any_positive_horizon_holds_a_first_listing() -> None:
    """Half a second of lag is still lag: only 0 trusts List at once."""
    state = State()
    lag = ListLag(NOW, 0.5)
    assert record_full_listing(state, SLOT, lag, may_start=True, unknown_ours=True) is not None
