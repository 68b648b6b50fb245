"""The list-lag hold policy as a pure function of the state, the slot and ``now``."""

from __future__ import annotations

from collections import Counter

from reconciler.core.hold import (
    Decision,
    Listing,
    ListLag,
    decide,
    foreign_active,
    intent_holds,
    record_full_listing,
    slot_key,
)
from reconciler.core.jobs import ObservedJob
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import JobRecord, State
from reconciler.core.statepatch import StatePatch
from reconciler.core.times import iso

NOW = 1_800_000_000.0
SLOT = ("D" * 22, JobKind.ENROLLMENT)
HORIZON = 300.0
LAG = ListLag(NOW, HORIZON)


def _decide(state: State, *, may_start: bool = True, unconfirmed: bool = False) -> Decision:
    return decide(state, SLOT, LAG, may_start=may_start, unconfirmed=unconfirmed)


def _listed(ago: float | None = None, provisional: bool = False) -> State:
    state = State()
    if ago is not None:
        state.listings[slot_key(SLOT)] = iso(NOW - ago)
        if provisional:
            state.provisional[slot_key(SLOT)] = iso(NOW - ago)
    return state


def test_a_slot_never_listed_is_listed_in_full() -> None:
    """A fresh state (or a lost one) lists the whole history, whether or not it would start."""
    assert _decide(_listed(), may_start=False).listing is Listing.FULL
    assert _decide(_listed()).listing is Listing.FULL


def test_a_listed_slot_lists_only_jobs_in_flight_and_only_when_it_would_start() -> None:
    """After one full listing younger than the token's lifetime less the horizon: IN_PROGRESS
    only when something may start, else nothing."""
    state = _listed(ago=3000)
    assert _decide(state).listing is Listing.ACTIVE
    assert _decide(state, may_start=False).listing is Listing.NONE


def test_a_listing_too_old_to_prove_absence_is_taken_again_before_a_start() -> None:
    """Older than token lifetime less horizon (3600 - 300 s): a start needs a full listing; with
    nothing to start, nothing is listed (the steady state spends no call on it)."""
    assert _decide(_listed(ago=3301)).listing is Listing.FULL
    assert _decide(_listed(ago=3300)).listing is Listing.ACTIVE
    assert _decide(_listed(ago=86_400), may_start=False).listing is Listing.NONE
    zero = ListLag(NOW, HORIZON, token_lifetime=0.0)
    assert zero.listing_max_age == 0.0
    assert decide(_listed(ago=1), SLOT, zero, may_start=True, unconfirmed=False).listing is (
        Listing.FULL
    )


def test_an_unconfirmed_start_lists_in_full() -> None:
    """An intent never confirmed by a JobId: the job is looked for by its name in the history."""
    assert _decide(_listed(ago=3600), unconfirmed=True).listing is Listing.FULL


def test_a_first_listing_younger_than_the_horizon_holds_without_listing() -> None:
    """A fresh state's first listing 100 s ago: the slot waits, and spends no call."""
    decision = decide(
        _listed(ago=100, provisional=True), SLOT, LAG, may_start=True, unconfirmed=False
    )
    assert decision.listing is Listing.NONE
    assert decision.hold
    assert "100s ago" in decision.hold
    assert "200s left" in decision.hold


def test_a_first_listing_older_than_the_horizon_lists_in_full_again() -> None:
    """Past the horizon, List has caught up: one more full listing, then the slot may start."""
    state = _listed(ago=HORIZON, provisional=True)
    decision = decide(state, SLOT, LAG, may_start=True, unconfirmed=False)
    assert decision == Decision(Listing.FULL)
    assert record_full_listing(state, SLOT, LAG, may_start=True, unknown_ours=True) is None
    assert not state.provisional
    assert state.listings[slot_key(SLOT)] == iso(NOW)


def test_a_provisional_listing_does_not_hold_a_slot_that_starts_nothing() -> None:
    """Nothing would start there: no hold, and no extra listing."""
    state = _listed(ago=10, provisional=True)
    assert _decide(state, may_start=False).listing is Listing.NONE
    assert _decide(state, may_start=False).hold is None


def test_a_first_listing_with_evidence_of_a_lost_state_holds_and_is_provisional() -> None:
    """The first full listing of a slot that would start holds when a state was lost: the
    listing found jobs of ours the state did not know, or the state is distrusted."""
    found = State()
    reason = record_full_listing(found, SLOT, LAG, may_start=True, unknown_ours=True)
    assert reason
    assert "did not know jobs of ours found there" in reason
    assert found.provisional == {slot_key(SLOT): iso(NOW)}
    lost = "it replaces a lost state (state.json.mark remains)"
    replacing = StatePatch(distrust=lost).applied_to(State())
    reason = record_full_listing(replacing, SLOT, LAG, may_start=True, unknown_ours=False)
    assert reason
    assert "replaces a lost state" in reason


def test_a_first_ever_deployment_starts_at_once() -> None:
    """A fresh state with nothing to say one was lost, in a domain with no job of ours: no
    hold (its starts are all recorded as intents first from now on)."""
    state = State()
    assert record_full_listing(state, SLOT, LAG, may_start=True, unknown_ours=False) is None
    assert not state.provisional


def test_a_zero_horizon_trusts_list_at_once() -> None:
    """--list-lag-horizon 0: a first listing holds nothing."""
    state = State()
    assert (
        record_full_listing(state, SLOT, ListLag(NOW, 0), may_start=True, unknown_ours=True) is None
    )
    assert not state.provisional


def _intent_state(ago: float) -> State:
    state = State()
    state.orphans.append(
        JobRecord(
            hash="a" * 64,
            attempt=1,
            job_name="spec-" + "a" * 32,
            domain_id=SLOT[0],
            kind=SLOT[1],
            intent_at=iso(NOW - ago),
        )
    )
    return state


def test_an_intent_younger_than_the_horizon_holds_and_an_older_one_does_not() -> None:
    """The horizon is the boundary: 299 s holds, 300 s does not."""
    young = intent_holds(_intent_state(HORIZON - 1), LAG)
    assert young.keys() == {SLOT}
    assert "unconfirmed" in young[SLOT]
    assert "(1s left)" in young[SLOT]
    assert intent_holds(_intent_state(HORIZON), LAG) == {}


def test_foreign_active_jobs_count_only_jobs_not_ours_and_in_flight() -> None:
    """Someone else's running job takes a slot; ours and ended ones do not count as foreign."""
    state = State()
    seen = [
        ObservedJob(SLOT[1], SLOT[0], f"job{i}", "x", status)
        for i, status in enumerate(
            [JobStatus.IN_PROGRESS, JobStatus.SUBMITTED, JobStatus.COMPLETED]
        )
    ]
    assert foreign_active(seen, state) == Counter({SLOT: 2})
