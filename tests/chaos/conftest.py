"""The chaos harness: trials and seeds, a world per trial, the CLI in subprocesses, invariants.

Every scenario runs the real CLI (``python -m reconciler ...``) as subprocesses against the
session's sandbox (reset for each test), injects faults through the sandbox's knobs, and then
checks the invariants of issue 10 with :meth:`Chaos.check`:

(a) at most one job per spec hash and attempt in every domain;
(b) every job that exists and carries our naming is recorded in the final state, a job of a
    spec by exactly that spec's entry, under the spec's current name (its current hash's jobs,
    or its history);
(c) the state parses, passes its schema and is consistent with itself;
(d) every spec has a job, or is reported queued or blocked with a reason (``plan --format
    json`` and ``status --format json``; a start Voice ID refused is reported by ``apply``).

Trials. Each scenario is parametrized over seeds: a bounded number in CI, more with
``VOICEID_CHAOS_TRIALS=N`` (the soak). The seeds derive from the scenario's name and
``VOICEID_CHAOS_BASE_SEED`` (default 20261124), so every process of a ``pytest -n`` run
collects the same ones; ``VOICEID_CHAOS_SEEDS=5,17`` runs exactly those seeds. A failure names
its seed in the test id and in the message: re-run it with ``-k 'seed=<N>'``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler import cli
from reconciler.core.identity import parse_job_name
from reconciler.core.state import State
from reconciler.core.statefile import parse_state
from reconciler.sandbox import Sandbox
from tests.support import KINDS, LIST_OPERATION, World, build_world, kill, manifest, wait_until

TRIALS_ENV = "VOICEID_CHAOS_TRIALS"
SEEDS_ENV = "VOICEID_CHAOS_SEEDS"
BASE_SEED_ENV = "VOICEID_CHAOS_BASE_SEED"
REPORT_ENV = "VOICEID_CHAOS_REPORT"
DEFAULT_BASE_SEED = 20261124

ENROLLMENT, REGISTRATION = KINDS
STARTS = ("StartSpeakerEnrollmentJob", "StartFraudsterRegistrationJob")
CALM = {
    "throttle_error_rate": 0.0,
    "internal_error_rate": 0.0,
    "latency": 0.0,
    "connection_reset_rate": 0.0,
    "lost_response_rate": 0.0,
    "s3_connection_reset_rate": 0.0,
    "s3_lost_response_rate": 0.0,
    "s3_internal_error_rate": 0.0,
    "s3_latency": 0.0,
    "s3_fault_filter": "",
    "s3_fault_limit": 0,
    "list_lag": 0.0,
}
"""Every transport-level fault knob off (world conditions such as refused roles stay)."""
FAST = ("--tps", "0", "--poll-interval", "0.05")
HORIZON_ENV = getattr(cli, "LAG_ENV", "VOICEID_RECONCILER_LIST_LAG_HORIZON")
"""The reconciler's list-lag horizon: a fresh state's first listing, or an unconfirmed start,
holds a domain's starts this long. The test suite sets 0 (the sandbox's List does not lag
unless a scenario says so); a trial may set ``Chaos.horizon`` to run with one."""
CLEAN_EXITS = (0, 1)
SKEWED_LAUNCH = (
    "import runpy, sys, time; skew = float(sys.argv.pop(1)); real = time.time; "
    "time.time = lambda: real() + skew; "
    "runpy.run_module('reconciler', run_name='__main__', alter_sys=True)"
)
"""``python -c SKEWED_LAUNCH SECONDS ARGS...``: the CLI on a host whose clock is off."""
LIMITED_LAUNCH = (
    "import resource, runpy, sys; limit = int(sys.argv.pop(1)); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)); "
    "runpy.run_module('reconciler', run_name='__main__', alter_sys=True)"
)
"""``python -c LIMITED_LAUNCH BYTES ARGS...``: the CLI with a file size limit (see ``spawn``)."""


def trials(ci: int) -> int:
    """How many trials a scenario runs: ``ci`` unless ``VOICEID_CHAOS_TRIALS`` says more."""
    text = os.environ.get(TRIALS_ENV, "").strip()
    return int(text) if text else ci


def seeds(scenario: str, ci: int = 2) -> list[int]:
    """The seeds of a scenario's trials (consecutive: ``seed % 2`` alternates backends)."""
    explicit = os.environ.get(SEEDS_ENV, "").strip()
    if explicit:
        return [int(s) for s in explicit.split(",") if s.strip()]
    base_seed = int(os.environ.get(BASE_SEED_ENV, DEFAULT_BASE_SEED))
    base = zlib.crc32(f"{scenario}:{base_seed}".encode()) % 100_000_000
    return [base + i for i in range(trials(ci))]


def seeded(scenario: str, ci: int = 2) -> pytest.MarkDecorator:
    """``@seeded("name")``: parametrize a test over its trial seeds (ids ``seed=N``)."""
    return pytest.mark.parametrize("seed", seeds(scenario, ci), ids=lambda s: f"seed={s}")


def note(event: str, **fields: Any) -> None:
    """Append one JSON line to ``$VOICEID_CHAOS_REPORT``, if set: what a trial met, how each
    test ended, the soak's settings. ``python -m tests.chaos.summary FILE`` makes the table of
    docs/chaos.md from it. (One short ``write`` per line on a file opened for appending: the
    ``pytest -n`` workers' lines do not interleave.)"""
    target = os.environ.get(REPORT_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(json.dumps({"event": event, **fields}) + "\n")


_on_worker = False
"""Whether this process is a ``pytest -n`` worker (its controller writes the report's outcomes)."""


def pytest_configure(config: pytest.Config) -> None:
    global _on_worker  # noqa: PLW0603 - one flag per process, set once
    _on_worker = hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _on_worker:  # the controller (or a run without -n)
        note(
            "session",
            trials=os.environ.get(TRIALS_ENV) or "ci",
            base_seed=int(os.environ.get(BASE_SEED_ENV, DEFAULT_BASE_SEED)),
            seeds=os.environ.get(SEEDS_ENV) or None,
            started=time.time(),
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _on_worker:
        note("session-end", exit=int(exitstatus), ended=time.time())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """How each test ended (on the controller of a ``pytest -n`` run, which also hears of a
    crashed worker's test): a line per failed phase, and the call's outcome."""
    if _on_worker or not (report.when == "call" or report.failed or report.skipped):
        return
    path, _, name = report.nodeid.partition("::")
    note(
        "outcome",
        test=f"[{name}]",
        nodeid=report.nodeid,
        module=Path(path).stem,
        phase=report.when,
        outcome=report.outcome,
        seconds=round(report.duration, 1),
    )


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if not _on_worker and report.failed:
        note("collect-error", nodeid=report.nodeid)


def backend_of(seed: int) -> str:
    """Alternate the state backend between trials: even seeds local, odd seeds S3."""
    return "local" if seed % 2 == 0 else "s3"


# --- specs ------------------------------------------------------------------------------------


@dataclass
class SpecDef:
    """One spec the harness writes (manifest in S3, or an inline roster staged by apply)."""

    kind: str
    name: str
    domain: str
    role: str | None = None
    watchlist: str | None = None
    roster: bool = False
    priority: int = 0
    origin: str = ""
    """The name the spec's content (manifest key, speaker id) was made under: a pure rename
    changes ``name`` and keeps this."""

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def base(self) -> str:
        return self.origin or self.name


def audio_for(kind: str, world: World, index: int) -> str:
    """Speakers get the even demo recordings, fraudsters the odd ones: an enrollment never
    trips the fraud check on a fraudster another spec registered (COMPLETED_WITH_ERRORS)."""
    return world.audio[(2 * index + (0 if kind == ENROLLMENT else 1)) % len(world.audio)]


def spec_yaml(spec: SpecDef, world: World, manifest_uri: str | None, index: int = 0) -> str:
    """The YAML of one spec document."""
    role = spec.role or world.role_arn
    if spec.roster:
        audio = audio_for(spec.kind, world, index)
        entry = (
            f"{{speakerId: {spec.base}-caller, audio: ['{audio}']}}"
            if spec.kind == ENROLLMENT
            else f"{{audio: ['{audio}']}}"
        )
        field_name = "speakers" if spec.kind == ENROLLMENT else "fraudsters"
        source = f"{{{field_name}: [{entry}], stagingUri: 's3://{world.bucket}/staging/'}}"
    else:
        source = f"{{manifest: '{manifest_uri}'}}"
    if spec.kind == ENROLLMENT:
        fraud = f", fraudDetection: {{watchlist: {spec.watchlist}}}" if spec.watchlist else ""
        section = f"  enrollment: {{existingEnrollmentAction: SKIP{fraud}}}\n"
    else:
        watchlist = f", watchlist: {spec.watchlist}" if spec.watchlist else ""
        section = f"  registration: {{duplicateRegistrationAction: SKIP{watchlist}}}\n"
    return (
        f"apiVersion: voiceid-reconciler/v1\nkind: {spec.kind}\n"
        f"metadata: {{name: {spec.name}, labels: {{suite: chaos}}}}\n"
        f"spec:\n  domain: {spec.domain}\n  dataAccessRoleArn: {role}\n"
        f"  input: {source}\n"
        f"  output: {{s3Uri: 's3://{world.bucket}/output/', kmsKeyId: {world.kms_alias}}}\n"
        f"  priority: {spec.priority}\n{section}"
    )


def manifest_body(kind: str, world: World, index: int) -> bytes:
    """A one-request manifest for an external-manifest spec."""
    return manifest(kind, audio_for(kind, world, index), speaker=f"chaos-{index:05d}")


# --- results of CLI runs ----------------------------------------------------------------------


@dataclass
class Run:
    """A finished CLI process."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    killed: bool = False

    @property
    def problem_lines(self) -> list[str]:
        """stderr without the JSON log events: what a person reads."""
        return [
            line
            for line in self.stderr.splitlines()
            if line.strip() and not line.lstrip().startswith("{")
        ]

    def blocked(self) -> dict[str, str]:
        """``Blocked <key>: <reason>.`` lines of an apply report."""
        out = {}
        for line in self.stdout.splitlines():
            if line.startswith("Blocked "):
                key, _, reason = line[len("Blocked ") :].partition(": ")
                out[key] = reason.rstrip(".")
        return out

    def describe(self) -> str:
        return (
            f"`{' '.join(self.args)}` exit {self.returncode}\n--- stdout\n{self.stdout[-3000:]}"
            f"\n--- stderr\n{self.stderr[-4000:]}"
        )


def assert_clean_exit(run: Run, tag: str, allowed: Sequence[int] = CLEAN_EXITS) -> None:
    """Exit with an allowed code; a failure is one line ``voiceid-reconciler: ...`` and never a
    traceback."""
    assert "Traceback" not in run.stderr, f"{tag}: traceback\n{run.describe()}"
    assert run.returncode in allowed, f"{tag}: unexpected exit\n{run.describe()}"
    if run.returncode == 1:
        lines = run.problem_lines
        assert len(lines) == 1, f"{tag}: not a one-line error\n{run.describe()}"
        assert lines[0].startswith("voiceid-reconciler: "), f"{tag}: {lines[0]!r}"


# --- the harness ------------------------------------------------------------------------------


@dataclass
class Chaos:
    """One trial: a world in the sandbox, specs, a state location, CLI processes."""

    sandbox: Sandbox
    root: Path
    seed: int
    tag: str
    rng: random.Random = field(init=False)
    world: World = field(init=False)
    specs: list[SpecDef] = field(default_factory=list)
    state: str = ""
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    apply_blocked: dict[str, str] = field(default_factory=dict)
    horizon: float | None = None
    """``$VOICEID_RECONCILER_LIST_LAG_HORIZON`` of the CLI runs (None: the suite's, 0)."""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.specs_dir = self.root / "repo" / "specs"
        self.specs_dir.mkdir(parents=True)
        (self.root / "repo" / ".git").mkdir()

    # -- set-up ------------------------------------------------------------------------------

    def build(
        self,
        *,
        domains: int = 2,
        specs: int = 6,
        backend: str = "local",
        rosters: float = 0.0,
        job_duration: float | None = None,
    ) -> Chaos:
        """A world of ``domains`` ACTIVE domains, ``specs`` specs spread over them and both
        kinds (a fraction of them inline rosters), and a state location."""
        if job_duration is not None:
            self.sandbox.configure(job_duration=job_duration)
        self.world = build_world(self.sandbox, domains=domains)
        names = sorted(self.world.domains)
        for i in range(specs):
            self.specs.append(
                SpecDef(
                    kind=KINDS[i % 2],
                    name=f"chaos-{i:03d}",
                    domain=names[(i // 2) % len(names)],
                    roster=self.rng.random() < rosters,
                    priority=self.rng.randint(0, 3),
                )
            )
        self.write_specs()
        (self.root / "state").mkdir()  # a missing state directory is a mistyped --state
        self.state = (
            str(self.root / "state" / "state.json")
            if backend == "local"
            else f"s3://{self.world.bucket}/chaos/{self.seed}/state.json"
        )
        return self

    def write_specs(self) -> None:
        """(Re)write every spec file, and the manifests of the external-manifest ones."""
        s3 = self.sandbox.client("s3")
        try:
            for i, spec in enumerate(self.specs):
                uri = None
                if not spec.roster:
                    key = f"manifests/{spec.base}.json"
                    s3.put_object(
                        Bucket=self.world.bucket,
                        Key=key,
                        Body=manifest_body(spec.kind, self.world, i),
                    )
                    uri = f"s3://{self.world.bucket}/{key}"
                path = self.specs_dir / f"{spec.name}.yaml"
                path.write_text(spec_yaml(spec, self.world, uri, i), encoding="utf-8")
        finally:
            s3.close()

    @property
    def keys(self) -> list[str]:
        return sorted(s.key for s in self.specs)

    def domain_id(self, name: str) -> str:
        return self.world.domains[name]

    # -- the CLI -----------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        horizon = {} if self.horizon is None else {HORIZON_ENV: f"{self.horizon:g}"}
        return {**os.environ, **self.sandbox.env(), **horizon}

    def args(self, command: str, *extra: str) -> tuple[str, ...]:
        """``command`` with the specs (for apply/plan) and the state location."""
        with_specs = command in ("apply", "plan", "validate")
        return (
            command,
            *([str(self.specs_dir)] if with_specs else []),
            *(["--state", self.state] if command != "validate" else []),
            *extra,
        )

    def spawn(
        self, *args: str, file_size_limit: int | None = None, clock_skew: float | None = None
    ) -> subprocess.Popen[str]:
        """Start the CLI in the background (reaped at the end of the test, whatever happens).

        ``file_size_limit``: no file the process writes may grow beyond this many bytes (as if
        the disk were full: a write past it fails with EFBIG; Python ignores SIGXFSZ). The
        limit is set by the child itself (a ``preexec_fn`` is unsafe in this threaded process).
        ``clock_skew``: the process's ``time.time()`` is off by this many seconds (a host whose
        clock is wrong; the sandbox's clock, and so Voice ID's and S3's, stays right).
        """
        launcher = ["-m", "reconciler"]
        if file_size_limit is not None:
            launcher = ["-c", LIMITED_LAUNCH, str(file_size_limit)]
        elif clock_skew is not None:
            launcher = ["-c", SKEWED_LAUNCH, f"{clock_skew:g}"]
        process = subprocess.Popen(
            [sys.executable, *launcher, *args],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
        )
        process.args = tuple(args)
        self.processes.append(process)
        return process

    def finish(self, process: subprocess.Popen[str], timeout: float = 120.0) -> Run:
        """Wait for a process (SIGKILL after ``timeout``) and collect its output."""
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            raise AssertionError(
                f"{self.tag}: `{' '.join(process.args)}` still running after {timeout}s\n"
                f"--- stderr\n{err[-4000:]}"
            ) from None
        return Run(tuple(process.args), process.returncode, out, err)

    def cli(
        self,
        *args: str,
        timeout: float = 120.0,
        file_size_limit: int | None = None,
        clock_skew: float | None = None,
    ) -> Run:
        """Run the CLI to completion."""
        process = self.spawn(*args, file_size_limit=file_size_limit, clock_skew=clock_skew)
        return self.finish(process, timeout=timeout)

    def kill(self, process: subprocess.Popen[str]) -> Run:
        """SIGKILL a process and reap it."""
        out, err = kill(process)
        return Run(tuple(process.args), process.returncode, out, err, killed=True)

    def wait_until(
        self,
        process: subprocess.Popen[str],
        ready: Callable[[], bool],
        *,
        deadline: float = 30.0,
        spin: bool = False,
    ) -> bool:
        """Poll ``ready()`` (``spin``: without pausing) while ``process`` runs; False if the
        process ended or the deadline passed first."""
        return wait_until(process, ready, deadline=deadline, spin=spin)

    def record(self, event: str, **fields: Any) -> None:
        """Note what this trial met in the soak's report (``$VOICEID_CHAOS_REPORT``)."""
        note(event, test=self.tag, seed=self.seed, **fields)

    def reap(self) -> None:
        """Kill and reap every process still running."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            with contextlib.suppress(Exception):
                process.communicate(timeout=30)

    def apply(self, *extra: str, wait: bool = True, timeout: float = 60.0) -> tuple[str, ...]:
        """The arguments of an ``apply`` run (``--wait`` bounded by ``timeout``)."""
        waiting = ("--wait", "--timeout", str(timeout)) if wait else ()
        return self.args("apply", *FAST, *waiting, *extra)

    # -- the sandbox -------------------------------------------------------------------------

    def starts(self) -> int:
        """Start* calls received by the sandbox so far."""
        calls = self.sandbox.calls()
        return sum(calls.get(op, 0) for op in STARTS)

    def kill_right_after_a_start(self) -> bool:
        """apply --wait killed while its first Start is in flight: the job is made, the state
        holds only the intent. Waits for the job to land and end; whether the state holds an
        unconfirmed intent (the kill landed in time)."""
        latency = 0.3
        self.sandbox.configure(latency=latency)
        process = self.spawn(*self.apply("--lock-ttl", "2"))
        assert self.wait_until(process, lambda: self.starts() >= 1, deadline=60), self.tag
        time.sleep(self.rng.uniform(0.0, latency * 0.6))
        self.kill(process)
        self.calm()
        self.wait_for_jobs(1, timeout=5)
        time.sleep(0.4)  # the job (0.2 s) has ended: its quota slot would not stop a second one
        state = self.check(final=False)
        return state is not None and any(r.job_id is None for r in state.all_jobs())

    def forget_tokens(self) -> str:
        """Make Voice ID forget every ClientToken: at once, or by a short token TTL."""
        if self.rng.random() < 0.5:
            self.sandbox.expire_tokens()
            return "expire_tokens"
        self.sandbox.configure(client_token_ttl=0.2)
        time.sleep(0.3)
        return "client_token_ttl"

    def calm(self) -> None:
        """Every transport fault off (throttling, errors, resets, latency, list lag)."""
        self.sandbox.configure(**CALM)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job in every domain of the world (fully listed; call ``calm`` first)."""
        client = self.sandbox.client("voice-id", retries={"total_max_attempts": 1})
        found = []
        try:
            for domain_id in self.world.domains.values():
                for kind, operation in LIST_OPERATION.items():
                    for page in client.get_paginator(operation).paginate(DomainId=domain_id):
                        found.extend({**j, "kind": kind} for j in page["JobSummaries"])
        finally:
            client.close()
        return found

    def wait_for_jobs(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` jobs are listed (a killed Start may still land)."""
        end = time.monotonic() + timeout
        while True:
            found = self.jobs()
            if len(found) >= count or time.monotonic() > end:
                return found
            time.sleep(0.05)

    # -- the state ---------------------------------------------------------------------------

    def state_text(self) -> str | None:
        """The stored state as text (None when there is none)."""
        if not self.state.startswith("s3://"):
            path = Path(self.state)
            if not path.exists():
                return None
            if not path.is_file():  # a named pipe would block: describe it, never read it
                return f"<not a regular file: mode {path.stat().st_mode:o}>"
            return path.read_bytes().decode("utf-8", "surrogateescape")
        bucket, _, key = self.state.removeprefix("s3://").partition("/")
        s3 = self.sandbox.client("s3")
        try:
            body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        finally:
            s3.close()
        return body.decode("utf-8", "surrogateescape")

    def put_state(self, body: bytes, suffix: str = "") -> None:
        """Write the stored state (or ``suffix``: its lock, backup, mark) as a person would: a
        file copied back, an object uploaded again."""
        if not self.state.startswith("s3://"):
            Path(self.state + suffix).write_bytes(body)
            return
        bucket, _, key = self.state.removeprefix("s3://").partition("/")
        s3 = self.sandbox.client("s3")
        try:
            s3.put_object(Bucket=bucket, Key=key + suffix, Body=body)
        finally:
            s3.close()

    def stored(self, suffix: str) -> bytes | None:
        """The state's sidecar ``suffix`` (``.backup``, ``.lock``, ``.mark``) as stored."""
        if not self.state.startswith("s3://"):
            path = Path(self.state + suffix)
            return path.read_bytes() if path.is_file() else None
        bucket, _, key = self.state.removeprefix("s3://").partition("/")
        s3 = self.sandbox.client("s3")
        try:
            return bytes(s3.get_object(Bucket=bucket, Key=key + suffix)["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None
        finally:
            s3.close()

    def delete_stored(self, suffix: str) -> bool:
        """Delete the state's sidecar ``suffix`` (a lock file removed by ``git clean -fdx``);
        whether it existed."""
        if not self.state.startswith("s3://"):
            path = Path(self.state + suffix)
            existed = path.exists()
            path.unlink(missing_ok=True)
            return existed
        existed = self.stored(suffix) is not None
        bucket, _, key = self.state.removeprefix("s3://").partition("/")
        s3 = self.sandbox.client("s3")
        try:
            s3.delete_object(Bucket=bucket, Key=key + suffix)
        finally:
            s3.close()
        return existed

    def delete_state(self) -> None:
        """Lose the state (and its backup): the disk died, the bucket was emptied."""
        if not self.state.startswith("s3://"):
            for suffix in ("", ".backup"):
                Path(self.state + suffix).unlink(missing_ok=True)
            return
        bucket, _, key = self.state.removeprefix("s3://").partition("/")
        s3 = self.sandbox.client("s3")
        try:
            for suffix in ("", ".backup"):
                s3.delete_object(Bucket=bucket, Key=key + suffix)
        finally:
            s3.close()

    # -- invariants --------------------------------------------------------------------------

    def check(
        self, *, final: bool = True, blocked_ok: Sequence[str] = (), foreign_ok: bool = False
    ) -> State | None:
        """Check the invariants. Mid-scenario (``final=False``, e.g. right after a kill) only
        (a) and (c) hold; after a completed run all four.

        ``blocked_ok``: spec keys that may end without a job (they must be reported blocked or
        queued with a reason). ``foreign_ok``: another state shares the domains, so the jobs of
        specs that are not this trial's (``specs``) need not be in this state.
        """
        self.calm()
        jobs = self.jobs()
        self._no_duplicates(jobs)  # (a)
        text = self.state_text()
        state = None
        if text is not None:
            state = self._state_is_valid(text)  # (c)
        elif final:
            raise AssertionError(f"{self.tag}: no state at {self.state} after a completed run")
        if final:
            assert state is not None
            self._every_job_recorded(jobs, state, foreign_ok=foreign_ok)  # (b)
            self._every_spec_accounted_for(blocked_ok)  # (d)
        return state

    def _no_duplicates(self, jobs: list[dict[str, Any]]) -> None:
        ours = [(j, parse_job_name(j.get("JobName"))) for j in jobs]
        per_identity = Counter(
            (j["DomainId"], j["kind"], parts.hash_prefix, parts.attempt)
            for j, parts in ours
            if parts
        )
        duplicates = {k: n for k, n in per_identity.items() if n > 1}
        assert not duplicates, (
            f"{self.tag}: invariant (a) broken: more than one job for a spec hash and attempt: "
            + ", ".join(
                f"{kind}/{prefix} attempt {attempt} in {domain}: {n} jobs"
                for (domain, kind, prefix, attempt), n in duplicates.items()
            )
        )

    def _state_is_valid(self, text: str) -> State:
        try:
            state = parse_state(text, self.state)
        except Exception as err:
            raise AssertionError(f"{self.tag}: invariant (c) broken: {err}") from err
        problems = []
        seen: Counter[str] = Counter(r.job_id for r in state.all_jobs() if r.job_id)
        problems += [f"job {job_id} recorded {n} times" for job_id, n in seen.items() if n > 1]
        for key, entry in state.specs.items():
            if key != f"{entry.kind}/{entry.name}":
                problems.append(f"{key}: entry says {entry.kind}/{entry.name}")
            problems += [f"{key}: job of another hash" for r in entry.jobs if r.hash != entry.hash]
            problems += [
                f"{key}: current job in history" for r in entry.history if r.hash == entry.hash
            ]
        for record in state.all_jobs():
            parts = parse_job_name(record.job_name)
            if parts is None or not record.hash.startswith(parts.hash_prefix):
                problems.append(f"{record.job_name}: name does not carry hash {record.hash[:12]}")
            elif parts.attempt != record.attempt:
                problems.append(f"{record.job_name}: attempt {record.attempt} != name's")
        assert not problems, f"{self.tag}: invariant (c) broken: {problems}"
        return state

    def _every_job_recorded(
        self, jobs: list[dict[str, Any]], state: State, *, foreign_ok: bool = False
    ) -> None:
        """(b): every job of our naming is a record of the state; a job of a current spec by
        that spec's entry (under its current name): its jobs if of the spec's current hash,
        its history if of an earlier one."""
        where: dict[str, str] = {}
        for key, entry in state.specs.items():
            where.update((r.job_id, f"{key} jobs") for r in entry.jobs if r.job_id)
            where.update((r.job_id, f"{key} history") for r in entry.history if r.job_id)
        where.update((r.job_id, "orphans") for r in state.orphans if r.job_id)
        where.update((r.job_id, "removed") for r in state.removed if r.job_id)
        current = {s.key for s in self.specs}
        by_hash = {
            (entry.kind, entry.hash[:32]): key
            for key, entry in state.specs.items()
            if key in current
        }
        problems = []
        for job in jobs:
            parts = parse_job_name(job.get("JobName"))
            if parts is None:
                continue
            found = where.get(job["JobId"])
            owner = by_hash.get((job["kind"], parts.hash_prefix))
            named = f"{job['kind']}/{parts.name}"
            if owner is not None:
                expected: str | None = f"{owner} jobs"
            elif named in current:
                expected = f"{named} history"
            else:
                expected = None  # a spec removed (or another state's): anywhere in the state
            if found is None and (expected is not None or not foreign_ok):
                problems.append(f"{job['JobName']} ({job['JobId']}) is not in the state")
            elif expected is not None and found != expected:
                problems.append(f"{job['JobName']} ({job['JobId']}) is in {found}, not {expected}")
        assert not problems, f"{self.tag}: invariant (b) broken: {problems}"

    def _every_spec_accounted_for(self, blocked_ok: Sequence[str]) -> None:
        plan_process = self.spawn(*self.args("plan", "--format", "json", "--tps", "0"))
        status_process = self.spawn(*self.args("status", "--format", "json"))
        plan_run, status_run = self.finish(plan_process), self.finish(status_process)
        assert plan_run.returncode == 0, f"{self.tag}: plan failed\n{plan_run.describe()}"
        assert status_run.returncode == 0, f"{self.tag}: status failed\n{status_run.describe()}"
        plan = json.loads(plan_run.stdout)
        status = {row["spec"]: row for row in json.loads(status_run.stdout)["specs"]}
        actions = {
            f"{a['kind']}/{a['name']}": a
            for a in plan["actions"]
            if a["action"] not in ("superseded", "orphaned")
        }
        problems = []
        for key in self.keys:
            action = actions.get(key)
            if action is None:
                problems.append(f"{key}: not in the plan")
            elif action["action"] == "in-sync":
                if not action["jobId"]:
                    problems.append(f"{key}: in-sync without a job")
                elif (status.get(key) or {}).get("jobId") != action["jobId"]:
                    problems.append(
                        f"{key}: status shows {status.get(key)}, plan {action['jobId']}"
                    )
            elif action["action"] in ("queued", "blocked"):
                if not action["reason"]:
                    problems.append(f"{key}: {action['action']} without a reason")
                elif key not in blocked_ok:
                    problems.append(
                        f"{key}: {action['action']} ({action['reason']}) after convergence"
                    )
            elif key in blocked_ok and self.apply_blocked.get(key):
                pass  # Voice ID refused the start: apply reported it blocked with the reason
            else:
                problems.append(
                    f"{key}: {action['action']} ({action['reason']}): no job, not queued or blocked"
                )
        assert not problems, f"{self.tag}: invariant (d) broken: {problems}"

    # -- convergence -------------------------------------------------------------------------

    def converge(self, attempts: int = 3, *, blocked_ok: Sequence[str] = ()) -> Run:
        """Faults off, then ``apply --wait`` until a run succeeds; the invariants must hold."""
        self.calm()
        runs = []
        for _ in range(attempts):
            run = self.cli(*self.apply(timeout=60))
            runs.append(run)
            assert "Traceback" not in run.stderr, f"{self.tag}: traceback\n{run.describe()}"
            self.apply_blocked = run.blocked()
            if run.returncode == 0:
                self.check(final=True, blocked_ok=blocked_ok)
                return run
        raise AssertionError(
            f"{self.tag}: no convergence in {attempts} runs\n"
            + "\n".join(r.describe() for r in runs)
        )


@pytest.fixture
def chaos_factory(
    voiceid_sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[int], Chaos]]:
    """Make the trial's harness: ``chaos_factory(seed)``; every process is reaped at the end."""
    made: list[Chaos] = []

    def make(seed: int) -> Chaos:
        tag = f"[{request.node.name}]"
        harness = Chaos(voiceid_sandbox, tmp_path / f"trial-{len(made)}", seed, tag)
        made.append(harness)
        return harness

    try:
        yield make
    finally:
        for harness in made:
            harness.reap()
        voiceid_sandbox.reset(aws=True)  # no knob of a chaos test outlives it
