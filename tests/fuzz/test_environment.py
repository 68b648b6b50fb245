"""Fuzz: hostile environment variables and flag values, each run by ``apply --wait`` in-process
against the sandbox.

A value is drawn for a few of the variables and flags the product (or botocore, for it) reads:
URLs built from parts that may each be broken (scheme, ``user:SECRET@``, an unbalanced IPv6
host, ports 0, 99999 or ``abc``, a path or query holding the secret), numbers and durations of
every size and spelling, class lists, file paths that are missing, directories or devices.
The invariants: ``main`` returns (no exception); exit 1 is one line; the planted secret is in
no output and no file the run wrote; a refusal that names a flag, a variable or the AWS
configuration comes before any call (no Voice ID call, no S3 request); the run ends within
its ``--timeout`` plus the bound of one call's retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, seed
from hypothesis import strategies as st

from reconciler.cli import EXIT_ERROR, main
from reconciler.cli.exits import EXIT_CODES_HELP
from reconciler.sandbox import Sandbox
from tests.support import World, build_world, write_specs

from .conftest import fuzz_settings
from .conftest import seed as fuzz_seed

pytestmark = pytest.mark.fuzz

SECRET = "PLANTED-SECRET-31"
TIMEOUT = 2.0
BOUND = 12.0
"""Seconds past the timeout a run may take: one call's retries, a notification's timeout."""


@dataclass
class Stage:
    world: World
    root: Path
    gateway: str
    """host:port of a local Pushgateway stand-in."""
    webhook: str
    """host:port of a local webhook receiver."""

    @property
    def sandbox(self) -> Sandbox:
        return self.world.sandbox


class _Quiet(BaseHTTPRequestHandler):
    def _ok(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        self._ok()

    def do_POST(self) -> None:
        self._ok()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""


@pytest.fixture
def stage(voiceid_env: Sandbox, tmp_path: Path) -> Iterator[Stage]:
    world = build_world(voiceid_env)
    voiceid_env.configure(max_active_jobs=50)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    where = f"127.0.0.1:{server.server_address[1]}"
    (tmp_path / "token").write_text("jwt")  # a web identity token file that exists
    try:
        yield Stage(world, tmp_path, where, where)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- values ---------------------------------------------------------------------------------------


def urls(schemes: list[str], good_hosts: list[str]) -> st.SearchStrategy[str]:
    """URLs assembled from parts that may each be broken; a secret in the user part, the path
    or the query."""
    return st.builds(
        lambda scheme, user, host, port, path: f"{scheme}{user}{host}{port}{path}",
        st.sampled_from([*(f"{s}://" for s in schemes), "", "ftp://", "h t://", "HTTP://"]),
        st.sampled_from(["", f"user:{SECRET}@", f":{SECRET}@", f"{SECRET}@", "a@b@"]),
        st.sampled_from([*good_hosts, "[::1", "::1", "[::1]", "", "h t", "\u202e", "%zz"]),
        st.sampled_from(["", ":0", ":99999", ":abc", ":-1", ":"]),
        st.sampled_from(["", "/", f"/{SECRET}", f"/p?token={SECRET}", "/\x00", "#frag"]),
    )


def endpoint_urls(good: str) -> st.SearchStrategy[str]:
    """The sandbox's own URL (with a secret user part, or not), or one that is broken: never
    a good URL of somewhere else (its calls would only time out, slowly)."""
    host = good.split("://", 1)[1]
    broken = urls(["http", "https"], []).filter(lambda u: not u.endswith(host))
    return st.one_of(
        st.just(good),
        st.just(good.replace("://", f"://user:{SECRET}@")),
        st.sampled_from(["not a url", "http://[::1", f"http://admin:{SECRET}@[::1", "http://h:0"]),
        broken,
    )


def numbers() -> st.SearchStrategy[str]:
    """Numbers as text, of every size and spelling, and things that are not numbers."""
    return st.one_of(
        st.integers(-(10**20), 10**20).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["", " ", "abc", "1e10", "1e309", "-0", "0x10", "5m", "1h", "٣", "1_000"]),
        st.text(max_size=6),
    )


def durations() -> st.SearchStrategy[str]:
    """Durations: small good ones, huge, negative, malformed (a good poll interval stays
    under a second, so that an example's wait stays short)."""
    return st.one_of(
        st.sampled_from(["0", "0.05", "50ms", "1s", "0.5"]),
        st.sampled_from(["1e10", "1e300", "-1", "nan", "inf", "721h", "abc", "", "1 s", "5x"]),
        numbers().filter(lambda text: not _small_good_duration(text)),
    )


def _small_good_duration(text: str) -> bool:
    """A value ``--poll-interval`` would take and that is over a second."""
    try:
        seconds = float(text)
    except ValueError:
        return False
    return 1 < seconds <= 30 * 24 * 3600


def paths(root: Path) -> st.SearchStrategy[str]:
    token = root / "token"
    return st.sampled_from(
        [str(root / "missing"), str(root), "/dev/null", "", str(token), f"/{SECRET}/token"]
    )


def words(allowed: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(allowed),
        st.lists(st.sampled_from([*allowed, "nope", "", " "]), max_size=3).map(",".join),
        st.text(max_size=10),
    )


def environment(stage: Stage) -> st.SearchStrategy[dict[str, str]]:
    good = stage.sandbox.env()["AWS_ENDPOINT_URL"]
    notify = urls(["json", "jsons", "pbul", "slack", "sns", "github"], [stage.webhook])
    values: dict[str, st.SearchStrategy[str]] = {
        "AWS_ENDPOINT_URL": endpoint_urls(good),
        "AWS_ENDPOINT_URL_VOICE_ID": endpoint_urls(good),
        "AWS_ENDPOINT_URL_S3": endpoint_urls(good),
        "AWS_METADATA_SERVICE_TIMEOUT": numbers(),
        "AWS_METADATA_SERVICE_NUM_ATTEMPTS": numbers(),
        "AWS_MAX_ATTEMPTS": numbers(),
        "AWS_RETRY_MODE": words(["legacy", "standard", "adaptive"]),
        "AWS_DEFAULTS_MODE": words(["legacy", "standard", "auto"]),
        "AWS_STS_REGIONAL_ENDPOINTS": words(["legacy", "regional"]),
        "AWS_WEB_IDENTITY_TOKEN_FILE": paths(stage.root),
        "AWS_CA_BUNDLE": paths(stage.root),
        "HTTPS_PROXY": urls(["http"], ["127.0.0.1"]),
        "HTTP_PROXY": urls(["http"], ["127.0.0.1"]),
        "VOICEID_RECONCILER_NOTIFY": st.lists(notify, max_size=2).map(" ".join),
        "VOICEID_RECONCILER_NOTIFY_ON": words(["failures", "all", "started", "completed"]),
        "VOICEID_RECONCILER_LIST_LAG_HORIZON": durations(),
        "VOICEID_RECONCILER_REQUIRE_APPROVAL": words(["true", "false", "1", "0"]),
        "VOICEID_RECONCILER_FAIL_ON": words(["failed", "blocked"]),
        "VOICEID_RECONCILER_SHARD_COUNT": numbers(),
        "JOB_COMPLETION_INDEX": numbers(),
    }
    return st.dictionaries(
        st.sampled_from(sorted(values)), st.just(""), min_size=0, max_size=3
    ).flatmap(lambda chosen: st.fixed_dictionaries({name: values[name] for name in chosen}))


def flags(stage: Stage) -> st.SearchStrategy[list[str]]:
    notify = urls(["json", "jsons", "pbul", "pover", "slack", "sns", "github"], [stage.webhook])
    gateway = urls(["http", "https"], [stage.gateway])
    choices: dict[str, st.SearchStrategy[str]] = {
        "--notify": notify,
        "--pushgateway": gateway,
        "--poll-interval": durations(),
        "--timeout": durations().filter(lambda text: not _small_good_duration(text)),
        "--lock-timeout": durations(),
        "--notify-interval": durations(),
        "--list-lag-horizon": durations(),
        "--tps": numbers(),
        "--max-active": numbers(),
        "--max-starts": numbers(),
    }
    one = st.sampled_from(sorted(choices)).flatmap(
        lambda flag: choices[flag].map(lambda value: [flag, value])
    )
    return st.lists(one, max_size=3).map(lambda pairs: [part for pair in pairs for part in pair])


# --- the target -----------------------------------------------------------------------------------

EXITS = {
    int(line.split()[0]) for line in EXIT_CODES_HELP.splitlines() if line.strip()[:1].isdigit()
}


@seed(fuzz_seed())
@fuzz_settings(ci=100)
@given(data=st.data())
def test_hostile_values_are_one_line_before_any_call_and_never_shown(
    stage: Stage, capsys: pytest.CaptureFixture[str], data: st.DataObject
) -> None:
    env = data.draw(environment(stage), label="environment")
    argv_extra = data.draw(flags(stage), label="flags")
    number = data.draw(st.integers(0, 10**9), label="spec")
    root = stage.root / f"run-{number}"
    specs = root / "specs"
    write_specs(stage.world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    state = root / "state.json"
    argv = ["apply", str(specs), "--state", str(state), "--tps", "0", "--log-format", "json"]
    wait = ["--wait", "--poll-interval", "0.05", "--timeout", str(TIMEOUT)]
    stage.sandbox.reset_calls()
    capsys.readouterr()
    began = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NO_PROXY", "127.0.0.1,localhost")
        patch.setenv("no_proxy", "127.0.0.1,localhost")
        if "AWS_WEB_IDENTITY_TOKEN_FILE" in env:
            patch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/fuzz")
        for name, value in env.items():
            if "\x00" in value:
                continue  # no environment can hold a NUL
            patch.setenv(name, value)
        code = main([*argv, *wait, *argv_extra])
    took = time.monotonic() - began
    out, err = capsys.readouterr()
    assert code in EXITS, (code, err[-1500:])
    written = "".join(
        path.read_text(errors="replace") for path in root.rglob("*") if path.is_file()
    )
    assert SECRET not in out + err + written, (env, argv_extra)
    if code == EXIT_ERROR:
        problems = [line for line in err.splitlines() if line and not line.startswith("{")]
        assert len(problems) == 1, problems
        assert problems[0].startswith("voiceid-reconciler: "), problems
        early = ("argument --", "$", "AWS configuration", "expected")
        if any(word in problems[0] for word in early):
            assert stage.sandbox.calls() == {}, (problems, stage.sandbox.calls())
            assert stage.sandbox.s3_requests() == [], problems
    assert took < TIMEOUT + BOUND, (took, env, argv_extra)
