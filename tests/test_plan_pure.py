"""The plan is a pure function of its inputs: building one never changes the state, the desired
jobs or the observation it is given (issue 32: "the core returns values and never mutates its
inputs"). States are generated — jobs of every status and attempt, unconfirmed intents,
approvals old and new, removed specs with running and ended jobs, holds and foreign jobs — and
each is frozen (its JSON text and a deep copy) before :func:`build_plan` runs, every option
both ways."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.absorb import absorb
from reconciler.core.kinds import JobStatus
from reconciler.core.planner import build_plan
from reconciler.core.review import approve
from reconciler.core.state import State
from tests.test_plan import D1, D2, _desired, _observed, _spec

STATUSES = tuple(JobStatus)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Any], State, dict[Any, int], dict[Any, str]]:
    names = draw(st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True))
    desired = []
    for name in names:
        kind = draw(st.sampled_from(("SpeakerEnrollmentJob", "FraudsterRegistrationJob")))
        spec = _spec(
            name,
            kind=kind,
            priority=draw(st.integers(0, 3)),
            maxAttempts=draw(st.integers(1, 3)),
        )
        desired.append(_desired(spec, draw(st.sampled_from((D1, D2)))))
    observed = []
    for job in desired:
        for attempt in range(1, draw(st.integers(0, 3)) + 1):
            observed.append(_observed(job, draw(st.sampled_from(STATUSES)), attempt=attempt))
    state = State()
    kept = draw(st.lists(st.sampled_from(desired), unique_by=lambda j: j.key))
    state = absorb(state, desired, observed).applied_to(state)
    for job in desired:  # an unconfirmed intent now and then
        entry = state.specs.get(job.key)
        if entry is not None and entry.jobs and draw(st.booleans()):
            entry.jobs[-1].job_id = None
            entry.jobs[-1].intent_at = "2026-12-07T00:00:00Z"
    approval = approve(build_plan(desired, state).intent(), "r1", "2026-12-07T00:00:01Z")
    state = approval.applied_to(state)
    slots = sorted({(j.request.domain_id, j.kind) for j in desired if j.request is not None})
    foreign = {slot: draw(st.integers(0, 1)) for slot in slots}
    hold = {slot: "held" for slot in slots if draw(st.booleans())}
    return kept, state, foreign, hold


@settings(max_examples=150, deadline=None)
@given(worlds(), st.booleans(), st.integers(1, 2))
def test_building_a_plan_changes_none_of_its_inputs(
    world: tuple[list[Any], State, dict[Any, int], dict[Any, str]],
    require_approval: bool,
    max_active: int,
) -> None:
    desired, state, foreign, hold = world
    frozen = (state.to_json(), copy.deepcopy(state), list(desired), dict(foreign), dict(hold))
    build_plan(
        desired,
        state,
        foreign_active=foreign,
        hold=hold,
        max_active=max_active,
        require_approval=require_approval,
        owner=("*",),
    )
    assert state.to_json() == frozen[0]
    assert state == frozen[1]
    assert (list(desired), dict(foreign), dict(hold)) == frozen[2:]
