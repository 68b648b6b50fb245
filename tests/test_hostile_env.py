"""A hostile environment: flag and environment values that are not what they say, URLs that hold
secrets. Each is checked before the first call (one line naming the flag or variable, exit 1,
no Voice ID or S3 call, nothing started) and a secret part of a URL is never printed, logged or
stored. The examples of issue 31 are here; generated values are in ``tests/fuzz/``.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reconciler.adapters import urls
from reconciler.adapters.aws import check_environment
from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.cli.values import MAX_DURATION, parse_duration
from reconciler.sandbox import Sandbox
from tests.support import Receiver, build_world, write_specs

SECRET = "S3CR3T-hostile-env"


@pytest.fixture
def specs(voiceid_env: Sandbox, tmp_path: Path) -> Path:
    """One enrollment spec a careless run would start; the sandbox's counts zeroed."""
    world = build_world(voiceid_env)
    write_specs(world, tmp_path / "specs", 1, kinds=("SpeakerEnrollmentJob",))
    voiceid_env.reset_calls()
    return tmp_path / "specs"


def _apply(specs: Path, *extra: str) -> int:
    state = specs.parent / "state.json"
    argv = ["apply", str(specs), "--state", str(state), "--tps", "0", "--log-format", "json"]
    return main([*argv, *extra])


def _logged(text: str) -> str:
    """``text`` as a JSON log line writes it."""
    return json.dumps(text)[1:-1]


def _refused_before_anything(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], *names: str
) -> str:
    """Exit 1 was returned; check: one line naming ``names``, no secret, no call at all."""
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line and not line.startswith("{")]
    assert len(lines) == 1, err
    assert lines[0].startswith("voiceid-reconciler: "), lines
    for name in names:
        assert name in lines[0], lines
    assert SECRET not in out + err
    assert sandbox.calls() == {}, sandbox.calls()
    assert not [r for r in sandbox.s3_requests() if r["method"] != "GET"]
    return lines[0]


# --- the AWS environment ----------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_VOICE_ID", "AWS_ENDPOINT_URL_S3"])
@pytest.mark.parametrize(
    "value", ["not a url", "http://[::1", f"http://admin:{SECRET}@[::1", "ftp://h", "http://h:0"]
)
def test_a_bad_endpoint_url_is_one_line_naming_it(
    voiceid_env: Sandbox,
    specs: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    """``not a url`` (botocore: ValueError) and ``http://[::1`` (urllib: Invalid IPv6 URL)
    were tracebacks; now one line naming the variable, never its value."""
    monkeypatch.setenv(variable, value)
    assert _apply(specs) == EXIT_ERROR
    line = _refused_before_anything(voiceid_env, capsys, f"${variable}")
    assert value not in line


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("AWS_METADATA_SERVICE_TIMEOUT", "abc", "whole number"),
        ("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "1.5", "whole number"),
        ("AWS_MAX_ATTEMPTS", "many", "whole number"),
        ("AWS_RETRY_MODE", "eager", "legacy, standard, adaptive"),
        ("AWS_CA_BUNDLE", "/nonexistent/ca.pem", "does not exist"),
        ("HTTPS_PROXY", "http://[::1", "IPv6"),
    ],
)
def test_a_bad_aws_setting_is_one_line_naming_it(
    voiceid_env: Sandbox,
    specs: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    said: str,
) -> None:
    """``AWS_METADATA_SERVICE_TIMEOUT=abc`` was a ValueError traceback from botocore's config
    provider; each such setting is now read as botocore reads it, before the first client."""
    monkeypatch.setenv(variable, value)
    assert _apply(specs) == EXIT_ERROR
    _refused_before_anything(voiceid_env, capsys, f"${variable}", said)


def test_a_missing_web_identity_token_file_is_one_line(
    voiceid_env: Sandbox,
    specs: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """IRSA's token file missing (a pod without its projected volume): botocore opened it at
    the first call needing credentials (FileNotFoundError traceback); now one line first."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/reconciler")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks/missing-token")
    assert _apply(specs) == EXIT_ERROR
    _refused_before_anything(voiceid_env, capsys, "$AWS_WEB_IDENTITY_TOKEN_FILE", "not exist")


def test_the_environment_check_reads_what_botocore_reads(tmp_path: Path) -> None:
    """Good values pass; a token file that is a directory or unreadable is refused; a token
    file without AWS_ROLE_ARN is not read by botocore, so not checked."""
    token = tmp_path / "token"
    token.write_text("jwt")
    good = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "AWS_ENDPOINT_URL_VOICE_ID": "https://voiceid.example.com/",
        "AWS_METADATA_SERVICE_TIMEOUT": "2",
        "AWS_RETRY_MODE": "standard",
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_ENDPOINT_URL_S3": "",
    }
    assert check_environment(good) == []
    directory = {**good, "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path)}
    assert check_environment(directory) == [
        "$AWS_WEB_IDENTITY_TOKEN_FILE names something that is not a regular file"
    ]
    alone = {"AWS_WEB_IDENTITY_TOKEN_FILE": "/missing"}
    assert check_environment(alone) == []


# --- flags --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--pushgateway", "not a url", "not a URL"),
        ("--pushgateway", "http://[::1", "IPv6"),
        ("--pushgateway", f"http://admin:{SECRET}@[::1", "IPv6"),
        ("--pushgateway", "ftp://gateway:9091", "scheme"),
        ("--notify", "json://[::1/x", "IPv6"),
        ("--notify", f"json://user:{SECRET}@host:99999/p", "port"),
        ("--notify", f"hooks.slack.com/services/T0/B0/{SECRET}", "not a URL"),
        ("--poll-interval", "1e10", "at most 30 days"),
        ("--lock-timeout", "1e300", "at most 30 days"),
    ],
)
def test_a_bad_flag_is_one_line_before_any_call(
    voiceid_env: Sandbox,
    specs: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    said: str,
) -> None:
    """``--pushgateway 'not a url'`` started the jobs and then failed with a traceback;
    ``http://[::1``, ``json://[::1/x``, ``--poll-interval 1e10`` (time.sleep: OverflowError)
    the same: each is one line naming the flag before anything runs, never quoting a URL."""
    assert _apply(specs, "--wait", flag, value) == EXIT_ERROR
    line = _refused_before_anything(voiceid_env, capsys, flag, said)
    if "://" in value or "/" in value:
        assert value not in line


def test_durations_are_bounded() -> None:
    """30 days is the longest duration; a longer one is refused, saying the bound."""
    assert parse_duration("30d".replace("d", "")) == 30.0
    assert parse_duration(f"{MAX_DURATION:g}") == MAX_DURATION
    with pytest.raises(ValueError, match="at most 30 days"):
        parse_duration("721h")


# --- URLs with secrets: used, never shown -------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_a_webhook_password_is_sent_as_basic_auth_and_never_shown(
    voiceid_env: Sandbox,
    specs: Path,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--notify json://user:SECRET@host/p`` ended in http.client's InvalidURL traceback
    whose last line showed the password, after jobs started; now the credentials go in an
    Authorization header and the sink is named ``json://127.0.0.1:PORT/…#digest``."""
    url = f"json://user:{SECRET}@127.0.0.1:{receiver.port}/p"
    assert _apply(specs, "--notify", url, "--notify-on", "all") == EXIT_OK
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert receiver.requests, "nothing was delivered"
    expected = "Basic " + base64.b64encode(f"user:{SECRET}".encode()).decode()
    assert receiver.requests[0]["headers"]["Authorization"] == expected
    assert receiver.requests[0]["path"] == "/p"
    state = (specs.parent / "state.json").read_text()
    assert SECRET not in state


def test_an_unreachable_webhook_with_a_password_is_a_warning_without_it(
    voiceid_env: Sandbox, specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A delivery that fails names the sink by its label only."""
    url = f"json://user:{SECRET}@127.0.0.1:1/p"
    assert _apply(specs, "--notify", url, "--notify-on", "all") == EXIT_OK
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert _logged(f"json://127.0.0.1:1/…#{urls.digest(url)}") in err


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A Pushgateway stand-in on 127.0.0.1 that records each request's method and headers."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append({"method": self.command, **dict(self.headers)})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            self.do_PUT()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_pushgateway_password_is_sent_as_basic_auth_and_never_shown(
    voiceid_env: Sandbox,
    specs: Path,
    gateway: tuple[str, list[dict[str, str]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--pushgateway http://admin:SECRET@host/`` was a traceback showing the password after
    the run; now it is HTTP Basic authentication, and a failed push names the gateway only."""
    where, seen = gateway
    assert _apply(specs, "--pushgateway", f"http://admin:{SECRET}@{where}/") == EXIT_OK
    assert seen, "nothing was pushed"
    expected = "Basic " + base64.b64encode(f"admin:{SECRET}".encode()).decode()
    assert seen[0]["Authorization"] == expected
    assert _apply(specs, "--pushgateway", f"http://admin:{SECRET}@127.0.0.1:1/") == EXIT_OK
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert '"event": "metrics.not_written"' in err


# --- a sink is named by a safe label ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "label"),
    [
        (f"pbul://{SECRET}", "pbul://…"),
        (f"pover://user@{SECRET}", "pover://…"),
        (f"prowl://{SECRET}", "prowl://…"),
        (f"join://{SECRET}", "join://…"),
        (f"slack://T0/B0/{SECRET}", "slack://…"),
        (f"hooks.slack.com/services/T0/B0/{SECRET}", "a value that is not a URL"),
        (f"https://hooks.slack.com/services/{SECRET}", "https://hooks.slack.com/…"),
        (f"json://me:{SECRET}@hooks.example.com:8443/x?token={SECRET}", "json://hooks.example.com:8443/…"),
        ("sns://arn:aws:sns:eu-west-1:123456789012:alerts", "sns://arn:aws:sns:eu-west-1:123456789012:alerts"),
        (f"sns://{SECRET}", "sns://…"),
        ("github://acme/voiceid", "github://acme/voiceid"),
        (f"github://{SECRET}@acme/x", "github://…"),
        (f"json://[::1/{SECRET}", "a URL that cannot be read"),
        (f"json://{SECRET}\u202e@host/x", "json://host/…"),
    ],
)  # fmt: skip
def test_a_sink_label_never_shows_a_token(url: str, label: str) -> None:
    """For Apprise URLs the host is often the token: a label shows the scheme, a host only
    for the web schemes, an ARN or a repository only when it is one, and a digest."""
    said = urls.label(url)
    assert said == f"{label}#{urls.digest(url)}"
    assert SECRET not in said


def test_an_apprise_sink_is_logged_by_its_label(
    voiceid_env: Sandbox, specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``pbul://TOKEN`` was logged as ``pbul://TOKEN``: now ``pbul://…#digest``, everywhere."""
    url = f"pbul://{SECRET}"
    assert _apply(specs, "--notify", url, "--notify-on", "all") == EXIT_OK
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert _logged(f"pbul://…#{urls.digest(url)}") in err
    assert SECRET not in (specs.parent / "state.json").read_text()
