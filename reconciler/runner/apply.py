"""The apply loop: observe, plan, start what is missing, and (``--wait``) poll until done.

One :class:`~reconciler.runner.context.Run` carries the state, store, adapters, options, clock
and report through it; the state is read and written under the store's lock, which this
use-case owns. The specs are resolved once per run; each poll observes, plans and starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import structlog

from reconciler.core.desired import DesiredJob, desire, in_shard
from reconciler.core.hold import Observation
from reconciler.core.kinds import JobStatus
from reconciler.core.plan import Action, ActionKind, Plan, retirable, settled
from reconciler.core.review import APPLY_REVIEW, approve, check_plan, review
from reconciler.core.spec import LoadedSpec
from reconciler.core.state import State
from reconciler.core.statepatch import forget
from reconciler.core.times import iso
from reconciler.runner.context import ApplyReport, Run, plan_for
from reconciler.runner.notify import Notifier
from reconciler.runner.observe import ListingNeeded, Prelisted, list_full, observe
from reconciler.runner.resolve import OnlineResolver
from reconciler.runner.starts import QUOTA_TAKEN, collect_results, start_all

log = structlog.get_logger("reconciler.runner")


class Progress(Protocol):
    """Where ``apply --wait`` reports progress after every poll (the face renders it)."""

    def __call__(self, plan: Plan) -> None: ...


def apply(
    specs: Sequence[LoadedSpec],
    run: Run,
    *,
    progress: Progress | None = None,
    on_plan: Progress | None = None,
    notifier: Notifier | None = None,
) -> ApplyReport:
    """Converge: observe, plan, start what is missing (state written after every start).
    ``on_plan`` is shown the reviewed plan, once, before anything starts; ``notifier``
    delivers the job events after every poll and at the end (recorded in the state).

    The store's lock is held for one poll at a time — read the state, observe, plan, start,
    write: seconds — and never while ``--wait`` sleeps, so the schedule and the apply of a
    merge never wait on each other for long. Each poll reads the state afresh: what another
    run wrote meanwhile (its starts, its approvals) is this run's truth from then on."""
    options = run.options
    started_at = run.clock.monotonic()
    desired: list[DesiredJob] | None = None
    before: dict[str, JobStatus | None] = {}
    reviewed = False
    prelisted: Prelisted | None = None
    learnt: State | None = None
    while True:
        with run.store.locked():
            run.state = run.store.read()
            if learnt is not None:  # what resolving learnt in a poll that stopped to list
                _keep_resolved(run.state, learnt)
                learnt = None
            run.planned = False
            try:
                if desired is None:  # the first poll: resolve once
                    desired, before = _resolve(run, specs, notifier)
                plan, seen, current = _observe_and_plan(
                    run, desired, save=reviewed, prelisted=prelisted
                )
                prelisted = None
                if not reviewed:  # the first plan: review, show
                    plan = _review(run, plan, seen, current, on_plan)
                    reviewed = True
                _retire(run, plan)
                more = _step(run, plan, seen, current, progress)
                last = not more or _timed_out(run, started_at)
                if notifier and not options.dry_run:
                    notifier.deliver(run.state, run.report.plan, run.clock.time(), final=last)
            except ListingNeeded as needed:  # minutes of paging: taken without the lock
                # Nothing is written: the state read stays as it was (a distrusted one stays
                # distrusted when read again); what resolving learnt is carried over.
                learnt = run.state
                slots = needed.slots
            except BaseException:
                if run.planned:
                    _save_on_error(run)
                raise
            else:
                slots = []
                run.store.write(run.state)
        if slots:
            prelisted = list_full(run.voiceid, slots, run.clock, adding=prelisted)
            continue
        if last:
            break
        run.clock.sleep(_until_next_poll(run, started_at))
    return _finish(run, before)


def _resolve(
    run: Run, specs: Sequence[LoadedSpec], notifier: Notifier | None
) -> tuple[list[DesiredJob], dict[str, JobStatus | None]]:
    """The first poll's start: the sinks' ledgers opened, the statuses the run began with, and
    the specs resolved into the requests they stand for (once per run)."""
    if notifier:
        notifier.begin(run.state)
    before = {r.job_id: r.status for r in run.state.all_jobs() if r.job_id}
    resolver = OnlineResolver(run.voiceid, run.state, run.objects)
    return in_shard(desire(specs, resolver), run.options.shard), before


def _keep_resolved(state: State, learnt: State) -> None:
    """Carry the names and ETags resolved in a poll that stopped before it wrote anything into
    the state read for the next (they are Voice ID's and S3's facts, not the state's)."""
    state.domains.update(learnt.domains)
    for domain_id, watchlists in learnt.watchlists.items():
        state.watchlists.setdefault(domain_id, {}).update(watchlists)
    state.manifests.update(learnt.manifests)


def _until_next_poll(run: Run, started_at: float) -> float:
    """The poll interval, or less when ``--timeout`` ends the wait sooner (the last poll is at
    the timeout, not an interval after it)."""
    timeout = run.options.timeout
    if timeout is None:
        return run.options.poll_interval
    left = timeout - (run.clock.monotonic() - started_at)
    return max(0.0, min(run.options.poll_interval, left))


def _timed_out(run: Run, started_at: float) -> bool:
    """Whether ``--timeout`` ends the wait now (the report says so)."""
    timeout = run.options.timeout
    if timeout is not None and run.clock.monotonic() - started_at >= timeout:
        run.report.timed_out = True
    return run.report.timed_out


def _review(
    run: Run,
    plan: Plan,
    seen: Observation,
    current: list[DesiredJob],
    on_plan: Progress | None = None,
) -> Plan:
    """The gate of the first poll: match the plan against the reviewed one and record the
    approvals it gives (an un-gated apply approves its own review set: it was confirmed at a
    terminal, or told ``--auto-approve``), refuse what no review covers (exit 6), and the
    safety limit. Returns the plan with the new approvals taken into account."""
    options = run.options
    if options.gated:
        verdict = review(plan, checksum=options.plan_checksum, reviewed=options.reviewed)
        intents, refusal, label = verdict.approve, verdict.refusal, options.plan_checksum
    else:
        intents, refusal, label = plan.intent(), None, APPLY_REVIEW
    if intents and not options.dry_run:
        approval = approve(intents, label or plan.checksum(), iso(run.clock.time()))
        run.state = approval.applied_to(run.state)
        run.report.approved = list(approval.approvals)
        plan = plan_for(
            run.options, current, run.state, foreign_active=seen.foreign_active, hold=seen.hold
        )
        run.report.plan = plan
    if (intents or plan.starts) and not options.dry_run:
        run.store.write(run.state)  # the approvals and the observation before any start
    check_plan(plan, start_limit=options.start_limit, dry_run=options.dry_run, refusal=refusal)
    run.report.reviewed = plan
    if on_plan:
        on_plan(plan)
    return plan


def _retire(run: Run, plan: Plan) -> None:
    """Forget the entries of removed specs whose jobs all ended (kept as tombstones)."""
    if run.options.dry_run:
        return
    for key in retirable(run.state, plan):
        retired, _ = forget(run.state, key)
        run.state = retired.applied_to(run.state)
        run.report.retired.append(key)


def _observe_and_plan(
    run: Run, desired: list[DesiredJob], *, save: bool = True, prelisted: Prelisted | None = None
) -> tuple[Plan, Observation, list[DesiredJob]]:
    """One poll: observe Voice ID, read the results of jobs that ended, plan, save (before
    anything starts; ``save`` False: the caller saves, once, after the review). A full listing
    the observation needs and ``prelisted`` does not hold stops it (:class:`ListingNeeded`):
    the loop takes it without the lock."""
    current = run.desired_now(desired)
    watched = {r.job_id for r in run.state.all_jobs() if r.job_id and r.active}
    run.state, seen = observe(
        run.voiceid,
        run.state,
        current,
        horizon=run.options.list_lag_horizon,
        token_lifetime=run.options.token_lifetime,
        clock=run.clock,
        prelisted=prelisted,
        defer_full=True,
    )
    collect_results(run, current, watched)
    plan = plan_for(
        run.options, current, run.state, foreign_active=seen.foreign_active, hold=seen.hold
    )
    run.report.plan = plan
    run.planned = True
    if plan.starts and save:  # saved before starting; a poll that starts nothing is saved
        run.store.write(run.state)  # once, at its end
    return plan, seen, current


def _step(
    run: Run,
    plan: Plan,
    seen: Observation,
    current: list[DesiredJob],
    progress: Progress | None,
) -> bool:
    """Start what the plan starts (within ``--max-starts``); whether to poll again."""
    options = run.options
    if options.dry_run:
        return False
    budget = None if options.max_starts is None else options.max_starts - len(run.report.started)
    starts = plan.starts[:budget]
    run.report.held_back = len(plan.starts) - len(starts)
    if starts:  # nothing started: the plan stands as it was computed (one plan per poll)
        start_all(run, starts, current)
        run.report.plan = _plan_after(run, starts, current, seen)
    if progress:
        progress(run.report.plan)
    return options.wait and not settled(run.report.plan, may_start=budget != 0)


def _plan_after(
    run: Run, starts: Sequence[Action], desired: Sequence[DesiredJob], seen: Observation
) -> Plan:
    """The plan after ``starts``, showing what Voice ID just refused: the specs it refused as
    blocked, and the (domain, kind) slots whose quota turned out to be taken as queued."""
    hold = dict(seen.hold)
    for action in starts:
        if action.key in run.report.deferred and action.domain_id:
            hold.setdefault((action.domain_id, action.spec_kind), QUOTA_TAKEN)
    return plan_for(
        run.options,
        run.desired_now(list(desired)),
        run.state,
        foreign_active=seen.foreign_active,
        hold=hold,
    )


def _save_on_error(run: Run) -> None:
    """Save the state while an error stops the run; a failure to save is logged, not raised, so
    that the error under way (the cause) is the one reported."""
    try:
        run.store.write(run.state)
    except Exception as err:  # noqa: BLE001 - any failure here would hide the cause
        log.error("apply.state_not_saved", error=type(err).__name__, detail=str(err))


def _finish(run: Run, before: dict[str, JobStatus | None]) -> ApplyReport:
    """The report's last word: what still waits, and which jobs ended badly in this run."""
    report = run.report
    report.observed_at = run.state.observed_at
    pending = {a.key for a in report.plan.actions if a.pending}
    report.deferred = {k: why for k, why in report.deferred.items() if k in pending}
    ended = {
        a.key: a.status
        for a in report.plan.actions
        if a.kind is ActionKind.IN_SYNC and a.job_id and before.get(a.job_id) != a.status
    }
    report.failed = sorted(k for k, status in ended.items() if status == JobStatus.FAILED)
    report.with_errors = sorted(
        k for k, status in ended.items() if status == JobStatus.COMPLETED_WITH_ERRORS
    )
    return report
