"""One run as a value: what it reads and writes, how it behaves, and what it did.

A :class:`Run` travels through the apply loop instead of a list of loose parameters: the state
it holds (read under the store's lock), the store, the Voice ID and S3 adapters, the
:class:`RunOptions`, the clock, and the :class:`ApplyReport` it fills in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.adapters.clock import HostClock
from reconciler.core.desired import DesiredJob, Shard
from reconciler.core.errors import ReconcilerError
from reconciler.core.hold import DEFAULT_LIST_LAG_HORIZON, DEFAULT_TOKEN_LIFETIME
from reconciler.core.plan import (
    DEFAULT_MAX_ACTIVE,
    DEFAULT_START_LIMIT,
    Action,
    ActionKind,
    Intent,
    Plan,
    Slot,
)
from reconciler.core.planner import build_plan
from reconciler.core.state import State
from reconciler.runner.ports import (
    Clock,
    ObjectStore,
    ServiceClock,
    StateStore,
    VoiceIdApi,
)

DEFAULT_POLL_INTERVAL = 15.0
"""Seconds between polls of ``apply --wait``."""


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves (plain values: a plan uses ``max_active``, ``shard`` and
    ``list_lag_horizon``); refuses values that make no sense (:class:`OptionError`)."""

    max_active: int = DEFAULT_MAX_ACTIVE
    dry_run: bool = False
    max_starts: int | None = None
    wait: bool = False
    timeout: float | None = None
    poll_interval: float = DEFAULT_POLL_INTERVAL
    shard: Shard | None = None
    """Only the specs whose domain falls in this shard (``--shard INDEX/COUNT``)."""
    list_lag_horizon: float = DEFAULT_LIST_LAG_HORIZON
    """How long a new job may be missing from List (see :mod:`reconciler.core.hold`)."""
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME
    """How long Voice ID remembers a ClientToken (``--token-lifetime``): a listing older than
    this less the horizon is taken again before a start (:mod:`reconciler.core.hold`)."""
    plan_checksum: str | None = None
    """The reviewed plan's checksum: its review set is approved when it is the one now (else
    exit 6), and only approved intents start (:func:`reconciler.core.review.review`)."""
    reviewed: tuple[Intent, ...] | None = None
    """The review set of a saved plan (``apply PLAN.json``): the intents it approves; a refusal
    names the specs that differ."""
    require_approval: bool = False
    """Start only intents a review approved (``--require-approval``: the schedule); others are
    ``awaiting-review``. Implied by ``plan_checksum`` and ``reviewed``."""
    fail_on_timeout: bool = False
    """``--fail-on-timeout``: a wait that ``timeout`` ended with jobs still running exits 3
    (by default it is a success: the jobs progress, the next run continues)."""
    start_limit: int | None = DEFAULT_START_LIMIT
    """Refuse a plan with more pending starts than this (None: no limit; ``--force``)."""
    unselected: frozenset[str] = frozenset()
    """Keys of specs that exist but ``--selector`` left out (not reported as orphans)."""
    owner: tuple[str, ...] = ()
    """Spec-name patterns (``--owner``) of the unclaimed jobs this state reports as orphans."""

    @property
    def gated(self) -> bool:
        """Whether only approved intents start: ``--require-approval``, or a reviewed plan."""
        return self.require_approval or self.plan_checksum is not None or self.reviewed is not None

    def __post_init__(self) -> None:
        """Refuse, before anything is read or started, values that make no sense (each named
        by its field: the face names its own flag, :class:`OptionError`)."""
        if self.max_active < 1:
            raise OptionError("max_active", "must be at least 1")
        for name, count in (("max_starts", self.max_starts), ("start_limit", self.start_limit)):
            if count is not None and count < 0:
                raise OptionError(name, f"must be 0 or more, not {count}")
        for name, seconds in (
            ("list_lag_horizon", self.list_lag_horizon),
            ("token_lifetime", self.token_lifetime),
            ("poll_interval", self.poll_interval),
            ("timeout", self.timeout),
        ):
            if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
                raise OptionError(name, f"must be a number of seconds, 0 or more, not {seconds}")
        if self.timeout is not None and not self.wait:
            raise OptionError("timeout", "applies only with wait (it bounds the waiting)")


def plan_for(
    options: RunOptions,
    desired: Sequence[DesiredJob],
    state: State,
    *,
    foreign_active: Mapping[Slot, int] | None = None,
    hold: Mapping[Slot, str] | None = None,
) -> Plan:
    """:func:`~reconciler.core.planner.build_plan` with a run's quota and orphan scope
    (``--max-active``, ``--selector``'s left-outs, ``--owner``) and its review gate: the options
    are values; the plan is made here, once, for every use case."""
    return build_plan(
        desired,
        state,
        foreign_active=foreign_active,
        hold=hold,
        max_active=options.max_active,
        unselected=options.unselected,
        owner=options.owner,
        require_approval=options.gated,
    )


class OptionError(ReconcilerError):
    """A :class:`RunOptions` value that makes no sense, named by its field (the command line
    says it with its flag's name: :func:`reconciler.cli.flags.run_options`)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


@dataclass
class ApplyReport:
    """What an apply run did and saw."""

    plan: Plan
    started: list[Action] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    """Specs Voice ID refused to start in this run (the final plan shows them blocked too)."""
    failed: list[str] = field(default_factory=list)
    """Specs whose job ended FAILED during this run (no attempts left)."""
    with_errors: list[str] = field(default_factory=list)
    """Specs whose job ended COMPLETED_WITH_ERRORS during this run."""
    timed_out: bool = False
    observed_at: str | None = None
    reviewed: Plan | None = None
    """The plan computed before anything started (the one ``--plan-checksum`` checked)."""
    approved: list[str] = field(default_factory=list)
    """Specs whose intent this run approved (the reviewed plan's, or an un-gated apply's)."""
    retired: list[str] = field(default_factory=list)
    """Entries of removed specs whose jobs had ended, forgotten by this run (tombstones)."""
    held_back: int = 0
    """Starts the last plan had that ``--max-starts`` held back for a later run."""

    def queued_specs(self) -> set[str]:
        """Every spec left waiting for a free slot, once: refused by the quota during the run
        (``deferred``) or queued in the final plan."""
        return set(self.deferred) | {
            a.key for a in self.plan.actions if a.kind is ActionKind.QUEUED
        }


@dataclass
class Run:
    """One run: its state (read from the store), its adapters, options, clock and report."""

    store: StateStore
    voiceid: VoiceIdApi
    objects: ObjectStore
    options: RunOptions = field(default_factory=RunOptions)
    clock: Clock = field(default_factory=HostClock)
    """The host's clock; the run reads the wall time through Voice ID's (:class:`ServiceClock`)."""
    state: State = field(default_factory=State)
    report: ApplyReport = field(default_factory=lambda: ApplyReport(Plan(())))
    planned: bool = False
    """Whether a plan was computed (from then on, an error still saves the state)."""

    def __post_init__(self) -> None:
        # The wall time of a run is Voice ID's: a host whose clock is off by minutes must not
        # shorten (or stretch) the list-lag horizon of intents another host recorded.
        if not isinstance(self.clock, ServiceClock):
            self.clock = ServiceClock(self.voiceid, self.clock)

    def desired_now(self, desired: list[DesiredJob]) -> list[DesiredJob]:
        """The desired jobs, with those Voice ID refused earlier in this run blocked."""
        refused = self.report.blocked
        if not refused:
            return list(desired)
        return [job.refused(refused[job.key]) if job.key in refused else job for job in desired]
