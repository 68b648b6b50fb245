"""Fuzz: Voice ID answers of any shape, served by the sandbox through boto3's real HTTP path.

Two targets share one generator (``strategies.answer_faults``):

* the adapter: every call the product makes (ListDomains, ListWatchlists, both Lists, both
  Describes, both Starts — a Start replayed with the ClientToken of a job that exists, so
  nothing new starts) under one or two faults: each returns a well-formed value or raises a
  one-line :class:`~reconciler.core.errors.VoiceIdError`, nothing else; no message quotes a
  value of the answer; no job is created; each call ends within seconds;
* the command line: ``apply --wait --timeout`` of a new spec under faults: exit 0, or 1 with
  one line; never an exception out of ``main``; never past the timeout by more than the
  retries' last call; at most one job for the spec and none for any other hash.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, seed
from hypothesis import strategies as st

from reconciler.adapters import shapes
from reconciler.adapters.voiceid import VoiceId
from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.core.errors import ReconcilerError
from reconciler.core.identity import parse_job_name
from reconciler.core.jobs import ObservedJob
from reconciler.core.kinds import JobKind
from reconciler.sandbox import Sandbox
from tests.support import World, build_world, write_specs

from .conftest import fuzz_settings
from .conftest import seed as fuzz_seed
from .strategies import PLANTED, answer_faults

pytestmark = pytest.mark.fuzz

OPERATIONS = tuple(sorted(shapes.ANSWERS))
CALL_BOUND = 10.0
"""Seconds one adapter call may take under faults (three prompt attempts, a 9 MiB answer)."""


@dataclass
class Started:
    """A world with one ended job of each kind: the Start request of each (replaying it with
    its ClientToken returns the job, never a new one) and its JobId."""

    world: World
    domain_id: str
    client: Any
    """One client for every example (an adapter made on it registers its hook once)."""
    plain: Any
    """A client without the adapter's hook, to count the jobs."""
    requests: dict[JobKind, dict[str, Any]] = field(default_factory=dict)
    job_ids: dict[JobKind, str] = field(default_factory=dict)

    def jobs(self) -> int:
        """How many jobs the domain has (both kinds; the fixture's two, unless one was made)."""
        return sum(
            len(list_jobs(DomainId=self.domain_id, MaxResults=100)["JobSummaries"])
            for list_jobs in (
                self.plain.list_speaker_enrollment_jobs,
                self.plain.list_fraudster_registration_jobs,
            )
        )

    def calls(self, voiceid: VoiceId) -> Iterator[Callable[[], Any]]:
        """Every call the product makes, on ``voiceid``."""
        domain_id = self.domain_id
        yield voiceid.domains
        yield lambda: voiceid.watchlists(domain_id)
        for kind, request in self.requests.items():
            job_id = self.job_ids[kind]
            yield lambda kind=kind: list(voiceid.list_jobs(kind, domain_id))
            yield lambda kind=kind, job_id=job_id: voiceid.describe_job(kind, domain_id, job_id)
            yield lambda kind=kind, request=request: voiceid.start_job(kind, dict(request))


@pytest.fixture(scope="module")
def started(voiceid_sandbox_server: Sandbox) -> Iterator[Started]:
    """See :class:`Started`; the sandbox is reset before and after."""
    sandbox = voiceid_sandbox_server
    sandbox.reset(aws=True)
    world = build_world(sandbox)
    client = sandbox.client("voice-id", retries={"total_max_attempts": 1})
    (domain_id,) = world.domains.values()
    target = Started(
        world,
        domain_id,
        sandbox.client("voice-id", retries={"total_max_attempts": 1}),
        sandbox.client("voice-id", retries={"total_max_attempts": 1}),
    )
    try:
        for kind, start in (
            (JobKind.ENROLLMENT, client.start_speaker_enrollment_job),
            (JobKind.REGISTRATION, client.start_fraudster_registration_job),
        ):
            request = {
                "ClientToken": f"fuzz-{kind.value}",
                "JobName": f"fuzz-{kind.value}",
                "DomainId": domain_id,
                "DataAccessRoleArn": world.role_arn,
                "InputDataConfig": {"S3Uri": f"s3://{world.bucket}/manifests/none.json"},
                "OutputDataConfig": {"S3Uri": f"s3://{world.bucket}/output/"},
            }
            target.job_ids[kind] = start(**request)["Job"]["JobId"]
            target.requests[kind] = request
    finally:
        client.close()
    sandbox.advance_clock(60)
    sandbox.service.advance()
    yield target
    target.client.close()
    target.plain.close()
    sandbox.configure(answer_faults=[])
    sandbox.reset(aws=True)


def _check_value(value: Any) -> None:
    """What a call returned is of the product's types, within the model's bounds."""
    jobs = value if isinstance(value, list) else [value]
    for job in jobs:
        if isinstance(job, ObservedJob):
            assert isinstance(job.job_id, str)
            assert len(job.job_id) == 22
            assert job.percent_complete is None or 0 <= job.percent_complete <= 100
            assert job.job_name is None or len(job.job_name) <= 256
            for when in (job.created_at, job.ended_at):
                assert when is None or (isinstance(when, str) and when.endswith("Z"))
            if job.failure is not None:
                assert "\n" not in job.failure.message
                assert len(job.failure.message) <= shapes.MAX_MESSAGE_LENGTH


@seed(fuzz_seed())
@fuzz_settings(ci=200)
@given(faults=st.lists(answer_faults(OPERATIONS), min_size=1, max_size=2))
def test_the_adapter_answers_a_value_or_one_error(
    started: Started, faults: list[dict[str, Any]]
) -> None:
    world = started.world
    sandbox = world.sandbox
    assert started.jobs() == 2
    sandbox.configure(answer_faults=faults)
    try:
        voiceid = VoiceId(started.client, tps=0, max_attempts=3, max_wait=0.01)
        for call in started.calls(voiceid):
            began = time.monotonic()
            try:
                _check_value(call())
            except ReconcilerError as err:
                message = str(err)
                assert "\n" not in message, message
                assert PLANTED not in message, message
                assert len(message) < 600, message
            assert time.monotonic() - began < CALL_BOUND
    finally:
        sandbox.configure(answer_faults=[])
    assert started.jobs() == 2, "a replayed Start made a job"


# --- the command line ---------------------------------------------------------------------------

CLI_OPERATIONS = (
    "ListDomains",
    "ListSpeakerEnrollmentJobs",
    "ListFraudsterRegistrationJobs",
    "StartSpeakerEnrollmentJob",
    "DescribeSpeakerEnrollmentJob",
)
CLI_ACTIONS = ("drop", "set", "set", "raw", "loop", "loop", "loop")
"""A loop on a listing is the fault an apply meets least often (only when it lists): drawn
more often here."""
TIMEOUT = 3.0
SLACK = 4.0
"""Seconds past the timeout an apply may take: the last poll's calls, three prompt attempts
each, a 9 MiB answer among them."""
CALLS = 1_000
"""Calls of one operation one apply may make: polls every 0.05 s for 3 s, each listing a few
pages or describing a job, three attempts each, stay far below (a listing that loops does not)."""


@pytest.fixture
def scene(voiceid_env: Sandbox, tmp_path: Path) -> Iterator[tuple[World, Path, Any]]:
    """A world, a directory, and a client (without the adapter's hook) to list the jobs."""
    world = build_world(voiceid_env)
    voiceid_env.configure(max_active_jobs=50)
    client = voiceid_env.client("voice-id", retries={"total_max_attempts": 1})
    yield world, tmp_path, client
    client.close()
    voiceid_env.configure(answer_faults=[])


def _job_names(client: Any, domain_id: str) -> list[str]:
    names = []
    for operation in ("list_speaker_enrollment_jobs", "list_fraudster_registration_jobs"):
        for page in client.get_paginator(operation).paginate(DomainId=domain_id):
            names.extend(str(job.get("JobName", "")) for job in page["JobSummaries"])
    return names


@seed(fuzz_seed())
@fuzz_settings(ci=40)
@given(
    faults=st.lists(answer_faults(CLI_OPERATIONS, CLI_ACTIONS), min_size=1, max_size=2),
    fresh_state=st.booleans(),
    data=st.data(),
)
def test_apply_under_malformed_answers_exits_0_or_one_line(
    scene: tuple[World, Path, Any],
    capsys: pytest.CaptureFixture[str],
    faults: list[dict[str, Any]],
    fresh_state: bool,
    data: st.DataObject,
) -> None:
    world, root, client = scene
    sandbox = world.sandbox
    number = data.draw(st.integers(0, 999_999), label="revision")
    specs = root / f"specs-{number}"
    write_specs(world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    spec = specs / "spec-0000.yaml"  # a new name and revision: a new hash, a Start to make
    text = spec.read_text().replace("{name: spec-0000}", f"{{name: fuzz-{number}}}")
    spec.write_text(text.replace("\nspec:\n", f"\nspec:\n  revision: {number}\n"))
    state = root / (f"state-{number}.json" if fresh_state else "state.json")
    sandbox.configure(answer_faults=faults)
    sandbox.reset_calls()
    capsys.readouterr()
    argv = ["apply", str(specs), "--state", str(state), "--tps", "0", "--log-format", "json"]
    wait = ["--wait", "--poll-interval", "0.05", "--timeout", str(TIMEOUT)]
    began = time.monotonic()
    try:
        code = main([*argv, *wait])
    finally:
        sandbox.configure(answer_faults=[])
    took = time.monotonic() - began
    out, err = capsys.readouterr()
    assert PLANTED not in out.split("Plan checksum")[-1]  # the apply's own lines
    assert code in (EXIT_OK, EXIT_ERROR), (code, err[-2000:])
    problems = [line for line in err.splitlines() if line and not line.startswith("{")]
    if code == EXIT_ERROR:
        assert len(problems) == 1, problems
        assert problems[0].startswith("voiceid-reconciler: "), problems
        assert PLANTED not in problems[0]
    assert took < TIMEOUT + SLACK, took
    assert max(sandbox.calls().values(), default=0) < CALLS, sandbox.calls()
    (domain_id,) = world.domains.values()
    names = _job_names(client, domain_id)
    ours = Counter(
        (parts.hash_prefix, parts.attempt) for name in names if (parts := parse_job_name(name))
    )
    assert all(n == 1 for n in ours.values()), ours
    assert len([name for name in names if name.startswith(f"fuzz-{number}-")]) <= 1
