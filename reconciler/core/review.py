"""The review of a plan: what a gated apply may approve, what it must refuse, and the safety limit.

A plan's checksum covers its review set (:meth:`reconciler.core.plan.Plan.intent`); here that
set is matched against the one a reviewer saw (:func:`review`), the approved intents are
recorded in the state (:func:`approve`: a patch), and a plan that is not the reviewed one or is
surprisingly large is refused (:func:`check_plan`). Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from reconciler.core.errors import PlanChecksumMismatch, UnsafePlanError
from reconciler.core.plan import DEFAULT_START_LIMIT, UNKNOWN_HASH, Intent, Plan
from reconciler.core.state import Approval
from reconciler.core.statepatch import StatePatch


def intent_differences(
    reviewed: Sequence[Intent], now: Sequence[Intent], *, limit: int = 5
) -> list[str]:
    """What differs between a reviewed plan's review set and the one computed now, one phrase
    per spec (at most ``limit``, then how many more)."""
    before = {i.key: i for i in reviewed}
    after = {i.key: i for i in now}
    out = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None:
            assert new is not None
            out.append(f"{key}: not in the reviewed plan ({new.describe()})")
        elif new is None:
            out.append(f"{key}: no longer awaits review (approved since, started, or removed)")
        # An offline plan cannot know a new spec's hash: its intent learning one online is not
        # a change of the spec, so it is described side by side rather than as a new hash.
        elif old.hash != new.hash and UNKNOWN_HASH not in (old.hash, new.hash):
            out.append(f"{key}: changed since review (hash {old.hash[:12]} -> {new.hash[:12]})")
        else:
            out.append(f"{key}: reviewed {old.describe()}; now {new.describe()}")
    if len(out) > limit:
        out = [*out[:limit], f"and {len(out) - limit} more"]
    return out


APPLY_REVIEW = "apply"
"""The review of an un-gated apply (confirmed at a terminal, or ``--auto-approve``)."""


def approve(intents: Iterable[Intent], review: str, at: str) -> StatePatch:
    """The approvals that record that ``review`` approved ``intents`` (their hashes,
    attempts); the keys approved are the patch's ``approvals``. An intent whose hash only an
    online plan knows is never approved."""
    approvals: dict[str, Approval | None] = {}
    for intent in intents:
        if intent.hash == UNKNOWN_HASH:  # approving it would approve whatever hash S3 shows later
            continue
        approvals[intent.key] = Approval(
            hash=intent.hash, max_attempts=intent.attempts, review=review, at=at
        )
    return StatePatch(approvals=approvals)


class Review(NamedTuple):
    """What a gated apply may approve, and what it must refuse (:func:`review`)."""

    approve: tuple[Intent, ...]
    """The intents of the review set now that the reviewed plan approved."""
    refusal: str | None
    """Why the reviewed plan does not cover the review set now (exit 6), or None."""


def review(
    plan: Plan,
    *,
    checksum: str | None,
    reviewed: Sequence[Intent] | None = None,
) -> Review:
    """Match the plan computed now against the reviewed one: a bare ``checksum`` (the plan
    comment's) approves the review set now when it is the reviewed one, all or nothing; the
    ``reviewed`` intents of a saved plan approve the intents now that they hold, and refuse
    only the ones no review saw. A review set that is empty now (a re-run of the apply that
    approved it, or every intent approved since) approves nothing and refuses nothing: the run
    starts what earlier reviews approved. A review set that holds an intent the reviewed plan
    did not is refused, whoever ran it before."""
    now = plan.intent()
    if reviewed is not None:
        held = set(reviewed)
        approved = tuple(i for i in now if i in held)
        unreviewed = [i for i in now if i not in held]
        if not unreviewed:
            return Review(approved, None)
        why = intent_differences(list(reviewed), now)
        return Review(approved, _refusal(plan.checksum(), checksum or "", why))
    if checksum is None:  # --require-approval alone: approves nothing
        return Review((), None)
    if plan.checksum() == checksum:
        return Review(now, None)
    if not now:  # every intent approved (a re-run of the merge's apply, or approved since)
        return Review((), None)
    why = [f"awaiting review now: {_some([i.key for i in now])}"]
    return Review((), _refusal(plan.checksum(), checksum, why))


def _refusal(now: str, checksum: str, why: Sequence[str]) -> str:
    return (
        f"the reviewed plan{f' ({checksum})' if checksum else ''} does not cover what awaits "
        f"review now (checksum {now}: {'; '.join(why)}); nothing it did not review starts — "
        "plan again (on main: re-run the plan workflow) and apply that plan's checksum"
    )


def check_plan(
    plan: Plan,
    *,
    start_limit: int | None,
    dry_run: bool = False,
    refusal: str | None = None,
) -> None:
    """Refuse a plan that is not the reviewed one (``refusal``, from :func:`review`), or that
    is surprisingly large (more pending starts than ``start_limit``; None: no limit; a dry run
    is only shown)."""
    if refusal:
        raise PlanChecksumMismatch(refusal)
    pending = plan.pending_count()
    if start_limit is not None and pending > start_limit and not dry_run:
        raise UnsafePlanError(
            f"the plan would start {pending} jobs, over the safety limit of "
            f"{start_limit}; check the paths and selectors, then use --start-limit N "
            "or --force"
        )


def limit_note(plan: Plan, start_limit: int | None = DEFAULT_START_LIMIT) -> str | None:
    """A note for the reviewer when the pending starts come near (80%) or above the apply's
    ``--start-limit``."""
    pending = plan.pending_count()
    # ``pending == 0``: with ``--start-limit 0`` an empty plan is not "near" the limit.
    if start_limit is None or pending < 0.8 * start_limit or pending == 0:
        return None
    if pending > start_limit:
        return (
            f"{pending} starts pending: over apply's --start-limit of {start_limit} "
            "(apply refuses them without --force)"
        )
    return f"{pending} starts pending: near apply's --start-limit of {start_limit}"


def _some(keys: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
