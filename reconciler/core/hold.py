"""The list-lag hold policy: when to list a (domain, kind) in full, and when its starts wait.

Voice ID's List may lag behind Start by up to ``horizon`` seconds, and a ClientToken may be
forgotten, so a job started moments ago can be invisible to a listing. Never starting a job
twice then rests on two guards, which put the (domain, kind) **on hold** (its starts queue):

* a start recorded as an intent but not found by listing, younger than ``horizon``;
* a first full listing by a fresh state (a new deployment, or a lost state): the slot waits
  until the listing is ``horizon`` old, then lists in full once more before starting.

And knowing that *no* job of a hash exists — what a start rests on — comes from Voice ID, never
from the state alone: a start in a slot needs a complete listing of it (every status) younger
than ``token_lifetime - horizon``. A job created before the listing (less the lag) is in it; one
created after is younger than the ClientToken's lifetime, so a Start with our token returns it
instead of making a second one (docs/architecture.md, "Why no second job"). Older knowledge,
or a state that cannot prove where it came from (distrusted: its listings are forgotten), is
listed again.

Everything here is a function of the state, the desired jobs, what was observed and a
:class:`ListLag` (``now``, passed in, and the horizon): no clock, no I/O. The runner does the
listing these functions ask for (:mod:`reconciler.runner.observe`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.core.desired import DesiredJob
from reconciler.core.jobs import ObservedJob
from reconciler.core.plan import Slot
from reconciler.core.state import State
from reconciler.core.times import epoch, iso

DEFAULT_LIST_LAG_HORIZON = 300.0
"""Seconds within which a job Voice ID has just created may still be missing from List."""
DEFAULT_TOKEN_LIFETIME = 3600.0
"""Seconds Voice ID is assumed to remember a ClientToken (``--token-lifetime``). AWS does not
document it; an hour is conservative (AWS's idempotency windows are hours to days). A listing
older than this less the list-lag horizon no longer proves that a hash has no job."""


class Listing(StrEnum):
    """How much of a slot's job history to list."""

    NONE = "none"
    """Nothing can change there: the state's record is enough."""
    ACTIVE = "in-progress"
    """Only the jobs in flight (the ones that hold the slot): one filtered List call."""
    FULL = "full"
    """The whole history, page by page (a slot this state never listed, or an unconfirmed
    start whose job must be found by the hash in its JobName)."""


@dataclass(frozen=True)
class ListLag:
    """The moment a policy question is asked, and how far List may lag behind it."""

    now: float
    """Seconds since the epoch."""
    horizon: float = DEFAULT_LIST_LAG_HORIZON
    """How long a job Voice ID just created may be missing from List (0: never)."""
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME
    """How long Voice ID remembers a ClientToken (0: not relied on)."""

    def age(self, recorded: str) -> float:
        """Seconds between a time the state recorded and now."""
        return self.now - epoch(recorded)

    @property
    def listing_max_age(self) -> float:
        """How old a complete listing may be and still prove that a hash has no job: a job made
        since (less the lag) is younger than the token's lifetime. 0: only a listing of this
        very observation does."""
        return max(0.0, self.token_lifetime - self.horizon)


@dataclass(frozen=True)
class Decision:
    """What to list in one slot, and the reason its starts wait (None: they may go)."""

    listing: Listing
    hold: str | None = None


@dataclass
class Observation:
    """What observing taught besides the state: slots held by others' jobs, slots on hold."""

    foreign_active: Counter[Slot] = field(default_factory=Counter)
    hold: dict[Slot, str] = field(default_factory=dict)


def slot_key(slot: Slot) -> str:
    """``<DomainId>/<kind>``: how the state's ``listings`` and ``provisional`` name a slot."""
    domain_id, kind = slot
    return f"{domain_id}/{kind}"


def slots_to_observe(desired: Sequence[DesiredJob], state: State) -> list[Slot]:
    """Every slot a resolvable desired job targets, and every slot where a job of ours runs."""
    slots = {(job.request.domain_id, job.kind) for job in desired if job.request is not None}
    # A slot where a job of ours runs is observed even with nothing to start there (its spec
    # removed, say): its job must still be seen to end.
    slots.update((r.domain_id, r.kind) for r in state.all_jobs() if r.active)
    return sorted(slots)


def unconfirmed_slots(state: State) -> set[Slot]:
    """Slots holding a start that was recorded as an intent and never confirmed by a JobId."""
    return {(r.domain_id, r.kind) for r in state.all_jobs() if r.job_id is None}


def decide(
    state: State, slot: Slot, lag: ListLag, *, may_start: bool, unconfirmed: bool
) -> Decision:
    """How to observe ``slot``: ``may_start`` when some desired job would start there,
    ``unconfirmed`` when an intent there was never confirmed."""
    key = slot_key(slot)
    provisional = state.provisional.get(key)
    # Only a slot with something to start waits: the hold exists to keep a second job from being
    # started, and a slot that starts nothing has nothing to protect.
    if provisional is not None and may_start:
        age = lag.age(provisional)
        if age < lag.horizon:
            return Decision(
                Listing.NONE,
                f"first listing of this domain was {age:.0f}s ago: waiting {lag.horizon:.0f}s for "
                f"Voice ID's List to catch up ({lag.horizon - age:.0f}s left; "
                "--list-lag-horizon)",
            )
    listed = state.listings.get(key)
    # In full: never listed by this state; an intent never confirmed, whose job (if Start made
    # one) is found only by the hash in its JobName, whatever its status; or the second listing
    # of a first one held for the lag, which may now show the jobs the first one missed.
    if listed is None or unconfirmed or (provisional is not None and may_start):
        return Decision(Listing.FULL)
    if may_start and lag.age(listed) > lag.listing_max_age:
        return Decision(Listing.FULL)  # too old to prove that a hash about to start has no job
    # A start needs to know what holds the slot's quota now (the jobs in flight, others'
    # included), one filtered List call; with nothing to start, the jobs of ours in flight are
    # described one by one instead and no listing is made.
    return Decision(Listing.ACTIVE if may_start else Listing.NONE)


def record_full_listing(
    state: State, slot: Slot, lag: ListLag, *, may_start: bool, unknown_ours: bool
) -> str | None:
    """Record in the state that ``slot`` was listed in full at ``now``; the reason to hold its
    starts when this first listing may have missed the newest jobs of a state that was lost.

    That needs evidence: the state is distrusted (it went backwards, or replaces a lost one
    whose high-water mark remains), or the listing found jobs with our naming that the state
    did not know (``unknown_ours``). A first-ever deployment in an empty domain, or a new
    domain of a trusted state (whose starts are all recorded as intents first), starts at once.
    """
    key = slot_key(slot)
    first = key not in state.listings
    state.listings[key] = iso(lag.now)
    # A listing past the horizon ends the hold: what it shows includes every job made before it,
    # less the lag.
    state.provisional.pop(key, None)
    why = (
        f"is not trusted ({state.untrusted})"
        if state.untrusted
        else "did not know jobs of ours found there"
    )
    # Held only on evidence that a state was lost: a first-ever deployment starts at once (no
    # second job can exist where no first was ever started), and a trusted state recorded every
    # start of its own as an intent before making it.
    if first and lag.horizon > 0 and may_start and (state.untrusted or unknown_ours):
        state.provisional[key] = state.listings[key]
        return (
            f"first listing of this domain by this state, which {why}: waiting "
            f"{lag.horizon:.0f}s for Voice ID's "
            "List to catch up before starting (--list-lag-horizon)"
        )
    return None


def intent_holds(state: State, lag: ListLag) -> dict[Slot, str]:
    """Slots with a start recorded less than ``horizon`` ago that no listing has confirmed."""
    holds: dict[Slot, str] = {}
    for record in state.all_jobs():
        if record.job_id is None and record.intent_at:
            age = lag.age(record.intent_at)
            # An intent younger than the horizon may have made a job that List does not show
            # yet: starting again now could make a second one. Older, a listing would have shown
            # it.
            if age < lag.horizon:
                holds[(record.domain_id, record.kind)] = (
                    f"a start of {record.job_name} {age:.0f}s ago is unconfirmed and not listed "
                    f"yet: waiting up to {lag.horizon:.0f}s before starting it again "
                    f"({lag.horizon - age:.0f}s left)"
                )
    return holds


def foreign_active(seen: Iterable[ObservedJob], state: State) -> Counter[Slot]:
    """Active jobs per slot that are not ours (they hold the domain's quota all the same)."""
    ours = {r.job_id for r in state.all_jobs() if r.job_id}
    return Counter(
        (job.domain_id, job.kind) for job in seen if job.active and job.job_id not in ours
    )
