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
from reconciler.core.plan import Action, ActionKind, Plan, check_plan, settled
from reconciler.core.spec import LoadedSpec
from reconciler.runner.context import ApplyReport, Run
from reconciler.runner.notify import Notifier
from reconciler.runner.observe import observe
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
    delivers the job events after every poll and at the end (recorded in the state)."""
    store, options = run.store, run.options
    started_at = run.clock.monotonic()
    with store.locked():
        run.state = store.read()
        if notifier:
            notifier.begin(run.state)
        before = {r.job_id: r.status for r in run.state.all_jobs() if r.job_id}
        resolver = OnlineResolver(run.voiceid, run.state, run.objects)
        desired = in_shard(desire(specs, resolver), options.shard)
        try:
            plan, seen, current = _observe_and_plan(run, desired)
            check_plan(  # the reviewed plan is the one computed before anything starts
                plan,
                checksum=options.plan_checksum,
                reviewed=options.reviewed,
                start_limit=options.start_limit,
                dry_run=options.dry_run,
            )
            run.report.reviewed = plan
            if on_plan:
                on_plan(plan)
            while _step(run, plan, seen, current, progress):
                if notifier:
                    notifier.deliver(run.state, run.report.plan, run.clock.time())
                if (
                    options.timeout is not None
                    and run.clock.monotonic() - started_at >= options.timeout
                ):
                    run.report.timed_out = True
                    break
                run.clock.sleep(options.poll_interval)
                plan, seen, current = _observe_and_plan(run, desired)
            if notifier and not options.dry_run:
                notifier.deliver(run.state, run.report.plan, run.clock.time())
        except BaseException:
            if run.planned:
                _save_on_error(run)
            raise
        store.write(run.state)
    return _finish(run, before)


def _observe_and_plan(
    run: Run, desired: list[DesiredJob]
) -> tuple[Plan, Observation, list[DesiredJob]]:
    """One poll: observe Voice ID, read the results of jobs that ended, plan, save (before
    anything starts)."""
    current = run.desired_now(desired)
    watched = {r.job_id for r in run.state.all_jobs() if r.job_id and r.active}
    seen = observe(
        run.voiceid, run.state, current, horizon=run.options.list_lag_horizon, clock=run.clock
    )
    collect_results(run, current, watched)
    plan = run.options.plan(current, run.state, foreign_active=seen.foreign_active, hold=seen.hold)
    run.report.plan = plan
    run.planned = True
    if plan.starts or run.options.wait:  # saved before starting, and at every poll; a run
        run.store.write(run.state)  # that starts nothing is saved once, at its end
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
    return run.options.plan(
        run.desired_now(list(desired)), run.state, foreign_active=seen.foreign_active, hold=hold
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
