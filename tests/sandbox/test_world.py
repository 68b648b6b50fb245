"""A world of your own: the world file, its checks, seeding it, and the commands that take it."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.core.kinds import JobKind
from reconciler.core.roster import Request as CoreRequest
from reconciler.core.roster import render_manifest as core_render_manifest
from reconciler.sandbox import Sandbox, SandboxConfig
from reconciler.sandbox.model import operation_model
from reconciler.sandbox.world import FIELDS, WorldError, read_world

from .conftest import aws_cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_WORLD = REPO / "examples" / "sandbox" / "world.yaml"
EXAMPLE_SPECS = REPO / "examples" / "sandbox" / "specs"
DOCS = REPO / "docs" / "sandbox.md"

WORLD = """\
apiVersion: voiceid-sandbox/v1
knobs: {max_active_jobs: 2}
kmsKeys:
  - aliases: [alias/tw-domain, alias/tw-domain-2]
  - aliases: [alias/tw-off]
    enabled: false
buckets: [tw-input]
audio: [s3://tw-input/audio/a.wav, s3://tw-input/audio/b.wav]
objects:
  - {uri: s3://tw-input/notes.txt, text: hello}
  - {uri: s3://tw-input/raw.json, json: {Version: "1.0", SpeakerEnrollmentRequests: []}}
  - {uri: s3://tw-input/blob.bin, base64: AAEC}
  - {uri: s3://tw-input/from-file.json, file: body.json}
manifests:
  - uri: s3://tw-input/m/speakers.json
    speakers:
      - {speakerId: s-1, audio: [s3://tw-input/audio/a.wav]}
      - {speakerId: s-2, audio: [{uri: s3://tw-input/audio/b.wav, channel: 1}, s3://tw-input/audio/a.wav]}
  - uri: s3://tw-input/m/fraudsters.json
    fraudsters: [{audio: [s3://tw-input/audio/b.wav]}]
domains:
  - name: tw-prod
    description: The production domain
    watchlists: [ring]
    jobs:
      - {kind: SpeakerEnrollmentJob, name: old-pilot, status: COMPLETED, created: 2026-01-01T00:00:00Z, ended: 2026-01-01T01:30:00Z}
      - {kind: SpeakerEnrollmentJob, name: running-1, status: IN_PROGRESS, created: 10m ago, ends: in 10m, outcome: FAILED, failure: {statusCode: 500, message: disk full}}
      - {kind: SpeakerEnrollmentJob, name: running-2, status: SUBMITTED, ends: in 1h}
      - {kind: FraudsterRegistrationJob, name: broken, status: FAILED, ended: 1d ago}
  - name: tw-staging
    status: PENDING
    kmsKey: alias/tw-domain-2
"""


def write_world(directory: Path, text: str = WORLD) -> Path:
    """The world file (and the file one of its objects reads) in ``directory``."""
    (directory / "body.json").write_text('{"from": "a file"}\n')
    path = directory / "world.yaml"
    path.write_text(text)
    return path


def jobs_by_name(client: Any, domain_id: str) -> dict[str, dict[str, Any]]:
    """Every job of both kinds in a domain, by JobName."""
    found = {}
    for operation in ("list_speaker_enrollment_jobs", "list_fraudster_registration_jobs"):
        for job in getattr(client, operation)(DomainId=domain_id)["JobSummaries"]:
            found[job["JobName"]] = job
    return found


def domains_by_name(client: Any) -> dict[str, dict[str, Any]]:
    return {d["Name"]: d for d in client.list_domains()["DomainSummaries"]}


def test_a_world_creates_what_it_declares(
    voiceid_sandbox: Sandbox, voiceid_client: Any, voiceid_s3_client: Any, tmp_path: Path
) -> None:
    """Knobs, KMS keys and aliases (one disabled), a bucket, recordings, objects of each body,
    manifests, domains with their status, watchlists and the jobs that already exist."""
    voiceid_sandbox.freeze_clock()
    now = voiceid_sandbox.now()
    described = voiceid_sandbox.seed_world(write_world(tmp_path))

    assert voiceid_sandbox.config.max_active_jobs == 2
    kms = voiceid_sandbox.client("kms")
    try:
        key = kms.describe_key(KeyId="alias/tw-domain")["KeyMetadata"]
        assert kms.describe_key(KeyId="alias/tw-domain-2")["KeyMetadata"]["KeyId"] == key["KeyId"]
        assert kms.describe_key(KeyId="alias/tw-off")["KeyMetadata"]["Enabled"] is False
    finally:
        kms.close()
    domains = domains_by_name(voiceid_client)
    assert {name: d["DomainStatus"] for name, d in domains.items()} == {
        "tw-prod": "ACTIVE",
        "tw-staging": "PENDING",
    }
    assert domains["tw-prod"]["ServerSideEncryptionConfiguration"]["KmsKeyId"] == key["Arn"]
    assert domains["tw-prod"]["Description"] == "The production domain"
    prod = domains["tw-prod"]["DomainId"]
    watchlists = voiceid_client.list_watchlists(DomainId=prod)["WatchlistSummaries"]
    assert sorted(w["Name"] for w in watchlists) == ["Default", "ring"]

    def body(key: str) -> bytes:
        data: bytes = voiceid_s3_client.get_object(Bucket="tw-input", Key=key)["Body"].read()
        return data

    with wave.open(io.BytesIO(body("audio/a.wav"))) as recording:
        assert (recording.getframerate(), recording.getsampwidth(), recording.getnchannels()) == (
            8000,
            2,
            1,
        )
    assert body("notes.txt") == b"hello"
    assert json.loads(body("raw.json")) == {"Version": "1.0", "SpeakerEnrollmentRequests": []}
    assert body("blob.bin") == b"\x00\x01\x02"
    assert body("from-file.json") == b'{"from": "a file"}\n'
    assert json.loads(body("m/fraudsters.json")) == {
        "Version": "1.0",
        "FraudsterRegistrationRequests": [
            {
                "RequestId": "req-0000001",
                "AudioSpecifications": [{"S3Uri": "s3://tw-input/audio/b.wav", "ChannelId": 0}],
            }
        ],
    }

    jobs = jobs_by_name(voiceid_client, prod)
    assert {name: job["JobStatus"] for name, job in jobs.items()} == {
        "old-pilot": "COMPLETED",
        "running-1": "IN_PROGRESS",
        "running-2": "SUBMITTED",
        "broken": "FAILED",
    }
    pilot = jobs["old-pilot"]
    assert pilot["CreatedAt"] == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert pilot["EndedAt"] == dt.datetime(2026, 1, 1, 1, 30, tzinfo=dt.UTC)
    assert jobs["running-1"]["JobProgress"]["PercentComplete"] == 50
    assert jobs["broken"]["FailureDetails"]["StatusCode"] == 400
    assert jobs["broken"]["EndedAt"].timestamp() == pytest.approx(now - 86400)
    assert "FailureDetails" not in jobs["running-1"]  # its failure is for when it ends
    assert [j["jobId"] for d in described["domains"] for j in d["jobs"]] == [
        jobs[name]["JobId"] for name in ("old-pilot", "broken", "running-1", "running-2")
    ]  # in the order they were created

    voiceid_sandbox.advance_clock(601)
    ended = jobs_by_name(voiceid_client, prod)
    assert ended["running-1"]["JobStatus"] == "FAILED"
    assert ended["running-1"]["FailureDetails"] == {"StatusCode": 500, "Message": "disk full"}
    assert ended["running-2"]["JobStatus"] == "IN_PROGRESS"  # past the first tenth of its hour
    assert voiceid_sandbox.output_uri(ended["running-1"]["JobId"]) is None  # it did no work


def test_seeding_a_world_twice_changes_nothing(
    voiceid_sandbox: Sandbox, voiceid_client: Any, tmp_path: Path
) -> None:
    """Domains, watchlists, keys and jobs are found again by name: nothing is made twice."""
    voiceid_sandbox.freeze_clock()
    path = write_world(tmp_path)
    first = voiceid_sandbox.seed_world(path)
    second = voiceid_sandbox.seed_world(path)
    assert second == first
    prod = domains_by_name(voiceid_client)["tw-prod"]["DomainId"]
    assert len(jobs_by_name(voiceid_client, prod)) == 4
    assert len(voiceid_client.list_domains()["DomainSummaries"]) == 2


def test_a_world_manifest_is_the_reconcilers_rendering_of_the_same_roster(
    voiceid_sandbox: Sandbox, voiceid_s3_client: Any, tmp_path: Path
) -> None:
    """The manifest a world writes from a roster is, byte for byte, what the reconciler
    renders from the same roster in a spec (the two cannot drift apart)."""
    voiceid_sandbox.seed_world(write_world(tmp_path))
    speakers = [
        CoreRequest("s-1", (("s3://tw-input/audio/a.wav", 0),)),
        CoreRequest("s-2", (("s3://tw-input/audio/b.wav", 1), ("s3://tw-input/audio/a.wav", 0))),
    ]
    fraudsters = [CoreRequest(None, (("s3://tw-input/audio/b.wav", 0),))]
    for key, expected in (
        ("m/speakers.json", core_render_manifest(JobKind.ENROLLMENT, speakers)),
        ("m/fraudsters.json", core_render_manifest(JobKind.REGISTRATION, fraudsters)),
    ):
        assert voiceid_s3_client.get_object(Bucket="tw-input", Key=key)["Body"].read() == expected


BAD_WORLD = """\
kmsKeys:
  - aliases: [alias/x]
    enabld: false
buckets: [Bad_Bucket, ok-bucket]
audio: [s3://ok-buckt/a.wav, s3://ok-bucket/]
manifests:
  - uri: s3://ok-bucket/m.json
    speakers:
      - {speakerId: same, audio: [s3://ok-bucket/a.wav]}
      - {speakerId: same, audio: []}
domains:
  - name: d1
    status: ACTIV
    kmsKey: alias/y
    watchlists: [Default]
    jobs:
      - {kind: SpeakerEnrollmentJob, name: j1, status: SUBMITTED, created: 2h ago, ends: in 1h}
      - {kind: SpeakerEnrollmentJob, name: j2, status: COMPLETED, ends: in 1h}
      - {kind: FraudsterRegistrationJob, name: j3, status: FAILED, ended: yesterday}
      - {kind: FraudsterRegistrationJob, name: j4, status: COMPLETED, failure: {message: x}}
  - name: d1
    name: d2
"""
BAD_LINES = [
    "3:5: kmsKeys[0].enabld: unknown field 'enabld'; did you mean 'enabled'?",
    "4:11: buckets[0]: must be a bucket name: 3-63 lowercase letters, digits, '.' or '-'",
    "5:9: audio[0]: bucket 'ok-buckt' is not one of the world's buckets; did you mean 'ok-bucket'?",
    "5:30: audio[1]: must name an object (s3://bucket/key), not a prefix",
    "10:21: manifests[0].speakers[1].speakerId: the same speakerId as manifests[0].speakers[0]",
    "10:34: manifests[0].speakers[1].audio: must have 1 to 10 audio files",
    "13:13: domains[0].status: must be one of ACTIVE, PENDING, SUSPENDED, not 'ACTIV'",
    "14:13: domains[0].kmsKey: alias/y is not an alias of the world's kmsKeys; did you mean "
    "'alias/x'?",
    "15:18: domains[0].watchlists[0]: every domain has its default watchlist already; list only "
    "the others",
    "17:56: domains[0].jobs[0].status: a job is SUBMITTED for the first tenth of its run (created "
    "to ends), then IN_PROGRESS: with these times it is IN_PROGRESS now (leave created out to "
    "have it chosen)",
    "18:67: domains[0].jobs[1].ends: only a job still running (SUBMITTED, IN_PROGRESS) has "
    "'ends'; a COMPLETED job says when it ended with ended:",
    "19:75: domains[0].jobs[2].ended: must be a time: now, '<n><s|m|h|d> ago', 'in <n><s|m|h|d>' "
    "or an ISO 8601 timestamp (2026-01-31T09:00:00Z)",
    "20:71: domains[0].jobs[3].failure: only a FAILED job (status or outcome) has a failure",
    "21:11: domains[1].name: domain d1 is given twice (first at domains[0])",
    "22:5: domains[1].name: duplicate key",
]


def test_every_problem_of_a_world_is_one_line_at_its_file_line_and_column(tmp_path: Path) -> None:
    """Unknown fields (with a guess), wrong values, dangling references, times that disagree
    and a key given twice: all at once, each at its place, no speaker id echoed."""
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_WORLD)
    with pytest.raises(WorldError) as refused:
        read_world(path).parse(now=time.time())
    assert refused.value.lines() == [f"{path}:{line}" for line in BAD_LINES]
    assert "same," not in str(refused.value)


def test_sandbox_serve_refuses_a_wrong_world_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sandbox serve --world`` with a wrong file: its lines on stderr, exit 1, no export."""
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_WORLD)
    assert main(["sandbox", "serve", "--world", str(path), "--port", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [f"{path}:{line}" for line in BAD_LINES]


def test_python_m_sandbox_refuses_a_wrong_world_in_one_line(tmp_path: Path) -> None:
    """``python -m reconciler.sandbox --world`` says what is wrong in one line, no traceback."""
    path = tmp_path / "bad.yaml"
    path.write_text("domains: [{name: d, status: ACTIV}]\n")
    result = subprocess.run(
        [sys.executable, "-m", "reconciler.sandbox", "--world", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{path}:1:11: domains[0]: a domain needs a KMS key: declare one under kmsKeys",
        f"{path}:1:29: domains[0].status: must be one of ACTIVE, PENDING, SUSPENDED, not 'ACTIV'",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", ": empty file: expected a world (a mapping of domains, buckets, ...)"),
        (b"\x00\x01", ": binary file (contains NUL bytes), not YAML"),
        (b"buckets: [\xff]\n", ": not UTF-8 (invalid byte 0xff)"),
        (b"buckets: []\n---\nbuckets: []\n", ":2:1: YAML: but found another document"),
        (b"domains: [\n", ":2:1: YAML: did not find expected node content"),
        (b"- a\n- b\n", ":1:1: must be a mapping (apiVersion, knobs, kmsKeys, buckets, audio, "),
        (b"domains: {name: x}\n", ":1:10: domains: must be a list of domains, not a mapping"),
        (
            b"buckets: !!python/object:os.system x\n",
            ":1:10: buckets: cannot read 'x' as os.system (could not determine a constructor "
            "for the tag 'tag:yaml.org,2002:python/object:os.system')",
        ),
        (
            b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + b"".join(
                f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n".encode()
                for p, c in zip("abcdefg", "bcdefgh", strict=True)
            ),
            ":1:1: nesting too deep or too large (an alias bomb?)",
        ),
    ],
    ids=[
        "empty",
        "binary",
        "latin-1",
        "two-documents",
        "broken",
        "list",
        "wrong-section",
        "python-tag",
        "alias-bomb",
    ],
)
def test_a_hostile_world_file_is_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    """A world file that is not a YAML mapping is refused with one line, never a traceback."""
    path = tmp_path / "world.yaml"
    path.write_bytes(content)
    with pytest.raises(WorldError) as refused:
        read_world(path).parse(now=time.time())
    (line,) = refused.value.lines()
    assert line.startswith(f"{path}{expected}"), line


def test_a_world_file_that_is_not_a_file_is_one_line(tmp_path: Path) -> None:
    """A missing file and a directory are one line naming them."""
    for path, said in (
        (tmp_path / "missing.yaml", "no such file"),
        (tmp_path, "not a regular file"),
    ):
        with pytest.raises(WorldError) as refused:
            read_world(path)
        assert refused.value.lines() == [f"{path}: {said}"]


QUOTA_WORLD = """\
knobs: {max_active_jobs: 1}
kmsKeys: [{aliases: [alias/tw-quota]}]
domains:
  - name: busy
    jobs:
      - {kind: SpeakerEnrollmentJob, name: first, status: IN_PROGRESS}
      - {kind: SpeakerEnrollmentJob, name: second, status: IN_PROGRESS}
"""


def test_a_refusal_while_seeding_is_located_in_the_world_file(
    voiceid_sandbox: Sandbox, tmp_path: Path
) -> None:
    """What only the sandbox can refuse (a quota) is reported at the element's line."""
    path = write_world(tmp_path, QUOTA_WORLD)
    with pytest.raises(WorldError) as refused:
        voiceid_sandbox.seed_world(path)
    assert refused.value.lines() == [
        f"{path}:7:9: domains[0].jobs[1]: ServiceQuotaExceededException: the domain would run "
        "2 SpeakerEnrollment jobs at once; the quota (knob max_active_jobs) is 1"
    ]


def test_sandbox_seed_seeds_a_running_sandbox_and_locates_its_refusals(
    voiceid_sandbox: Sandbox,
    voiceid_client: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``sandbox seed FILE`` sends the world (a file's body inlined) to a running sandbox,
    prints what is there as JSON, and a refusal of the sandbox at the file's line."""
    url = voiceid_sandbox.endpoint_url
    path = write_world(tmp_path)
    assert main(["sandbox", "seed", str(path), "--endpoint-url", url]) == 0
    described = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in described["domains"]] == ["tw-prod", "tw-staging"]
    assert described["objects"] == 8
    assert sorted(domains_by_name(voiceid_client)) == ["tw-prod", "tw-staging"]
    s3 = voiceid_sandbox.client("s3")
    try:
        got = s3.get_object(Bucket="tw-input", Key="from-file.json")["Body"].read()
    finally:
        s3.close()
    assert got == b'{"from": "a file"}\n'

    quota = tmp_path / "quota"
    quota.mkdir()
    quota_path = write_world(quota, QUOTA_WORLD)
    assert main(["sandbox", "seed", str(quota_path), "--endpoint-url", url]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{quota_path}:7:9: domains[0].jobs[1]: ServiceQuotaExceededException: the domain would "
        "run 2 SpeakerEnrollment jobs at once; the quota (knob max_active_jobs) is 1"
    ]


@pytest.mark.parametrize(
    ("argv", "env", "said"),
    [
        ([], {}, "sandbox seed: which sandbox? Give --endpoint-url, or export the lines"),
        (["--endpoint-url", "nonsense"], {}, "sandbox seed: 'nonsense' is not a URL"),
        ([], {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, "sandbox seed: no sandbox answers at"),
    ],
    ids=["no-endpoint", "not-a-url", "nothing-there"],
)
def test_sandbox_seed_without_a_sandbox_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    said: str,
) -> None:
    """No endpoint, a wrong one, or nothing answering: one line and exit 1."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["sandbox", "seed", str(write_world(tmp_path)), *argv]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"voiceid-reconciler: {said}"), line


def test_a_world_warns_of_a_roster_recording_nothing_writes(tmp_path: Path) -> None:
    """A manifest's audio that no recording or object of the world writes is a warning (the
    job would fail that request), located at the URI."""
    path = write_world(
        tmp_path,
        "buckets: [tw-input]\n"
        "manifests:\n"
        "  - uri: s3://tw-input/m.json\n"
        "    fraudsters: [{audio: [s3://tw-input/missing.wav]}]\n",
    )
    world = read_world(path)
    assert world.warning_lines(world.parse(now=time.time())) == [
        f"{path}:4:27: manifests[0].fraudsters[0].audio[0]: warning: no recording or object of "
        "this world is at this URI: the job will fail this request unless it exists already"
    ]


def test_the_world_names_follow_the_voiceid_model() -> None:
    """The patterns a world checks names and role ARNs with are the botocore model's."""
    from reconciler.sandbox import world

    for operation, member in (
        ("CreateDomain", "Name"),
        ("CreateWatchlist", "Name"),
        ("StartSpeakerEnrollmentJob", "JobName"),
        ("StartFraudsterRegistrationJob", "JobName"),
    ):
        model = operation_model(operation)
        assert model is not None
        assert model.input_shape is not None
        assert model.input_shape.members[member].metadata["pattern"] == world._NAME
    model = operation_model("StartSpeakerEnrollmentJob")
    assert model is not None
    assert model.input_shape is not None
    assert model.input_shape.members["DataAccessRoleArn"].metadata["pattern"] == world._ROLE_ARN


def test_the_world_is_sent_as_json_with_its_files_inlined(tmp_path: Path) -> None:
    """What ``sandbox seed`` sends: timestamps as ISO text and a ``file:`` body as base64."""
    wire = read_world(write_world(tmp_path)).wire()
    json.dumps(wire)  # JSON all through
    assert wire["objects"][3] == {
        "uri": "s3://tw-input/from-file.json",
        "base64": base64.b64encode(b'{"from": "a file"}\n').decode(),
    }
    assert wire["domains"][0]["jobs"][0]["created"] == "2026-01-01T00:00:00+00:00"


# --- the example world and its specs, end to end --------------------------------------------------


def _serve_exports(proc: subprocess.Popen[str]) -> tuple[dict[str, str], list[str]]:
    """The ``export`` lines and the comment lines ``sandbox serve`` prints before its banner."""
    exports: dict[str, str] = {}
    comments: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            exports[name] = value
        elif line.startswith("# Voice ID sandbox"):
            return exports, comments
        elif line.startswith("#"):
            comments.append(line.strip())
    raise AssertionError(f"serve printed no banner; got {exports} {comments}")


def test_the_example_world_serves_and_the_reconciler_plans_against_it(tmp_path: Path) -> None:
    """``sandbox serve --world examples/sandbox/world.yaml``, then through the printed env:
    ``plan`` of the example specs (one start, one queued behind the job started by hand, one
    blocked by the SUSPENDED domain), ``aws voice-id`` listing the world, and ``sandbox seed``
    of the same file changing nothing."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VOICEID_"))}
    base.update({"PYTHONPATH": str(REPO), "AWS_CONFIG_FILE": os.devnull, "AWS_PAGER": ""})
    base["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    command = [sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0"]
    with subprocess.Popen(
        [*command, "--world", str(EXAMPLE_WORLD)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base,
        cwd=tmp_path,
    ) as proc:
        try:
            exports, comments = _serve_exports(proc)
            env = {**base, **exports}

            def run(*argv: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    argv, env=env, capture_output=True, text=True, timeout=120, check=False
                )

            state = str(tmp_path / "state.json")
            planned = run(
                sys.executable, "-m", "reconciler", "plan", str(EXAMPLE_SPECS),
                "--state", state, "--format", "json",
            )  # fmt: skip
            assert planned.returncode == 0, planned.stderr
            actions = {a["name"]: a for a in json.loads(planned.stdout)["actions"]}
            assert {name: (a["action"], a["code"]) for name, a in actions.items()} == {
                "emea-callers": ("start", "new"),
                "known-fraudsters": ("queued", "domain-busy"),
                "emea-callers-staging": ("blocked", "domain-not-active"),
            }

            listed = run(*aws_cli(), "voice-id", "list-domains", "--output", "json")
            assert listed.returncode == 0, listed.stderr
            domains = {d["Name"]: d for d in json.loads(listed.stdout)["DomainSummaries"]}
            assert {n: d["DomainStatus"] for n, d in domains.items()} == {
                "contact-center-prod": "ACTIVE",
                "contact-center-staging": "SUSPENDED",
            }
            prod = domains["contact-center-prod"]["DomainId"]
            assert any(
                c.startswith(f"# domain contact-center-prod {prod} ACTIVE") for c in comments
            )

            seeded = run(sys.executable, "-m", "reconciler", "sandbox", "seed", str(EXAMPLE_WORLD))
            assert seeded.returncode == 0, seeded.stderr
            again = {d["name"]: d["domainId"] for d in json.loads(seeded.stdout)["domains"]}
            assert again == {name: d["DomainId"] for name, d in domains.items()}
            jobs = run(
                *aws_cli(), "voice-id", "list-fraudster-registration-jobs",
                "--domain-id", prod, "--output", "json",
            )  # fmt: skip
            assert jobs.returncode == 0, jobs.stderr
            summaries = json.loads(jobs.stdout)["JobSummaries"]
            assert [(j["JobName"], j["JobStatus"]) for j in summaries] == [
                ("manual-fraud-import", "IN_PROGRESS")
            ]
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr


# --- docs/sandbox.md holds every knob and every world field -------------------------------------


def test_docs_sandbox_lists_every_knob_and_every_world_field() -> None:
    """Each SandboxConfig knob and each field of a world file has its row in docs/sandbox.md."""
    text = DOCS.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([^`]+)`", text, flags=re.MULTILINE))
    knobs = set(SandboxConfig.__dataclass_fields__)
    assert knobs - rows == set(), "knobs without a row in docs/sandbox.md"
    fields = {
        f"{prefix}.{name}" if prefix else name for prefix, names in FIELDS.items() for name in names
    }
    assert fields - rows == set(), "world fields without a row in docs/sandbox.md"


def test_docs_sandbox_example_world_is_the_repositorys() -> None:
    """The world shown in docs/sandbox.md is examples/sandbox/world.yaml, which checks."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    example = EXAMPLE_WORLD.read_text(encoding="utf-8")
    assert any(block.strip() in example for block in blocks if "kmsKeys:" in block)
    world = read_world(EXAMPLE_WORLD)
    assert world.warning_lines(world.parse(now=time.time())) == []


def test_docs_sandbox_gives_each_knobs_default() -> None:
    """The default column of docs/sandbox.md's knob table is SandboxConfig's (as JSON)."""
    text = DOCS.read_text(encoding="utf-8")
    defaults = SandboxConfig().to_dict()
    documented = {
        name: json.loads(default)
        for name, default in re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", text, flags=re.MULTILINE)
        if name in defaults
    }
    assert documented == defaults


def test_an_object_body_file_that_is_not_a_regular_file_is_one_line(tmp_path: Path) -> None:
    """``file:`` naming a FIFO or a directory is refused at its line (never read: a FIFO would
    block the command), as is a file that does not exist."""
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dir").mkdir()
    path = tmp_path / "world.yaml"
    path.write_text(
        "buckets: [tw-input]\n"
        "objects:\n"
        "  - {uri: s3://tw-input/a, file: pipe}\n"
        "  - {uri: s3://tw-input/b, file: dir}\n"
        "  - {uri: s3://tw-input/c, file: missing.json}\n"
        "  - {uri: s3://tw-input/d, file: ../outside.json}\n"
    )
    with pytest.raises(WorldError) as refused:
        read_world(path).parse(now=time.time())
    assert refused.value.lines() == [
        f"{path}:3:34: objects[0].file: cannot read pipe: not a regular file",
        f"{path}:4:34: objects[1].file: cannot read dir: not a regular file",
        f"{path}:5:34: objects[2].file: cannot read missing.json: No such file or directory",
        f"{path}:6:34: objects[3].file: must be a path relative to the world file, inside its "
        "directory",
    ]
