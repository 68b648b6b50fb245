"""Job events delivered to sinks: once each, grouped, signed, and never a flood.

Deliveries go to real local receivers: an HTTP server in the test (the JSON webhook, its HMAC
checked; a GitHub REST stand-in whose request bodies are validated with githubkit's typed
models) and moto's SNS through an SQS subscription, all through the product's real paths.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.core.events import MAX_ATTEMPTS
from reconciler.core.statefile import parse_state
from reconciler.sandbox import Sandbox
from tests.support import Receiver, build_world, write_specs

SECRET = "s3cr3t-for-tests"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _apply(specs: Path, state: Path, *extra: str) -> int:
    argv = ["apply", str(specs), "--state", str(state), "--tps", "0", "--log-format", "json"]
    return main([*argv, *extra])


def test_events_reach_a_signed_webhook_once_each(
    voiceid_env: Sandbox,
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """started and completed events, HMAC-signed; a re-run, a poll or a second run sends
    nothing again; no speaker id or audio location in any message."""
    monkeypatch.setenv("VOICEID_RECONCILER_NOTIFY_SECRET", SECRET)
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=60, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 3)
    hook = f"json://127.0.0.1:{receiver.port}/hook"
    notify = ["--notify", hook, "--notify-on", "all", "--notify-interval", "0"]
    assert _apply(specs, state, "--max-active", "5", *notify) == EXIT_OK
    voiceid_env.advance_clock(61)
    voiceid_env.advance()
    assert _apply(specs, state, "--max-active", "5", *notify) == EXIT_OK
    assert _apply(specs, state, "--max-active", "5", *notify) == EXIT_OK  # nothing new
    assert len(receiver.requests) == 2
    for request in receiver.requests:
        expected = (
            "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        )
        assert request["headers"]["X-Voiceid-Signature-256"] == expected
        assert request["path"] == "/hook"
    first, second = receiver.payloads()
    assert first["formatVersion"] == 1
    assert sorted(e["event"] for e in first["events"]) == ["started"] * 3
    assert sorted(e["event"] for e in second["events"]) == ["completed"] * 3
    assert all(e["results"] for e in second["events"])  # result counts by outcome
    everything = b"".join(r["body"] for r in receiver.requests).decode()
    assert all(audio not in everything for audio in world.audio)
    assert "caller-" not in everything
    ledger = parse_state(state.read_text(), str(state)).notified
    assert len(ledger) == 1
    assert hook not in state.read_text()  # a digest, never the URL


def test_failures_only_by_default_and_200_endings_are_one_message(
    voiceid_env: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    """The default (failures) says nothing of 200 jobs that started and completed; when all
    200 end FAILED at once, one message carries them (20 lines, then 'and 180 more')."""
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=60, max_active_jobs=400)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 200)
    for path in specs.glob("*.yaml"):  # an output bucket that does not exist: FAILED
        path.write_text(
            path.read_text().replace(f"s3://{world.bucket}/output/", "s3://no-such-bucket-x/out/")
        )
    hook = ["--notify", f"json://127.0.0.1:{receiver.port}/hook", "--max-active", "200", "--force"]
    assert _apply(specs, state, *hook) == EXIT_OK
    assert receiver.requests == []  # starts are not failures
    voiceid_env.advance_clock(61)
    voiceid_env.advance()
    assert _apply(specs, state, *hook) == 5  # jobs FAILED during this run
    assert len(receiver.requests) == 1
    [message] = receiver.payloads()
    assert len(message["events"]) == 200
    assert {e["event"] for e in message["events"]} == {"failed"}
    assert message["title"] == "voiceid-reconciler: 200 failed"
    assert message["text"].count("\n• ") + 1 == 20
    assert message["text"].endswith("… and 180 more")
    assert "The output S3 location is not accessible" in message["text"]


def test_a_new_sink_gets_no_history_and_a_failing_sink_gets_its_events_later(
    voiceid_env: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    """Adding --notify to a state with ended jobs replays nothing; a sink that answers 500
    keeps its events pending, gets them once when it answers again, and gives up after
    MAX_ATTEMPTS runs in a row."""
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=60, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    assert _apply(specs, state, "--max-active", "5") == EXIT_OK
    voiceid_env.advance_clock(61)
    voiceid_env.advance()
    assert _apply(specs, state, "--max-active", "5") == EXIT_OK  # the jobs completed
    notify = ["--notify", f"json://127.0.0.1:{receiver.port}/h", "--notify-on", "all"]
    notify += ["--notify-interval", "0", "--max-active", "5"]
    assert _apply(specs, state, *notify) == EXIT_OK
    assert receiver.requests == []  # the baseline: nothing replayed
    edited = specs / "spec-0000.yaml"
    edited.write_text(edited.read_text().replace("spec:\n", "spec:\n  revision: 1\n", 1))
    receiver.status = 500
    assert _apply(specs, state, *notify) == EXIT_OK  # a job started; its event not delivered
    assert len(receiver.requests) == 1
    receiver.status = 200
    assert _apply(specs, state, *notify) == EXIT_OK
    assert len(receiver.requests) == 2
    assert [e["event"] for e in receiver.payloads()[1]["events"]] == ["started"]
    assert _apply(specs, state, *notify) == EXIT_OK
    assert len(receiver.requests) == 2  # once
    edited.write_text(edited.read_text().replace("  revision: 1\n", "  revision: 2\n", 1))
    receiver.status = 500
    for _ in range(MAX_ATTEMPTS):
        assert _apply(specs, state, *notify) == EXIT_OK
    receiver.status = 200
    before = len(receiver.requests)
    assert _apply(specs, state, *notify) == EXIT_OK
    assert len(receiver.requests) == before  # given up after MAX_ATTEMPTS failures


def test_sns_publishes_one_message_with_text_and_json(voiceid_env: Sandbox, tmp_path: Path) -> None:
    """sns://<topic ARN> through boto3 to moto's SNS, read back from an SQS subscription."""
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=60, max_active_jobs=10)
    sns, sqs = voiceid_env.client("sns"), voiceid_env.client("sqs")
    topic = sns.create_topic(Name="voiceid-events")["TopicArn"]
    queue = sqs.create_queue(QueueName="voiceid-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    notify = ["--notify", f"sns://{topic}", "--notify-on", "started", "--max-active", "5"]
    assert _apply(specs, state, *notify) == EXIT_OK
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    payload = json.loads(envelope["Message"])
    assert payload["formatVersion"] == 1
    assert sorted(e["event"] for e in payload["events"]) == ["started", "started"]
    sns.close()
    sqs.close()


def test_github_commit_statuses_per_domain_and_kind(
    voiceid_env: Sandbox,
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """github://owner/repo: a status on the commit that introduced each spec, context
    voiceid/<domain>/<kind>, pending while running, success once completed; each request
    body is valid by githubkit's typed model of the endpoint."""
    from githubkit_schemas.latest.models import ReposOwnerRepoStatusesShaPostBody

    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=60, max_active_jobs=10)
    repo = tmp_path / "repo"
    write_specs(world, repo / "specs", 2)
    git = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "specs"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{receiver.port}")
    state = tmp_path / "state.json"
    notify = ["--notify", "github://acme/voiceid-specs", "--notify-on", "all"]
    notify += ["--notify-interval", "0", "--max-active", "5"]
    assert _apply(repo / "specs", state, *notify) == EXIT_OK
    voiceid_env.advance_clock(61)
    voiceid_env.advance()
    assert _apply(repo / "specs", state, *notify) == EXIT_OK
    assert receiver.requests
    seen: dict[str, list[str]] = {}
    for request in receiver.requests:
        assert request["path"] == f"/repos/acme/voiceid-specs/statuses/{sha}"
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers["authorization"] in ("token ghs_test", "Bearer ghs_test")
        body = ReposOwnerRepoStatusesShaPostBody.model_validate(json.loads(request["body"]))
        seen.setdefault(str(body.context), []).append(str(body.state))
    assert set(seen) == {
        "voiceid/voiceid-sandbox-demo/SpeakerEnrollmentJob",
        "voiceid/voiceid-sandbox-demo/FraudsterRegistrationJob",
    }
    for states in seen.values():
        assert states == ["pending", "success"]


def test_a_bad_notify_url_is_one_line_before_anything_starts(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1)
    voiceid_env.reset_calls()
    for url, said in (
        ("not a url", "not a URL"),
        ("sns://my-topic", "expected sns://<topic ARN>"),
        ("github://only-owner", "expected github://OWNER/REPO"),
        ("nosuchscheme://x", "not a notification URL Apprise knows"),
    ):
        assert _apply(specs, state, "--notify", url) == EXIT_ERROR
        err = capsys.readouterr().err
        assert said in err, err
    assert sum(voiceid_env.calls().values()) == 0


def test_status_refresh_delivers_what_it_observes(
    voiceid_env: Sandbox, tmp_path: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """status --refresh --notify: the jobs it finds ended are told, once; --notify without
    --refresh is one line (status alone observes nothing)."""
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=60, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    notify = ["--notify", f"json://127.0.0.1:{receiver.port}/h", "--notify-on", "completed"]
    assert _apply(specs, state, "--max-active", "5", *notify) == EXIT_OK
    assert receiver.requests == []
    voiceid_env.advance_clock(61)
    status = ["status", str(specs), "--state", str(state), "--tps", "0", "--refresh", *notify]
    for _ in range(2):
        assert main(status) == EXIT_OK
    assert len(receiver.requests) == 1
    assert [e["event"] for e in receiver.payloads()[0]["events"]] == ["completed", "completed"]
    capsys.readouterr()
    assert main(["status", "--state", str(state), *notify]) == EXIT_ERROR
    assert "--notify needs --refresh" in capsys.readouterr().err


def test_an_apprise_url_delivers_through_apprise(
    voiceid_env: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    """Any other scheme goes through Apprise (Slack and Teams take this path): here Apprise's
    form:// to the local receiver, with the message's title and lines."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1)
    notify = ["--notify", f"form://127.0.0.1:{receiver.port}/apprise", "--notify-on", "started"]
    assert _apply(specs, state, *notify) == EXIT_OK
    assert len(receiver.requests) == 1
    body = receiver.requests[0]["body"].decode()
    assert "voiceid-reconciler" in body
    assert "started" in body
    assert "spec-0000" in body


def test_github_statuses_without_git_ask_github_for_each_spec_commit(
    voiceid_env: Sandbox,
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where no git is at hand (the container image, a git-sync checkout), the commit of a
    spec is asked of GitHub (``GET /repos/o/r/commits?path=<file in the checkout>``)."""
    world = build_world(voiceid_env)
    repo = tmp_path / "repo"
    write_specs(world, repo / "specs", 1)
    (repo / ".git").mkdir()  # a checkout, seen without git
    sha = "0123456789abcdef0123456789abcdef01234567"
    receiver.get_answers["/repos/acme/voiceid-specs/commits"] = [{"sha": sha}]
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{receiver.port}")
    notify = ["--notify", "github://acme/voiceid-specs", "--notify-on", "all"]
    assert _apply(repo / "specs", tmp_path / "state.json", *notify) == EXIT_OK
    assert any("path=specs%2Fspec-0000.yaml" in path for path in receiver.gets), receiver.gets
    assert [r["path"] for r in receiver.requests] == [f"/repos/acme/voiceid-specs/statuses/{sha}"]
