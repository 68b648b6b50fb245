"""Rules of the order between jobs, spec.dependsOn (reconciler.core.order)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import Location
from reconciler.core.kinds import ActionKind, JobKind, JobStatus
from reconciler.core.order import BLOCKED, WAITING, gate, problems
from reconciler.core.plan import Action
from reconciler.core.spec import LoadedSpec, SpeakerEnrollmentJob
from reconciler.core.state import JobRecord, SpecEntry, State

E = "SpeakerEnrollmentJob"
F = "FraudsterRegistrationJob"
D1 = "D" * 22


def _spec(name: str, *depends: str, line: int = 1) -> LoadedSpec:
    document = SpeakerEnrollmentJob.model_validate(
        {
            "apiVersion": "voiceid-reconciler/v1",
            "kind": E,
            "metadata": {"name": name},
            "spec": {
                "domain": "prod",
                "dataAccessRoleArn": "arn:aws:iam::123456789012:role/R",
                "input": {"manifest": f"s3://bucket/{name}.json"},
                "output": {"s3Uri": "s3://bucket/out/", "kmsKeyId": "alias/k"},
                "dependsOn": [d if "/" in d else f"{E}/{d}" for d in depends],
            },
        }
    )
    where = Location(Path(f"specs/{name}.yaml"), line, 1)
    return LoadedSpec.of(document, where, where)


def _action(name: str, kind: ActionKind = ActionKind.START, **kw: Any) -> Action:
    return Action(kind, JobKind.ENROLLMENT, name, **kw)


def _done(name: str, status: JobStatus = JobStatus.COMPLETED, **kw: Any) -> Action:
    return _action(name, ActionKind.IN_SYNC, status=status, **kw)


def _state(name: str, **record: Any) -> State:
    """A state that knows one job of spec ``name`` (its latest)."""
    job = JobRecord(
        attempt=1,
        domain_id=D1,
        hash="a" * 64,
        job_name=f"{name}-x",
        kind=JobKind.ENROLLMENT,
        **record,
    )
    older = JobRecord(
        attempt=1,
        domain_id=D1,
        hash="b" * 64,
        job_name=f"{name}-y",
        kind=JobKind.ENROLLMENT,
        job_id="old",
        status=JobStatus.COMPLETED,
    )
    entry = SpecEntry(
        domain_id=D1, hash="a" * 64, kind=JobKind.ENROLLMENT, name=name, jobs=[older, job]
    )
    return State(specs={f"{E}/{name}": entry})


# --- validation -----------------------------------------------------------------------------


def test_each_problem_of_the_dependencies_is_named() -> None:
    """Itself, an unknown name (with the closest spec), and nothing for a known one."""
    specs = [_spec("alpha", "alpha", "alpah", f"{F}/zzz", "beta", line=3), _spec("beta", line=9)]
    found = [(str(e.location), e.message) for e in problems(specs)]
    assert found == [
        ("specs/alpha.yaml:3:1", f"{E}/alpha depends on itself"),
        (
            "specs/alpha.yaml:3:1",
            f"{E}/alpha depends on {E}/alpah: no such spec; did you mean '{E}/alpha'?",
        ),
        ("specs/alpha.yaml:3:1", f"{E}/alpha depends on {F}/zzz: no such spec"),
    ]


def test_a_cycle_is_one_line_naming_each_edge() -> None:
    """A cycle is reported once, at its first spec (by key), each edge with where it is."""
    specs = [_spec("c", "a", line=7), _spec("a", "b", line=3), _spec("b", "c", line=5)]
    (error,) = problems(specs)
    assert error.location == Location(Path("specs/a.yaml"), 3, 1)
    assert error.message == (
        f"a cycle of dependencies: {E}/a -> {E}/b (specs/a.yaml:3:1), "
        f"{E}/b -> {E}/c (specs/b.yaml:5:1), {E}/c -> {E}/a (specs/c.yaml:7:1)"
    )


def test_every_cycle_once_and_no_cycle_in_a_diamond() -> None:
    """Two cycles give two lines; a diamond (two paths to one spec) is no cycle."""
    specs = [
        _spec("a", "b"),
        _spec("b", "a"),
        _spec("c", "d"),
        _spec("d", "c"),
        _spec("top", "left", "right"),
        _spec("left", "bottom"),
        _spec("right", "bottom"),
        _spec("bottom"),
    ]
    messages = [e.message for e in problems(specs)]
    assert messages == [
        f"a cycle of dependencies: {E}/a -> {E}/b (specs/a.yaml:1:1), "
        f"{E}/b -> {E}/a (specs/b.yaml:1:1)",
        f"a cycle of dependencies: {E}/c -> {E}/d (specs/c.yaml:1:1), "
        f"{E}/d -> {E}/c (specs/d.yaml:1:1)",
    ]
    assert problems(specs[4:]) == []


def test_a_cycle_after_a_finished_branch_names_only_its_own_edges() -> None:
    """A branch walked to its end before the cycle is found is not part of the cycle's line."""
    specs = [_spec("a", "b", "c"), _spec("b"), _spec("c", "a")]
    (error,) = problems(specs)
    assert error.message == (
        f"a cycle of dependencies: {E}/a -> {E}/c (specs/a.yaml:1:1), "
        f"{E}/c -> {E}/a (specs/c.yaml:1:1)"
    )


def test_a_cycle_reached_from_outside_it_is_the_cycle_alone() -> None:
    """A spec leading into a cycle is not part of it: the line names the cycle's edges only."""
    specs = [_spec("a", "b"), _spec("b", "c"), _spec("c", "b")]
    (error,) = problems(specs)
    assert error.location == Location(Path("specs/b.yaml"), 1, 1)
    assert error.message == (
        f"a cycle of dependencies: {E}/b -> {E}/c (specs/b.yaml:1:1), "
        f"{E}/c -> {E}/b (specs/c.yaml:1:1)"
    )


# --- the gate -------------------------------------------------------------------------------


def test_a_start_whose_dependencies_completed_is_unchanged() -> None:
    """Every dependency's job ended COMPLETED (every part of a chunked one): the start stays."""
    start = _action("x")
    actions = {
        f"{E}/a": _done("a"),
        f"{E}/b-part-001": _done("b-part-001"),
        f"{E}/b-part-002": _done("b-part-002"),
    }
    assert gate(start, [f"{E}/a", f"{E}/b"], actions, State()) is start
    assert gate(start, [], {}, State()) is start


def test_waits_name_each_dependency_and_why() -> None:
    """Not started, starting, running with progress, blocked: queued with each reason."""
    actions = {
        f"{E}/a": _action("a", ActionKind.QUEUED),
        f"{E}/b": _done("b", JobStatus.IN_PROGRESS, percent_complete=0),
        f"{E}/c": _action("c", ActionKind.BLOCKED, reason="no domain"),
        f"{E}/d": _done("d", JobStatus.SUBMITTED),
        f"{E}/e": _action("e", ActionKind.IN_SYNC),
        f"{E}/f": _done("f"),
    }
    keys = [f"{E}/{n}" for n in "abcdef"]
    gated = gate(_action("x", reason="r", code="c"), keys, actions, State())
    assert (gated.kind, gated.code) == (ActionKind.QUEUED, WAITING)
    assert gated.reason == (
        f"waiting for {E}/a (not started yet), {E}/b (IN_PROGRESS 0%), "
        f"{E}/c (blocked: no domain), {E}/d (SUBMITTED), {E}/e (starting)"
    )
    assert gated.name == "x"


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.COMPLETED_WITH_ERRORS])
def test_a_dependency_that_ended_badly_blocks(status: JobStatus) -> None:
    """FAILED or COMPLETED_WITH_ERRORS blocks the start, naming it, whatever else waits."""
    actions = {f"{E}/a": _action("a"), f"{E}/b": _done("b", status), f"{E}/c": _action("c")}
    gated = gate(_action("x"), [f"{E}/a", f"{E}/b", f"{E}/c"], actions, State())
    assert (gated.kind, gated.code) == (ActionKind.BLOCKED, BLOCKED)
    assert gated.reason == f"dependency {E}/b ended {status}: it must end COMPLETED first"


def test_a_part_not_done_holds_the_whole_roster() -> None:
    """One part still running keeps the dependent waiting, named by that part's status."""
    actions = {
        f"{E}/b-part-001": _done("b-part-001"),
        f"{E}/b-part-002": _done("b-part-002", JobStatus.IN_PROGRESS, percent_complete=50),
        f"{E}/b-part-003": _action("b-part-003"),
    }
    gated = gate(_action("x"), [f"{E}/b"], actions, State())
    assert gated.reason == f"waiting for {E}/b (IN_PROGRESS 50%)"


def test_only_the_spec_itself_or_its_parts_count() -> None:
    """A spec whose name only starts like the dependency's is not one of its parts."""
    actions = {f"{E}/b2": _done("b2"), f"{E}/b-partial": _done("b-partial")}
    gated = gate(_action("x"), [f"{E}/b"], actions, State())
    assert gated.reason == f"waiting for {E}/b (no job of it yet)"


def test_a_dependency_outside_the_run_is_read_from_the_state() -> None:
    """Outside the selector: the state's latest job of it decides; none started yet waits."""
    key = f"{E}/b"
    x = _action("x")
    assert gate(x, [key], {}, _state("b", job_id="j", status=JobStatus.COMPLETED)) is x
    running = gate(x, [key], {}, _state("b", job_id="j", status=JobStatus.IN_PROGRESS))
    assert running.reason == f"waiting for {key} (IN_PROGRESS)"
    failed = gate(x, [key], {}, _state("b", job_id="j", status=JobStatus.FAILED))
    assert failed.kind is ActionKind.BLOCKED
    intent = gate(x, [key], {}, _state("b"))
    assert intent.reason == f"waiting for {key} (no job of it yet)"
    unknown = gate(x, [key], {}, State())
    assert unknown.reason == f"waiting for {key} (no job of it yet)"
    empty = State(
        specs={key: SpecEntry(domain_id=D1, hash="a" * 64, kind=JobKind.ENROLLMENT, name="b")}
    )
    assert gate(x, [key], {}, empty).reason == f"waiting for {key} (no job of it yet)"
