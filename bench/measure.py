"""Measuring one client run against the sandbox: its API calls, wall time, CPU and peak RSS.

Each client (the reconciler, the naive baseline) runs in its own process, so that its CPU time
and peak RSS are its own and not the sandbox's (which serves from this process). It is started
through ``bench.launch``, which reaps it with ``os.wait4``: that rusage belongs to the client
alone (``RUSAGE_CHILDREN`` keeps a maximum over every child ever waited for, so its
``ru_maxrss`` cannot be taken as a delta), and its ``ru_maxrss`` is not inflated by the
benchmark process's own RSS (see ``bench.launch``). Wall time is measured by the launcher too,
from spawning the client to reaping it (interpreter start-up and imports included).

Voice ID calls are counted by the sandbox per operation; a tap on the sandbox's WSGI
application also records each Voice ID call's DomainId, JobStatus filter and NextToken (so that
pages can be checked per domain and kind, and a page read twice is seen) and counts the S3 and
KMS calls, which the sandbox does not count.
"""

from __future__ import annotations

import compileall
import io
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.sandbox import Sandbox
from reconciler.sandbox.storage import INTERNAL_HEADER

ROOT = Path(__file__).resolve().parents[1]
TPS = 2.0
"""Voice ID's default quota per API: the seconds at the quota are ``calls / TPS``."""


@dataclass(frozen=True)
class Request:
    """One Voice ID call as the sandbox received it (the fields that identify a page)."""

    operation: str
    domain_id: str | None
    status: str | None
    next_token: str | None


class Tap:
    """Records the requests the sandbox serves while installed (a context manager).

    It wraps the WSGI application of this sandbox's server (``server.app``, which werkzeug
    looks up for every request): each Voice ID call is recorded with the fields that identify
    a page, and each S3 or KMS call from outside the sandbox is counted by operation (the
    sandbox's own counter covers Voice ID only). Leaving the context unwraps it.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        server = sandbox._server
        if server is None:
            raise BenchError("the sandbox is not started")
        self._server = server
        self._app = server.app
        self.requests: list[Request] = []
        self.aws: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith("VoiceID."):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
            self.requests.append(_voiceid_request(target.partition(".")[2], body))
        elif not str(environ.get("PATH_INFO", "")).startswith("/_sandbox/") and not environ.get(
            _INTERNAL
        ):
            self.aws[_aws_operation(environ, target)] += 1
        return self._app(environ, start_response)

    def __enter__(self) -> Tap:
        self._server.app = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.app = self._app


_INTERNAL = "HTTP_" + INTERNAL_HEADER.upper().replace("-", "_")


def _voiceid_request(operation: str, body: bytes) -> Request:
    try:
        params = json.loads(body) if body.strip() else {}
    except ValueError:
        params = {}
    if not isinstance(params, dict):
        params = {}
    return Request(
        operation, params.get("DomainId"), params.get("JobStatus"), params.get("NextToken")
    )


def _aws_operation(environ: dict[str, Any], target: str) -> str:
    """``KMS <Operation>`` or ``S3 <Operation>`` (path-style addressing) of a request."""
    if target:
        service, _, operation = target.partition(".")
        return f"{'KMS' if service == 'TrentService' else service} {operation}"
    method = str(environ.get("REQUEST_METHOD", ""))
    has_key = "/" in str(environ.get("PATH_INFO", "")).strip("/")
    query = str(environ.get("QUERY_STRING", ""))
    if method == "GET" and not has_key:
        operation = "ListObjectsV2" if "list-type=2" in query else "ListObjects"
    else:
        operation = {
            ("GET", True): "GetObject",
            ("HEAD", True): "HeadObject",
            ("HEAD", False): "HeadBucket",
            ("PUT", True): "PutObject",
            ("PUT", False): "CreateBucket",
            ("DELETE", True): "DeleteObject",
        }.get((method, has_key), method)
    return f"S3 {operation}"


@dataclass(frozen=True)
class Run:
    """What one client run cost."""

    calls: dict[str, int]
    """Voice ID calls per operation (the sandbox's counter)."""
    requests: tuple[Request, ...]
    aws_calls: dict[str, int]
    """S3 and KMS calls per ``<service> <operation>``."""
    wall_s: float
    cpu_s: float
    peak_rss_kib: int
    exit_code: int
    stdout: str

    @property
    def total(self) -> int:
        """API calls of every operation."""
        return sum(self.calls.values())

    @property
    def at_quota_s(self) -> float:
        """Seconds the calls take at the 2 TPS quota: ``total calls / 2``."""
        return self.total / TPS

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_kib / 1024

    def count(self, *operations: str) -> int:
        """Calls of these operations."""
        return sum(self.calls.get(op, 0) for op in operations)

    def pages(self) -> Counter[tuple[str, str | None, str | None]]:
        """List* calls per (operation, DomainId, JobStatus filter)."""
        return Counter(
            (r.operation, r.domain_id, r.status)
            for r in self.requests
            if r.operation.startswith("List") and r.operation.endswith("Jobs")
        )

    def repeated_pages(self) -> int:
        """List* calls that asked for a page already read in this run."""
        seen = Counter(r for r in self.requests if r.operation.startswith("List"))
        return sum(n - 1 for n in seen.values() if n > 1)

    def by_operation(self) -> str:
        """``Operation=count`` pairs, sorted, for a report line."""
        return _pairs(self.calls)

    @property
    def aws_total(self) -> int:
        """S3 and KMS calls."""
        return sum(self.aws_calls.values())

    def aws_by_operation(self) -> str:
        return _pairs(self.aws_calls)


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{op}={n}" for op, n in sorted(counts.items())) or "none"


class BenchError(RuntimeError):
    """A client run did not do what the scenario needs (its figures would mean nothing)."""


def child_env(sandbox: Sandbox) -> dict[str, str]:
    """This process's environment without AWS settings, pointed at the sandbox only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.pop("VOICEID_RECONCILER_STATE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # installed code has its bytecode (precompile)
    env.update(sandbox.env())
    env.update(
        {
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_COLOR": "1",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
    )
    return env


def precompile() -> None:
    """Compile the product's and the benchmark's modules once, as an install does: a client
    run then pays for importing them, not for compiling them (``PYTHONDONTWRITEBYTECODE``
    would make every run compile them again)."""
    for package in ("reconciler", "bench"):
        compileall.compile_dir(ROOT / package, quiet=1)


def measure(
    sandbox: Sandbox, argv: Sequence[str], *, ok: Collection[int] = (0,), label: str = ""
) -> Run:
    """Run ``python argv...`` in a child process (through ``bench.launch``) and measure it."""
    sandbox.reset_calls()
    with (
        tempfile.TemporaryDirectory(prefix="voiceid-bench-run-") as tmp,
        Tap(sandbox) as tap,
    ):
        result = Path(tmp) / "rusage.json"
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        command = [sys.executable, "-m", "bench.launch", str(result), sys.executable, *argv]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                command, stdout=stdout, stderr=stderr, env=child_env(sandbox), cwd=ROOT
            )
            try:
                process.wait()
            except BaseException:  # interrupted: the launcher stops the client too
                process.terminate()
                process.wait()
                raise
        calls = sandbox.calls()
        requests = tuple(tap.requests)
        aws_calls = dict(tap.aws)
        stderr_text = err.read_text(errors="replace")
        if process.returncode != 0 or not result.exists():
            raise BenchError(f"{label}: the launcher failed:\n{_tail(stderr_text)}")
        usage = json.loads(result.read_text())
        run = Run(
            calls=calls,
            requests=requests,
            aws_calls=aws_calls,
            wall_s=float(usage["wall_s"]),
            cpu_s=float(usage["cpu_s"]),
            peak_rss_kib=int(usage["peak_rss_kib"]),
            exit_code=int(usage["exit_code"]),
            stdout=out.read_text(errors="replace"),
        )
    if run.exit_code not in ok:
        raise BenchError(
            f"{label or ' '.join(argv)}: exit status {run.exit_code}, not {sorted(ok)}:\n"
            f"{_tail(stderr_text)}"
        )
    return run


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])


def apply_argv(specs_dir: Path, state: Path, *extra: str) -> list[str]:
    """The reconciler's apply, with no client-side rate limit (the sandbox is fast) and no
    list-lag guard (the sandbox's List never lags)."""
    return [
        "-m",
        "reconciler",
        "apply",
        str(specs_dir),
        "--state",
        str(state),
        "--tps",
        "0",
        "--list-lag-horizon",
        "0",
        "--log-format",
        "json",
        *extra,
    ]


def naive_argv(specs_dir: Path) -> list[str]:
    """The naive baseline (``bench.naive``)."""
    return ["-m", "bench.naive", str(specs_dir)]
