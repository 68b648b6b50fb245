"""A hostile world's data (issue 31): personal data never leaves the process, files are read only
inside the repository, odd output files and state times are one line or a warning, never a
traceback, and a spec may not take the name of another spec's part."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.core import redact as redaction
from reconciler.core.errors import SpecErrors, StateError
from reconciler.core.jobkinds.enrollment import KIND as ENROLLMENT_KIND
from reconciler.core.jobs import (
    UNKNOWN,
    Failure,
    MalformedOutput,
    check_output,
    failed_requests,
    result_counts,
)
from reconciler.core.loading import load, load_specs
from reconciler.core.redact import MASK, MAX_TEXT, redact
from reconciler.core.state import State
from reconciler.core.statefile import parse_state
from reconciler.sandbox import Sandbox
from tests.support import Receiver, World, build_world

ROLE = "arn:aws:iam::123456789012:role/R"
SPEAKER = "cust-7731-zq"
"""A planted speaker id: it must never leave the process."""
AUDIO_KEY = "recordings/alice-smith-7731.wav"


def _spec(
    path: Path,
    input_yaml: str,
    *,
    name: str | None = None,
    domain: str = "d",
    bucket: str = "bkt",
    kms: str = "k",
    role: str = ROLE,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
        f"metadata: {{name: {name or path.stem}}}\n"
        f"spec:\n  domain: {domain}\n  dataAccessRoleArn: {role}\n"
        f"  input:\n{input_yaml}"
        f"  output: {{s3Uri: 's3://{bucket}/output/', kmsKeyId: {kms}}}\n"
    )
    return path


def _repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _clean(*texts: str, planted: tuple[str, ...] = (SPEAKER, AUDIO_KEY)) -> None:
    for text in texts:
        assert "Traceback" not in text
        for value in planted:
            assert value not in text, f"{value!r} leaked: {text}"


# --- the filesystem: specs are read only inside the repository -------------------------------


def _evil(tmp_path: Path) -> Path:
    """A repository whose specs/evil.yaml links to a spec outside it, with a roster beside
    the target; returns the repository."""
    root = _repository(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "r.csv").write_text(f"speakerId,audio\n{SPEAKER},s3://bkt/{AUDIO_KEY}\n")
    _spec(
        outside / "evil.yaml",
        "    speakersFile: r.csv\n    stagingUri: s3://bkt/staging/\n",
        name="evil",
    )
    (root / "specs").mkdir()
    (root / "specs" / "evil.yaml").symlink_to(Path("../../outside/evil.yaml"))
    return root


def test_a_spec_linked_outside_the_repository_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """specs/evil.yaml -> ../../outside/evil.yaml is one error naming the link, found in a
    directory or named as a PATH; the spec and the roster beside its target are never read."""
    root = _evil(tmp_path)
    monkeypatch.chdir(root)
    for path in ("specs", "specs/evil.yaml"):
        status, out, err = _run(capsys, "validate", path)
        assert status == EXIT_ERROR
        assert out == ""
        assert err.splitlines()[0] == (
            "specs/evil.yaml: a symbolic link to a file outside the repository "
            f"({tmp_path.resolve() / 'outside' / 'evil.yaml'}); not read"
        )
        _clean(err)
    status, out, err = _run(capsys, "plan", "specs", "--offline", "--state", "s.json")
    assert status == EXIT_ERROR
    assert "outside the repository" in err
    assert not (root / "s.json").exists()


def test_a_spec_linked_inside_the_repository_is_read_with_the_roster_beside_its_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link held inside the repository is followed (a shared spec), its roster found beside
    the file it leads to: resolved, then held to the repository root."""
    root = _repository(tmp_path)
    (root / "shared").mkdir()
    (root / "shared" / "r.csv").write_text("speakerId,audio\nc-1,s3://bkt/a.wav\n")
    _spec(
        root / "shared" / "a.yaml",
        "    speakersFile: r.csv\n    stagingUri: s3://bkt/staging/\n",
        name="a",
    )
    (root / "specs").mkdir()
    (root / "specs" / "a.yaml").symlink_to(Path("../shared/a.yaml"))
    monkeypatch.chdir(root)
    (spec,) = load([Path("specs")])
    assert str(spec.location.path) == "specs/a.yaml"
    assert [r.speaker_id for r in spec.roster or ()] == ["c-1"]


def test_a_roster_of_a_linked_spec_is_held_to_the_repository_of_the_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec linked inside the repository whose roster (beside its target) leads outside the
    repository the link is in is refused, even when the target's own tree has no .git."""
    root = _repository(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "r.csv").write_text("speakerId,audio\nc-1,s3://bkt/a.wav\n")
    (root / "shared").mkdir()
    (root / "shared" / "r.csv").symlink_to(outside / "r.csv")
    _spec(
        root / "shared" / "a.yaml",
        "    speakersFile: r.csv\n    stagingUri: s3://bkt/staging/\n",
        name="a",
    )
    monkeypatch.chdir(root)
    with pytest.raises(SpecErrors) as info:
        load([Path("shared")])
    assert [e.message for e in info.value.errors] == [
        "roster file 'r.csv' is outside the repository"
    ]


def test_a_directory_linked_outside_the_repository_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory inside a PATH, or the PATH itself, that is a link out of the repository is
    one error naming it, never silently skipped nor read; a link to a directory inside the
    repository is not walked (as before)."""
    root = _evil(tmp_path)
    (root / "specs" / "evil.yaml").unlink()
    team = tmp_path / "outside" / "team"
    team.mkdir()
    (tmp_path / "outside" / "evil.yaml").rename(team / "evil.yaml")
    (root / "specs" / "team").symlink_to(Path("../../outside/team"))
    (root / "inside").mkdir()
    (root / "specs" / "again").symlink_to(Path("../inside"))
    (root / "linked").symlink_to(Path("../outside/team"))
    monkeypatch.chdir(root)
    status, _out, err = _run(capsys, "validate", "specs")
    assert status == EXIT_ERROR
    assert err.splitlines() == [
        "specs/team: a symbolic link to a directory outside the repository "
        f"({team.resolve()}); not read"
    ]
    status, _out, err = _run(capsys, "validate", "linked")
    assert status == EXIT_ERROR
    assert err.startswith("linked: a symbolic link to a directory outside the repository")


# --- personal data in what parsers say ----------------------------------------------------


def test_a_csv_roster_without_its_header_line_is_named_without_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV roster whose first line is a speaker: validate says so at file:1:1 in text, JSON
    and GitHub annotations, and prints neither the speaker id nor the audio URI."""
    root = _repository(tmp_path)
    (root / "specs").mkdir()
    (root / "specs" / "r.csv").write_text(f"{SPEAKER},s3://bkt/{AUDIO_KEY}\nc-2,s3://bkt/b.wav\n")
    _spec(root / "specs" / "a.yaml", "    speakersFile: r.csv\n    stagingUri: s3://bkt/s/\n")
    monkeypatch.chdir(root)
    expected = (
        "specs/r.csv:1:1: CSV header must be audio,speakerId[,channel]; the first line has no "
        "column name (2 fields, not shown: a roster without its header line?)"
    )
    status, out, err = _run(capsys, "validate", "specs")
    assert status == EXIT_ERROR
    assert err.splitlines()[0] == expected
    for form in ("json", "github"):
        status, out, err = _run(capsys, "validate", "specs", "--format", form)
        assert status == EXIT_ERROR
        assert "the first line has no column name" in out + err
        _clean(out, err)
    (root / "specs" / "r.csv").write_text(f"speakerId,audio,{SPEAKER}\n")
    status, out, err = _run(capsys, "validate", "specs")
    assert "got speakerId,audio and 1 other field" in err
    _clean(out, err)


def test_a_yaml_roster_keyed_by_speaker_id_is_named_without_its_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A YAML roster (a file, or inline) keyed by speaker id: a duplicate key, an unknown field
    and a value YAML cannot read are located, never quoted; a spec's own duplicate key still
    is."""
    root = _repository(tmp_path)
    specs = root / "specs"
    specs.mkdir()
    (specs / "r.yaml").write_text(
        f"{SPEAKER}: {{audio: [s3://bkt/a.wav]}}\n{SPEAKER}: {{audio: [s3://bkt/b.wav]}}\n"
    )
    _spec(specs / "a.yaml", "    speakersFile: r.yaml\n    stagingUri: s3://bkt/s/\n")
    (specs / "l.yaml").write_text(f"- {{speakerId: c-1, audio: [s3://bkt/a.wav], {SPEAKER}: 1}}\n")
    _spec(specs / "b.yaml", "    speakersFile: l.yaml\n    stagingUri: s3://bkt/s/\n")
    _spec(
        specs / "c.yaml",
        f"    speakers:\n      - {{speakerId: c-1, audio: [s3://bkt/a.wav], {SPEAKER}: 1}}\n"
        "    stagingUri: s3://bkt/s/\n",
    )
    _spec(
        specs / "d.yaml",
        "    speakers:\n      - {speakerId: 2031-13-01, audio: [s3://bkt/a.wav]}\n"
        "    stagingUri: s3://bkt/s/\n",
    )
    _spec(
        specs / "e.yaml",
        f"    speakers:\n      - {{speakerId: c-1, audio: [s3://bkt/a.wav]}}\n"
        f"      - {{speakerId: c-2, audio: [s3://bkt/{AUDIO_KEY}], audio: []}}\n"
        "    stagingUri: s3://bkt/s/\n",
    )
    monkeypatch.chdir(root)
    status, out, err = _run(capsys, "validate", "specs")
    assert status == EXIT_ERROR
    lines = err.splitlines()
    assert lines[:-1] == [
        "specs/c.yaml:9:51: spec.input.speakers[0]: unknown field in a roster (not shown)",
        "specs/d.yaml:9:21: YAML: cannot read a roster value (not shown) as timestamp; quote "
        "it if it is text",
        "specs/e.yaml:10:77: YAML: duplicate key 'audio'",
        "specs/l.yaml:1:45: [0]: unknown field in a roster (not shown)",
        "specs/r.yaml:2:1: YAML: duplicate key in a roster (not shown)",
    ]
    _clean(out, err, planted=(SPEAKER, AUDIO_KEY, "2031-13-01"))


# --- personal data in what Voice ID says ---------------------------------------------------


def test_redaction_by_the_rosters_in_memory_and_by_pattern() -> None:
    """The rosters' speaker ids and audio keys and names go where a word starts; every S3 key
    goes whatever the rosters (its bucket kept); text is cut at MAX_TEXT."""
    from reconciler.core.roster import Request

    MASK.use([[Request(SPEAKER, ((f"s3://bkt/{AUDIO_KEY}", 0),))]])
    said = (
        f"Speaker {SPEAKER}: no voice in alice-smith-7731.wav (bkt/{AUDIO_KEY}), id={SPEAKER}x; "
        f"x{SPEAKER} s3://other-bucket/calls/2026/bob.wav. arn:aws:s3:::b.k/x/y "
        "https://bkt.s3.eu-west-1.amazonaws.com/a/b.wav S3://UP/K"
    )
    assert redact(said) == (
        "Speaker <speaker>: no voice in <audio> (bkt/<audio>), id=<speaker>x; "
        f"x{SPEAKER} s3://other-bucket/<key>. arn:aws:s3:::b.k/<key> "
        "https://bkt.s3.eu-west-1.amazonaws.com/<key> S3://UP/<key>"
    )
    assert redact("x" * (MAX_TEXT + 5)) == "x" * MAX_TEXT + "…"
    MASK.clear()
    assert redact(f"Speaker {SPEAKER}") == f"Speaker {SPEAKER}"  # no roster: no speaker known
    assert Failure(message=f"s3://bkt/{AUDIO_KEY} failed").message == "s3://bkt/<key> failed"


def test_loading_sets_the_rosters_of_this_command_only(tmp_path: Path) -> None:
    """A load's rosters replace the earlier load's; load_specs (status) reads its specs'
    rosters only when a text needs them."""
    first = _spec(
        tmp_path / "one" / "a.yaml",
        f"    speakers: [{{speakerId: {SPEAKER}, audio: [s3://bkt/a.wav]}}]\n"
        "    stagingUri: s3://bkt/s/\n",
    )
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "r.csv").write_text("speakerId,audio\nother-1,s3://bkt/b.wav\n")
    _spec(tmp_path / "two" / "b.yaml", "    speakersFile: r.csv\n    stagingUri: s3://bkt/s/\n")
    load([first])
    assert redact(f"{SPEAKER} other-1") == "<speaker> other-1"
    load_specs([tmp_path / "two"])
    assert redact(f"{SPEAKER} other-1") == f"{SPEAKER} <speaker>"


def test_a_state_with_an_unredacted_failure_is_read_redacted() -> None:
    """A failure message an earlier version wrote verbatim is redacted as it is read (and so
    written back redacted)."""
    state = State()
    text = state.to_json().replace(
        '"specs": {}',
        '"specs": {"SpeakerEnrollmentJob/a": {"domainId": "d", "hash": "' + "a" * 64 + '", '
        '"history": [], "jobs": [{"attempt": 1, "domainId": "d", "failure": {"message": '
        f'"no audio s3://bkt/{AUDIO_KEY}", "statusCode": 400}}, "hash": "' + "a" * 64 + '", '
        '"jobName": "a-x", "kind": "SpeakerEnrollmentJob", "status": "FAILED"}], '
        '"kind": "SpeakerEnrollmentJob", "name": "a", "request": null}}',
    )
    read = parse_state(text, "s.json")
    record = read.specs["SpeakerEnrollmentJob/a"].jobs[0]
    assert record.failure is not None
    assert record.failure.message == "no audio s3://bkt/<key>"
    assert AUDIO_KEY not in read.to_json()


def _seed_job(world: World, job: dict[str, Any]) -> dict[str, Any]:
    """A job of the world's demo domain, as Voice ID shows it (its JobId)."""
    seeded = world.sandbox.seed_world(
        {
            "apiVersion": "voiceid-sandbox/v1",
            "kmsKeys": [{"aliases": [world.kms_alias]}],
            "domains": [{"name": "voiceid-sandbox-demo", "jobs": [job]}],
        }
    )
    (found,) = [j for d in seeded["domains"] for j in d["jobs"] if j["name"] == job["name"]]
    return dict(found)


def _job_name(capsys: pytest.CaptureFixture[str], specs: Path, state: Path) -> str:
    status, out, err = _run(
        capsys, "plan", str(specs), "--state", str(state), "--format", "json", "--tps", "0"
    )
    assert status in (EXIT_OK, 2), err
    (action,) = json.loads(out)["actions"]
    name: str = action["jobName"]
    return name


def test_a_failed_jobs_message_is_redacted_everywhere(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Voice ID's FailureDetails.Message naming a roster's speaker and audio never reaches the
    state, the plans (text, JSON, Markdown), status (text, JSON) or a webhook: the speaker
    and the recording are placeholders, another S3 location keeps its bucket only."""
    world = build_world(voiceid_env)
    audio = world.audio[0]
    specs = tmp_path / "specs"
    _spec(
        specs / "roster.yaml",
        f"    speakers:\n      - {{speakerId: {SPEAKER}, audio: ['{audio}']}}\n"
        f"    stagingUri: s3://{world.bucket}/staging/\n",
        domain="voiceid-sandbox-demo",
        bucket=world.bucket,
        kms=world.kms_alias,
        role=world.role_arn,
    )
    state = tmp_path / "state.json"
    name = _job_name(capsys, specs, state)
    message = (
        f"Speaker {SPEAKER} has no usable audio in {audio} "
        f"(see s3://{world.bucket}/{AUDIO_KEY}.log)"
    )
    _seed_job(
        world,
        {
            "kind": "SpeakerEnrollmentJob",
            "name": name,
            "status": "FAILED",
            "failure": {"statusCode": 400, "message": message},
        },
    )
    receiver = Receiver()
    try:
        hook = f"json://127.0.0.1:{receiver.port}/hook"
        outputs = []
        _status, out, err = _run(
            capsys, "apply", str(specs), "--state", str(state), "--tps", "0", "--notify", hook
        )
        outputs += [out, err]
        for form in ("text", "json", "markdown"):
            _status, out, err = _run(
                capsys, "plan", str(specs), "--state", str(state), "--format", form, "--tps", "0"
            )
            outputs += [out, err]
        for form in ("text", "json"):
            _status, out, err = _run(
                capsys, "status", str(specs), "--state", str(state), "--format", form
            )
            outputs += [out, err]
        payloads = json.dumps(receiver.payloads())
    finally:
        receiver.close()
    recorded = state.read_text()
    shown = "Speaker <speaker> has no usable audio in"
    assert shown in recorded
    assert f"(see s3://{world.bucket}/<key>)" in recorded
    assert shown in payloads
    assert any(shown in text for text in outputs)
    planted = (SPEAKER, AUDIO_KEY, audio.partition(f"{world.bucket}/")[2])
    _clean(recorded, payloads, *outputs, planted=planted)


# --- personal data in the errors Voice ID and S3 answer -----------------------------------


Answer = tuple[int, dict[str, str], bytes]


class _Interposer:
    """An HTTP server on the loopback between the product and the sandbox: a request
    ``refuse`` answers (method, path, headers) is answered so, any other is forwarded to the
    sandbox as it came. So an error of Voice ID's or S3's may say what a test plants in it,
    through boto3's real HTTP path."""

    def __init__(self, sandbox: Sandbox, refuse: Callable[[str, str, Any], Answer | None]) -> None:
        target = urlsplit(sandbox.endpoint_url)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = refuse(self.command, self.path, self.headers)
                if answer is None:
                    connection = http.client.HTTPConnection(
                        target.hostname or "", target.port, timeout=30
                    )
                    try:
                        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                        connection.request(self.command, self.path, body, headers)
                        response = connection.getresponse()
                        content = response.read()
                        passed = {
                            k: v
                            for k, v in response.getheaders()
                            if k.lower()
                            not in ("transfer-encoding", "connection", "content-length")
                        }
                        answer = (response.status, passed, content)
                    finally:
                        connection.close()
                status, headers, content = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_HEAD(self) -> None:
                self._handle()

            def log_message(self, fmt: str, *args: Any) -> None:
                del fmt, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _said(bucket: str) -> str:
    """What a hostile or careless service says: the roster's speaker and recording, by key
    alone (only the roster knows it) and as a URI."""
    return (
        f"not authorized for speaker {SPEAKER} ({AUDIO_KEY}, s3://{bucket}/{AUDIO_KEY}); "
        f"User: arn:aws:sts::123456789012:assumed-role/R/{SPEAKER}"
    )


def _voiceid_refusal(operation: str, code: str, message: str) -> Callable[..., Answer | None]:
    def refuse(method: str, path: str, headers: Any) -> Answer | None:
        del method, path
        if headers.get("X-Amz-Target") != f"VoiceID.{operation}":
            return None
        body = json.dumps({"__type": code, "message": message}).encode()
        return 400, {"Content-Type": "application/x-amz-json-1.0"}, body

    return refuse


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("ListSpeakerEnrollmentJobs", "AccessDeniedException"),
        ("ListDomains", "ValidationException"),
        ("ListSpeakerEnrollmentJobs", "SomeNewException"),
    ],
)
def test_an_error_message_of_voice_id_is_redacted_everywhere(
    voiceid_env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    operation: str,
    code: str,
) -> None:
    """An error Voice ID answers whose message names a roster's speaker and recording (as AWS's
    messages quote a request's values and a principal's session name): plan (text, Markdown)
    and apply stop with one line naming the operation and the code, the speaker and the
    recording placeholders there, and neither in stdout, stderr (the logs), nor the state."""
    world = build_world(voiceid_env)
    specs = tmp_path / "specs"
    _spec(
        specs / "roster.yaml",
        f"    speakers:\n      - {{speakerId: {SPEAKER}, audio: ['s3://{world.bucket}/{AUDIO_KEY}']}}\n"
        f"    stagingUri: s3://{world.bucket}/staging/\n",
        domain="voiceid-sandbox-demo",
        bucket=world.bucket,
        kms=world.kms_alias,
        role=world.role_arn,
    )
    state = tmp_path / "state.json"
    interposer = _Interposer(voiceid_env, _voiceid_refusal(operation, code, _said(world.bucket)))
    monkeypatch.setenv("AWS_ENDPOINT_URL_VOICE_ID", interposer.url)
    outputs = []
    try:
        for argv in (
            ("plan", str(specs), "--state", str(state), "--tps", "0"),
            ("apply", str(specs), "--state", str(state), "--tps", "0", "--log-format", "json"),
            ("plan", str(specs), "--state", str(state), "--tps", "0", "--format", "markdown"),
        ):
            status, out, err = _run(capsys, *argv)
            assert status == EXIT_ERROR, (argv, out, err)
            (line,) = [x for x in err.splitlines() if x.startswith("voiceid-reconciler:")]
            assert f"{operation}: {code}: not authorized for speaker <speaker> (<audio>" in line
            assert (
                f"s3://{world.bucket}/<audio>); User: arn:aws:sts::123456789012:assumed-role/R/<speaker>"
                in line
            )
            outputs += [out, err]
    finally:
        interposer.close()
    recorded = state.read_text() if state.exists() else ""
    _clean(recorded, *outputs)


def test_an_error_message_of_s3_is_redacted_in_the_storage_error(
    voiceid_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 refusing a staged manifest with a message that names a roster's speaker and
    recording: the StorageError made of it holds placeholders (its code as S3 said it)."""
    from reconciler.adapters.aws import make_client
    from reconciler.adapters.objects import Manifests
    from reconciler.core.errors import StorageError
    from reconciler.core.roster import Request

    said = _said("bkt").replace("&", "&amp;")

    def refuse(method: str, path: str, headers: Any) -> Answer | None:
        del headers
        if method == "HEAD":
            return 404, {}, b""
        if method == "PUT" and path.startswith("/bkt/staging/"):
            xml = f"<Error><Code>AccessDenied</Code><Message>{said}</Message></Error>"
            return 403, {"Content-Type": "application/xml"}, xml.encode()
        return None

    interposer = _Interposer(voiceid_env, refuse)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", interposer.url)
    MASK.use([[Request(SPEAKER, ((f"s3://bkt/{AUDIO_KEY}", 0),))]])
    client = make_client("s3")
    try:
        with pytest.raises(StorageError) as info:
            Manifests(client).stage(
                "s3://bkt/staging/" + "a" * 64 + ".json", b"{}", kms_key_id=None
            )
    finally:
        client.close()
        interposer.close()
    message = str(info.value)
    assert info.value.code == "AccessDenied"
    assert "not authorized for speaker <speaker> (<audio>, s3://bkt/<audio>)" in message
    _clean(message)


@pytest.mark.parametrize("form", ["json", "console"])
def test_every_string_of_a_log_event_is_redacted(
    capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """The logging's last line of defence: a log call handed a roster's speaker or recording
    (in a value, a nested value or key, an exception) writes placeholders, in JSON and on a
    console; numbers stay numbers."""
    import structlog

    from reconciler.cli.logs import configure_logging
    from reconciler.core.roster import Request

    configure_logging(form)
    MASK.use([[Request(SPEAKER, ((f"s3://bkt/{AUDIO_KEY}", 0),))]])
    structlog.get_logger("test").warning(
        "test.event",
        detail=f"speaker {SPEAKER}",
        nested={"uris": [f"s3://bkt/{AUDIO_KEY}", "s3://other/calls/x.wav"], SPEAKER: 1},
        error=ValueError(f"no {AUDIO_KEY}"),
        count=3,
    )
    err = capsys.readouterr().err
    _clean(err)
    if form == "json":
        event = json.loads(err)
        assert event["detail"] == "speaker <speaker>"
        assert event["nested"] == {"uris": ["s3://bkt/<audio>", "s3://other/<key>"], "<speaker>": 1}
        assert event["error"] == "no <audio>"
        assert event["count"] == 3
    else:
        assert 'detail="speaker <speaker>"' in err
        assert "nested.<speaker>=1" in err


# --- job output files of another shape ----------------------------------------------------


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (["x"], "the document must be an object"),
        ({"SuccessfulEnrollments": ["x"]}, "SuccessfulEnrollments[0] must be an object"),
        ({"Errors": 5}, "Errors must be a list"),
        (
            {"Errors": [{"ErrorCode": {"x": 1}}]},
            "Errors[0].ErrorCode must be an integer or a string",
        ),
        (
            {"SuccessfulRegistrations": [{"RegistrationStatus": 7}]},
            "SuccessfulRegistrations[0].RegistrationStatus must be a string",
        ),
        ("text", "the document must be an object"),
    ],
)
def test_an_output_file_of_another_shape_is_named_and_not_read(document: Any, problem: str) -> None:
    """Every output document is checked against its shape first: another shape is one
    problem naming where (no value), results unknown, no failed request."""
    with pytest.raises(MalformedOutput) as info:
        check_output(document)
    assert str(info.value) == problem
    assert result_counts(document) is None
    assert failed_requests(document) == []


def test_an_output_files_unknown_values_are_counted_never_echoed() -> None:
    """A status or error code the product does not know is counted as UNKNOWN: a value of the
    file (a speaker id, say) never becomes a key of the results."""
    document = {
        "SuccessfulEnrollments": [
            {"EnrollmentStatus": "NEW_ENROLLMENT"},
            {"EnrollmentStatus": SPEAKER},
            {},
        ],
        "Errors": [
            {"RequestId": "req-1", "ErrorCode": 400, "ErrorMessage": f"no {SPEAKER} audio"},
            {"ErrorCode": SPEAKER},
        ],
    }
    assert result_counts(document) == {
        "NEW_ENROLLMENT": 1,
        UNKNOWN: 2,
        "error:400": 1,
        f"error:{UNKNOWN}": 1,
    }
    MASK.use([[_request()]])
    assert [(f.request_id, f.error_code, f.message) for f in failed_requests(document)] == [
        ("", UNKNOWN, ""),
        ("req-1", "400", "no <speaker> audio"),
    ]


def _request() -> Any:
    from reconciler.core.roster import Request

    return Request(SPEAKER, (("s3://bkt/a.wav", 0),))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'["x"]', "the document must be an object"),
        (b'{"SuccessfulEnrollments":["x"]}', "SuccessfulEnrollments[0] must be an object"),
        (b'{"Errors":5}', "Errors must be a list"),
        (b"null", "the document must be an object"),
    ],
    ids=["list", "item", "errors", "null"],
)
def test_apply_wait_reads_an_output_file_of_another_shape_as_a_warning(
    voiceid_env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    body: bytes,
    problem: str,
) -> None:
    """A job watched to its end whose output file is of another shape (JSON null included:
    it was taken for a file that could not be fetched, read again with no word): apply --wait
    logs one warning naming the job and where, leaves its results unknown and exits as for
    any ended job."""
    world = build_world(voiceid_env)
    s3 = voiceid_env.client("s3")
    try:
        s3.put_object(Bucket=world.bucket, Key="manifests/m.json", Body=b"{}")
        specs = tmp_path / "specs"
        _spec(
            specs / "out.yaml",
            f"    manifest: s3://{world.bucket}/manifests/m.json\n",
            domain="voiceid-sandbox-demo",
            bucket=world.bucket,
            kms=world.kms_alias,
            role=world.role_arn,
        )
        state = tmp_path / "state.json"
        name = _job_name(capsys, specs, state)
        job = _seed_job(
            world,
            {
                "kind": "SpeakerEnrollmentJob",
                "name": name,
                "status": "IN_PROGRESS",
                "ends": "in 1s",
            },
        )
        s3.put_object(Bucket=world.bucket, Key=f"output/{job['jobId']}/m.json.out", Body=body)
    finally:
        s3.close()
    status, out, err = _run(
        capsys,
        "apply",
        str(specs),
        "--state",
        str(state),
        "--tps",
        "0",
        "--wait",
        "--poll-interval",
        "0.05",
        "--timeout",
        "60",
        "--log-format",
        "json",
    )
    assert status == EXIT_OK, err
    assert "Traceback" not in out + err
    warnings = [
        json.loads(line) for line in err.splitlines() if '"manifests.output_malformed"' in line
    ]
    assert len(warnings) == 1
    assert warnings[0]["job_id"] == job["jobId"]
    assert warnings[0]["problem"] == problem
    from reconciler.adapters.localstore import LocalStateStore

    (record,) = LocalStateStore(state).read().specs["SpeakerEnrollmentJob/out"].jobs
    assert record.status == "COMPLETED"
    assert record.results is None


@pytest.mark.parametrize("body", [b"null", b"[]", b'{"Errors": 5}', b"not json"])
def test_an_output_file_of_another_shape_is_unreadable_and_warned_of_once(
    voiceid_sandbox: Sandbox, capsys: pytest.CaptureFixture[str], body: bytes
) -> None:
    """The S3 adapter hands over an output file only of the documented shape: any other (JSON
    null, a list, a member of another type, not JSON) is None, read again each time it is
    asked for (a later poll, a later run), and warned of once per file in the process."""
    from reconciler.adapters.objects import Manifests
    from reconciler.cli.logs import configure_logging

    configure_logging("json")
    s3 = voiceid_sandbox.client("s3")
    try:
        s3.create_bucket(Bucket="out")
        s3.put_object(Bucket="out", Key="o/J1/m.json.out", Body=body)
        s3.put_object(Bucket="out", Key="o/J2/m.json.out", Body=b'{"Errors": []}')
        manifests = Manifests(s3)
        capsys.readouterr()
        for _poll in range(3):
            assert manifests.read_output("s3://out/o/", "J1", "s3://in/m.json") is None
        assert manifests.read_output("s3://out/o/", "J2", "s3://in/m.json") == {"Errors": []}
    finally:
        s3.close()
    assert manifests.calls["GetObject"] == 4
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["event"], e["job_id"]) for e in events] == [
        (
            "manifests.output_not_json" if body == b"not json" else "manifests.output_malformed",
            "J1",
        )
    ]


# --- the state's times --------------------------------------------------------------------


_TIME_FIELDS = [
    ("provisional", "state field provisional.D/SpeakerEnrollmentJob"),
    ("listings", "state field listings.D/SpeakerEnrollmentJob"),
    ("observedAt", "state field observedAt"),
    ("intentAt", "state field specs.SpeakerEnrollmentJob/a.jobs.0.intentAt"),
    ("createdAt", "state field specs.SpeakerEnrollmentJob/a.jobs.0.createdAt"),
    ("endedAt", "state field specs.SpeakerEnrollmentJob/a.jobs.0.endedAt"),
    ("approvals", "state field approvals.SpeakerEnrollmentJob/a.at"),
    ("lastSent", "state field notified.sink.lastSent"),
]


def _state_text(field: str, value: str) -> str:
    data: dict[str, Any] = json.loads(State(lineage="l", serial=1).to_json())
    record: dict[str, Any] = {
        "attempt": 1,
        "domainId": "D",
        "hash": "a" * 64,
        "jobName": "a-" + "a" * 32,
        "kind": "SpeakerEnrollmentJob",
        "jobId": "J",
        "status": "IN_PROGRESS",
    }
    data["specs"] = {
        "SpeakerEnrollmentJob/a": {
            "domainId": "D",
            "hash": "a" * 64,
            "kind": "SpeakerEnrollmentJob",
            "name": "a",
            "jobs": [record],
            "history": [],
            "request": None,
        }
    }
    if field in ("provisional", "listings"):
        data[field] = {"D/SpeakerEnrollmentJob": value}
    elif field == "observedAt":
        data[field] = value
    elif field == "approvals":
        data[field] = {
            "SpeakerEnrollmentJob/a": {
                "hash": "a" * 64,
                "maxAttempts": 1,
                "review": "x",
                "at": value,
            }
        }
    elif field == "lastSent":
        data["notified"] = {"sink": {"delivered": [], "failures": 0, "lastSent": value}}
    else:
        record[field] = value
    return json.dumps(data)


@pytest.mark.parametrize(("field", "where"), _TIME_FIELDS, ids=[f for f, _ in _TIME_FIELDS])
@pytest.mark.parametrize("value", ["not-a-date", "2026-02-30T00:00:00Z", "2026-12-01 09:00:00", ""])
def test_a_state_time_that_is_not_iso_8601_is_one_line_naming_the_field(
    field: str, where: str, value: str
) -> None:
    """Every time field of the state is checked when the state is read: one StateError naming
    the file and the field, never a traceback later when a run compares it."""
    with pytest.raises(StateError) as info:
        parse_state(_state_text(field, value), "s.json")
    message = str(info.value)
    assert message.startswith(f"s.json: {where}: not an ISO-8601 UTC time")
    assert "\n" not in message
    parse_state(_state_text(field, "2024-02-29T23:59:59Z"), "s.json")  # a leap day is one


@pytest.mark.parametrize("field", ["provisional", "intentAt"])
def test_plan_and_apply_refuse_a_state_with_a_bad_time_in_one_line(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    """The issue's example: plan and apply against Voice ID with a state whose provisional
    or intentAt time is not ISO 8601 exit 1 with one line, start nothing."""
    world = build_world(voiceid_env)
    specs = tmp_path / "specs"
    _spec(
        specs / "a.yaml",
        f"    speakers: [{{speakerId: c-1, audio: ['{world.audio[0]}']}}]\n"
        f"    stagingUri: s3://{world.bucket}/staging/\n",
        domain="voiceid-sandbox-demo",
        bucket=world.bucket,
        kms=world.kms_alias,
        role=world.role_arn,
    )
    state = tmp_path / "state.json"
    state.write_text(_state_text(field, "yesterday"))
    voiceid_env.reset_calls()
    for command in ("plan", "apply"):
        status, out, err = _run(capsys, command, str(specs), "--state", str(state), "--tps", "0")
        assert status == EXIT_ERROR
        assert "Traceback" not in out + err
        (line,) = err.splitlines()
        assert line.startswith(f"voiceid-reconciler: {state}: state field ")
        assert "not an ISO-8601 UTC time" in line
    assert not any("Start" in op for op in voiceid_env.calls())


# --- a spec named as another spec's part --------------------------------------------------


def test_a_spec_named_as_a_part_of_a_chunked_roster_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """big-part-001 beside a 10,001-speaker roster big (parts big-part-001 and -002): one
    error at the part-named spec's name, naming the roster's spec's file and line."""
    root = _repository(tmp_path)
    specs = root / "specs"
    rows = "".join(f"c-{i},s3://bkt/a.wav\n" for i in range(ENROLLMENT_KIND.per_job + 1))
    specs.mkdir()
    (specs / "big.csv").write_text("speakerId,audio\n" + rows)
    _spec(specs / "big.yaml", "    speakersFile: big.csv\n    stagingUri: s3://bkt/s/\n")
    _spec(
        specs / "part.yaml",
        "    speakers: [{speakerId: c-1, audio: [s3://bkt/a.wav]}]\n    stagingUri: s3://bkt/s/\n",
        name="big-part-001",
    )
    status, _out, err = _run(capsys, "validate", str(specs))
    assert status == EXIT_ERROR
    assert err.splitlines() == [
        f"{specs}/part.yaml:3:18: SpeakerEnrollmentJob name 'big-part-001' is the name of a part "
        f"of 'big' (defined at {specs}/big.yaml:3:18: its roster of 10,001 entries is 2 jobs); "
        "rename one of them"
    ]
    (specs / "part.yaml").unlink()
    _spec(
        specs / "part.yaml",
        "    speakers: [{speakerId: c-1, audio: [s3://bkt/a.wav]}]\n    stagingUri: s3://bkt/s/\n",
        name="big-part-003",
    )
    assert main(["validate", str(specs)]) == EXIT_OK


def test_redaction_module_documents_its_placeholders() -> None:
    """The placeholders are the ones docs/security.md names."""
    text = (Path(__file__).parents[1] / "docs" / "security.md").read_text()
    for placeholder in (redaction.SPEAKER, redaction.AUDIO, redaction.KEY):
        assert f"`{placeholder}`" in text
