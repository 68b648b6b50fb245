"""A hostile Voice ID: answers of another shape, too deep, too large, pagination that loops.

Every answer is checked against its shape in one place (``reconciler/adapters/shapes.py``),
whose models are held here to botocore's ``voice-id`` service model; the examples of issue 31
are served by the sandbox's ``answer_faults`` knob through the product's real HTTP path; the
bounds (pages, empty pages, the retry deadline, error bodies) are pinned on the adapter.
Generated answers are in ``tests/fuzz/``.
"""

from __future__ import annotations

import json
import time
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
import botocore.exceptions
import botocore.parsers
import botocore.session
import pytest
from pydantic import BaseModel, PlainValidator, StringConstraints
from pydantic.fields import FieldInfo
from structlog.testing import capture_logs

from reconciler.adapters import shapes
from reconciler.adapters.voiceid import VoiceId
from reconciler.adapters.voiceid_answers import ANSWER, MALFORMED, error_body, read_answer
from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.core import jobkinds
from reconciler.core.errors import RetryableError, VoiceIdError
from reconciler.core.kinds import JobKind
from reconciler.sandbox import Sandbox
from tests.support import World, all_jobs, build_world, check_invariants, write_specs

ENROLL = "StartSpeakerEnrollmentJob"
DEEP = "[" * 200_000 + "]" * 200_000


# --- the models are botocore's ----------------------------------------------------------------


def _voiceid_model() -> Any:
    return botocore.session.get_session().get_service_model("voice-id")


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """A field's type without ``| None`` and ``Annotated``, and the constraints met on the way."""
    found: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        elif origin is typing.Annotated:
            annotation, *more = typing.get_args(annotation)
            for item in more:  # a Field(...) in Annotated holds its constraints as metadata
                found.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        else:
            return annotation, found


def _compare(model: type[BaseModel], shape: Any, where: str) -> list[str]:
    """Every field of ``model`` against the botocore ``shape`` of the same members."""
    problems = []
    for name, field in model.model_fields.items():
        member = shape.members.get(name)
        if member is None:
            problems.append(f"{where}.{name}: not a member of {shape.name}")
            continue
        annotation, constraints = _unwrap(field.annotation)
        constraints += field.metadata
        if name in shape.required_members and not field.is_required():
            problems.append(f"{where}.{name}: the model requires it")
        meta = member.metadata
        if member.type_name == "structure":
            assert isinstance(annotation, type), where
            assert issubclass(annotation, BaseModel), where
            problems += _compare(annotation, member, f"{where}.{name}")
        elif member.type_name == "list":
            item = typing.get_args(annotation)[0]
            if typing.get_origin(annotation) is not list:
                problems.append(f"{where}.{name}: not a list")
            elif isinstance(item, type) and issubclass(item, BaseModel):
                problems += _compare(item, member.member, f"{where}.{name}[]")
            if not any(isinstance(c, annotated_types.MaxLen) for c in constraints):
                problems.append(f"{where}.{name}: a list without a bound")
        elif member.type_name == "timestamp":
            if not any(isinstance(c, PlainValidator) for c in constraints):
                problems.append(f"{where}.{name}: a timestamp not read as one")
        elif member.type_name == "boolean":
            if annotation is not bool:
                problems.append(f"{where}.{name}: not a boolean")
        elif member.type_name == "integer":
            bounds = {type(c).__name__: c for c in constraints}
            low = getattr(bounds.get("Ge"), "ge", None)
            high = getattr(bounds.get("Le"), "le", None)
            if annotation is not int or low is None or high is None:
                problems.append(f"{where}.{name}: not a bounded integer")
            elif (meta.get("min", low), meta.get("max", high)) != (low, high):
                problems.append(f"{where}.{name}: bounds {low}..{high}, the model's {meta}")
        elif member.type_name == "string":
            if "enum" in meta and typing.get_origin(annotation) is typing.Literal:
                if set(typing.get_args(annotation)) != set(meta["enum"]):
                    problems.append(f"{where}.{name}: not the model's enum")
                continue
            (string,) = [c for c in constraints if isinstance(c, StringConstraints)] or [None]
            if annotation is not str or string is None or string.max_length is None:
                problems.append(f"{where}.{name}: not a bounded string")
                continue
            for ours, theirs in (("min_length", "min"), ("max_length", "max")):
                if theirs in meta and getattr(string, ours) != meta[theirs]:
                    problems.append(f"{where}.{name}: {ours} is not the model's {meta[theirs]}")
            if "pattern" in meta and string.pattern != meta["pattern"] and "enum" not in meta:
                problems.append(f"{where}.{name}: pattern is not the model's")
        else:
            problems.append(f"{where}.{name}: a {member.type_name} is not read")
    return problems


def test_every_operation_called_has_a_model_of_its_answer_and_only_those() -> None:
    """The adapter's operations are the models' (nothing unread, nothing unmodelled)."""
    called = {"ListDomains", "ListWatchlists"} | {
        op
        for k in jobkinds.KINDS.values()
        for op in (k.list_operation, k.describe_operation, k.start_operation)
    }
    assert set(shapes.ANSWERS) == called


@pytest.mark.parametrize("operation", sorted(shapes.ANSWERS))
def test_the_answer_models_are_the_botocore_models(operation: str) -> None:
    """Each member read exists in botocore's voice-id model with its type and its min, max,
    pattern and enum; the model's required members are required; every string, integer and
    list is bounded (the model leaves NextToken and Message unbounded: we do not)."""
    output = _voiceid_model().operation_model(operation).output_shape
    assert _compare(shapes.ANSWERS[operation], output, operation) == []


def test_the_comparison_finds_a_model_that_drifted() -> None:
    """The check above can fail: a JobName longer than the model's, a status outside its enum."""

    class Drifted(BaseModel):
        JobName: typing.Annotated[str, StringConstraints(max_length=300)]
        JobStatus: typing.Literal["SUBMITTED", "DONE"]
        Unknown: str

    job = _voiceid_model().shape_for("SpeakerEnrollmentJob")
    problems = _compare(Drifted, job, "Job")
    assert any("JobName: max_length" in p for p in problems)
    assert any("JobStatus: not the model's enum" in p for p in problems)
    assert any("Unknown: not a member" in p for p in problems)


# --- the examples, served by the sandbox ----------------------------------------------------------


def _apply(specs: Path, state: Path, *extra: str) -> int:
    argv = ["apply", str(specs), "--state", str(state), "--tps", "0", "--log-format", "json"]
    return main([*argv, *extra])


def _problems(err: str) -> list[str]:
    return [line for line in err.splitlines() if line and not line.startswith("{")]


@dataclass
class Scene:
    world: World
    specs: Path
    state: Path

    @property
    def sandbox(self) -> Sandbox:
        return self.world.sandbox


@pytest.fixture
def scene(voiceid_env: Sandbox, tmp_path: Path) -> Iterator[Scene]:
    """One domain, one enrollment spec; the answer faults cleared afterwards."""
    built = build_world(voiceid_env)
    write_specs(built, tmp_path / "specs", 1, kinds=("SpeakerEnrollmentJob",))
    yield Scene(built, tmp_path / "specs", tmp_path / "state.json")
    voiceid_env.configure(answer_faults=[])


def _refused(capsys: pytest.CaptureFixture[str], *names: str) -> str:
    lines = _problems(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert lines[0].startswith("voiceid-reconciler: "), lines
    assert "malformed answer" in lines[0], lines
    for name in names:
        assert name in lines[0], lines
    return lines[0]


def test_a_start_answer_with_created_at_not_a_date_is_one_line_and_one_job(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    """``CreatedAt: "not-a-date"`` in a Start answer (the job was created): the Start is
    retried with its ClientToken (one job), then refused in one line naming the operation and
    the member; the next run finds the job and records it, never starting a second."""
    sandbox, specs, state = scene.sandbox, scene.specs, scene.state
    fault = {"operation": ENROLL, "action": "set", "path": ["Job", "CreatedAt"]}
    sandbox.configure(answer_faults=[{**fault, "value": "not-a-date"}])
    assert _apply(specs, state) == EXIT_ERROR
    _refused(capsys, ENROLL, "Job.CreatedAt")
    assert sandbox.call_outcomes()[ENROLL] == {"AnswerFault": 3}
    assert len(all_jobs(scene.world)) == 1
    sandbox.configure(answer_faults=[])
    assert _apply(specs, state) == EXIT_OK
    jobs, _ = check_invariants(scene.world, state)
    assert len(jobs) == 1


def test_a_describe_answer_with_created_at_not_a_date_is_one_line(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job List does not show yet is described; ``CreatedAt: "not-a-date"`` there is one
    line naming DescribeSpeakerEnrollmentJob, exit 1, after the job's start was recorded."""
    sandbox, specs, state = scene.sandbox, scene.specs, scene.state
    sandbox.freeze_clock()
    sandbox.configure(list_lag=600, job_duration=60)
    assert _apply(specs, state) == EXIT_OK
    capsys.readouterr()
    describe = "DescribeSpeakerEnrollmentJob"
    fault = {"operation": describe, "action": "set", "path": ["Job", "CreatedAt"]}
    sandbox.configure(answer_faults=[{**fault, "value": "not-a-date"}])
    assert _apply(specs, state) == EXIT_ERROR
    _refused(capsys, describe, "Job.CreatedAt")
    assert sandbox.calls()[ENROLL] == 1


@pytest.mark.parametrize(
    ("operation", "path"),
    [
        ("ListSpeakerEnrollmentJobs", ["JobSummaries"]),
        ("ListDomains", []),
        (ENROLL, ["Job", "JobProgress"]),
    ],
)
def test_an_answer_nested_200000_deep_is_one_line(
    scene: Scene,
    capsys: pytest.CaptureFixture[str],
    operation: str,
    path: list[str],
) -> None:
    """A page (or an answer) nested 200,000 deep: no RecursionError, one line naming the
    operation; a List page's nothing is started."""
    sandbox, specs, state = scene.sandbox, scene.specs, scene.state
    sandbox.configure(
        answer_faults=[{"operation": operation, "action": "raw", "path": path, "value": DEEP}]
    )
    assert _apply(specs, state) == EXIT_ERROR
    line = _refused(capsys, operation)
    assert "recursion limit" in line
    if operation != ENROLL:
        assert sandbox.calls().get(ENROLL, 0) == 0


@pytest.mark.parametrize("value", ["same", "fresh"])
def test_a_next_token_that_leads_back_is_refused_within_the_timeout(
    scene: Scene, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """``apply --wait --timeout 20`` against a List whose NextToken leads back to the first
    page (the same token, or a fresh one each time): one line, exit 1, in a few calls (it was
    followed forever: 15,000-24,000 calls and still running after 60 s)."""
    sandbox, specs, state = scene.sandbox, scene.specs, scene.state
    assert _apply(specs, state) == EXIT_OK  # a job, so that the page repeated is not empty
    capsys.readouterr()
    loop = {"operation": "ListSpeakerEnrollmentJobs", "action": "loop", "value": value}
    sandbox.configure(answer_faults=[loop])
    sandbox.reset_calls()
    started = time.monotonic()
    wait = ("--wait", "--poll-interval", "0.05", "--timeout", "20", "--list-lag-horizon", "0")
    fresh = state.with_name("fresh.json")  # a state that knows nothing lists the domain
    assert _apply(specs, fresh, *wait) == EXIT_ERROR
    assert time.monotonic() - started < 20
    _refused(capsys, "ListSpeakerEnrollmentJobs", "cycle")
    assert sandbox.calls()["ListSpeakerEnrollmentJobs"] <= 3


def test_an_empty_listing_that_never_ends_is_refused(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Empty pages, each with a fresh NextToken (no page content repeats): refused after
    MAX_EMPTY_PAGES of them, one line."""
    world = build_world(voiceid_env)
    write_specs(world, tmp_path / "specs", 1, kinds=("SpeakerEnrollmentJob",))
    loop = {"operation": "ListSpeakerEnrollmentJobs", "action": "loop", "value": "fresh"}
    voiceid_env.configure(answer_faults=[loop])
    try:
        assert _apply(tmp_path / "specs", tmp_path / "state.json") == EXIT_ERROR
    finally:
        voiceid_env.configure(answer_faults=[])
    _refused(capsys, "ListSpeakerEnrollmentJobs", "empty pages")
    assert voiceid_env.calls()["ListSpeakerEnrollmentJobs"] == 100
    assert voiceid_env.calls().get(ENROLL, 0) == 0


def test_a_page_larger_than_asked_is_refused(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    """A page of 101 jobs for MaxResults 100 is not a page Voice ID gives."""
    sandbox, specs, state = scene.sandbox, scene.specs, scene.state
    item = {"JobId": "j" * 22, "JobStatus": "COMPLETED", "JobName": "x"}
    items = [{**item, "JobId": f"{i:022d}"} for i in range(101)]
    fault = {"operation": "ListSpeakerEnrollmentJobs", "action": "set", "path": ["JobSummaries"]}
    sandbox.configure(answer_faults=[{**fault, "value": items}])
    assert _apply(specs, state) == EXIT_ERROR
    _refused(capsys, "ListSpeakerEnrollmentJobs", "101 items")


# --- the adapter's bounds, on a client that answers what a test says ------------------------------


class _Client:
    """Enough of a botocore client for :class:`VoiceId`: each call answers ``answer(n)``
    (a dict, checked by the adapter as botocore's parse would be) or raises it."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0
        self.meta = types.SimpleNamespace(
            events=types.SimpleNamespace(register=lambda *a, **k: None)
        )

    def __getattr__(self, name: str) -> Any:
        def call(**params: Any) -> dict[str, Any]:
            self.calls += 1
            result = self.answer(self.calls, params)
            if isinstance(result, Exception):
                raise result
            return typing.cast(dict[str, Any], result)

        return call


def _summary(n: int) -> dict[str, Any]:
    return {"JobId": f"{n:022d}", "JobStatus": "COMPLETED"}


def test_a_listing_stops_after_max_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distinct pages forever, each with a new token: stopped after MAX_PAGES, one error."""
    monkeypatch.setattr("reconciler.adapters.voiceid.MAX_PAGES", 50)
    client = _Client(lambda n, _: {"JobSummaries": [_summary(n)], "NextToken": f"t{n}"})
    voiceid = VoiceId(client, tps=0)
    with pytest.raises(VoiceIdError, match="more than 50 pages") as caught:
        list(voiceid.list_jobs(JobKind.ENROLLMENT, "d" * 22))
    assert caught.value.code == MALFORMED
    assert client.calls == 50


def test_a_page_repeated_under_a_new_token_is_a_cycle() -> None:
    """Page 1, page 2, page 1 again under a token never seen: refused at the repeat."""
    pages = [[_summary(1)], [_summary(2)], [_summary(1)], [_summary(3)]]
    client = _Client(lambda n, _: {"JobSummaries": pages[n - 1], "NextToken": f"t{n}"})
    with pytest.raises(VoiceIdError, match="already answered"):
        list(VoiceId(client, tps=0).list_jobs(JobKind.ENROLLMENT, "d" * 22))
    assert client.calls == 3


def test_no_retry_waits_past_the_deadline() -> None:
    """A throttled call is retried, but never into a wait that ends past ``deadline``."""
    throttled = botocore.exceptions.ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "ListDomains"
    )
    client = _Client(lambda n, _: throttled)
    patient = VoiceId(client, tps=0, max_attempts=3, max_wait=0.001)
    with pytest.raises(RetryableError):
        patient.domains()
    assert client.calls == 3
    client.calls = 0
    bounded = VoiceId(client, tps=0, max_attempts=3, max_wait=30)
    bounded.deadline = time.monotonic()  # the --timeout is up: no wait at all
    with pytest.raises(RetryableError, match="ThrottlingException"):
        bounded.domains()
    assert client.calls == 1


def test_a_malformed_answer_is_retried_promptly_then_refused() -> None:
    """Three calls, not max_attempts, and no long backoff (a malformed answer is not load)."""
    client = _Client(lambda n, _: {"DomainSummaries": [{"DomainId": 5}]})
    voiceid = VoiceId(client, tps=0, max_attempts=8, max_wait=30)
    # The waits the retries asked for, not the wall time (a loaded machine stretches that):
    # a malformed answer is asked again at once, never after the backoff meant for load.
    with (
        capture_logs() as logs,
        pytest.raises(RetryableError, match=r"ListDomains: .*DomainSummaries\[0\]\.DomainId"),
    ):
        voiceid.domains()
    assert client.calls == 3
    waits = [e["wait_s"] for e in logs if e["event"] == "voiceid.retry"]
    assert len(waits) == 2
    assert all(wait < 0.5 for wait in waits)


# --- the hook: every answer body is read here, never by botocore's parser ---------------------


def _response(status: int, body: bytes) -> dict[str, Any]:
    return {"status_code": status, "headers": {}, "body": body}


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (DEEP.encode(), "recursion limit"),
        (b"\xff\xfe not utf-8", "not JSON"),
        (b'{"Job": {"JobId": "aaaaaaaaaaaaaaaaaaaaaa", "JobStatus": "DONE"}}', "Job.JobStatus"),
        (b'{"Job": []}', "Job that is not an object (list)"),
        (b"[]", "an answer that is not an object (list)"),
        (b" " * (shapes.MAX_ANSWER_BYTES + 1), "bytes"),
        (
            b'{"Job": {"JobId": "aaaaaaaaaaaaaaaaaaaaaa", "JobStatus": "FAILED", '
            b'"FailureDetails": {"StatusCode": 1e999}}}',
            "StatusCode",
        ),
    ],
)
def test_a_malformed_body_is_one_message_naming_the_member(body: bytes, said: str) -> None:
    """Whatever the body, the hook hands over one MalformedAnswer (never a value of it) and
    leaves botocore ``{}`` to parse."""
    response = _response(200, body)
    handed: dict[str, Any] = {}
    read_answer(response, handed, operation_model=types.SimpleNamespace(name=ENROLL))
    answer = handed[ANSWER]
    assert isinstance(answer, shapes.MalformedAnswer)
    assert str(answer).startswith(f"{ENROLL}: Voice ID answered ")
    assert said in str(answer)
    assert response["body"] == b"{}"


@pytest.mark.parametrize(
    "body",
    [
        DEEP.encode(),
        b"\xff\xfe not utf-8",
        b"[1, 2]",
        b'{"__type": 5, "message": {"nested": true}}',
        b'{"__type": "ThrottlingException", "message": "' + b"x\\n" * 50_000 + b'"}',
        b"x" * 1_000_000,
    ],
)
def test_an_error_body_botocore_cannot_parse_is_rewritten(body: bytes) -> None:
    """An error answer too deep (RecursionError), not UTF-8 (UnicodeDecodeError), not an
    object or with members of other types (AttributeError) reaches botocore's parser as a
    small object of strings; a message is one line of at most a few hundred characters."""
    parser = botocore.parsers.create_parser("json")
    shape = _voiceid_model().operation_model("ListDomains").output_shape
    rewritten = error_body(body)
    parsed = parser.parse(
        {
            "status_code": 400,
            "headers": {"x-amzn-errortype": "ValidationException"},
            "body": rewritten,
        },
        shape,
    )
    error = parsed["Error"]
    assert isinstance(error["Code"], str)
    assert isinstance(error["Message"], str)
    assert "\n" not in error["Message"]
    assert len(error["Message"]) <= 300
    assert len(rewritten) < 2_000


def test_an_error_body_keeps_what_botocore_and_the_adapter_read() -> None:
    """A well-formed error keeps its code, message and resource type."""
    body = json.dumps(
        {
            "__type": "ResourceNotFoundException",
            "message": "no such domain",
            "ResourceType": "DOMAIN",
            "Extra": {"deep": [1]},
        }
    ).encode()
    assert json.loads(error_body(body)) == {
        "__type": "ResourceNotFoundException",
        "message": "no such domain",
        "ResourceType": "DOMAIN",
    }
