"""Helpers for tests that run the reconciler against the sandbox: worlds, specs, invariants."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reconciler.adapters.clock import HostClock
from reconciler.adapters.localstore import LocalStateStore
from reconciler.core.identity import parse_job_name
from reconciler.core.kinds import JobKind
from reconciler.core.roster import Request, render_manifest
from reconciler.core.state import State
from reconciler.core.times import epoch, iso
from reconciler.sandbox import Sandbox

KINDS = ("SpeakerEnrollmentJob", "FraudsterRegistrationJob")
LIST_OPERATION = {
    "SpeakerEnrollmentJob": "list_speaker_enrollment_jobs",
    "FraudsterRegistrationJob": "list_fraudster_registration_jobs",
}


@dataclass
class World:
    sandbox: Sandbox
    bucket: str
    role_arn: str
    kms_alias: str
    domains: dict[str, str]  # name -> id
    audio: tuple[str, ...]


def build_world(sandbox: Sandbox, domains: int = 1) -> World:
    """The demo world plus ``domains - 1`` more ACTIVE domains."""
    demo = sandbox.seed_demo_world()
    names = {demo.domain_name: demo.domain_id}
    client = sandbox.client("voice-id", retries={"total_max_attempts": 1})
    try:
        for i in range(1, domains):
            created = client.create_domain(
                Name=f"test-domain-{i}",
                ServerSideEncryptionConfiguration={"KmsKeyId": demo.kms_key_arn},
            )["Domain"]
            names[created["Name"]] = created["DomainId"]
    finally:
        client.close()
    return World(sandbox, demo.bucket, demo.role_arn, demo.kms_alias, names, demo.audio_uris)


def write_specs(
    world: World,
    directory: Path,
    count: int,
    *,
    kinds: tuple[str, ...] = KINDS,
    manifests: bool = True,
) -> list[str]:
    """``count`` specs spread over the world's domains and ``kinds``; returns their keys."""
    directory.mkdir(parents=True, exist_ok=True)
    s3 = world.sandbox.client("s3") if manifests else None
    domains = sorted(world.domains)
    keys = []
    try:
        for i in range(count):
            kind = kinds[i % len(kinds)]
            name = f"spec-{i:04d}"
            manifest_key = f"manifests/{name}.json"
            section = (
                "  enrollment: {existingEnrollmentAction: SKIP}\n"
                if kind == "SpeakerEnrollmentJob"
                else "  registration: {duplicateRegistrationAction: SKIP}\n"
            )
            (directory / f"{name}.yaml").write_text(
                f"apiVersion: voiceid-reconciler/v1\nkind: {kind}\nmetadata: {{name: {name}}}\n"
                f"spec:\n  domain: {domains[(i // len(kinds)) % len(domains)]}\n"
                f"  dataAccessRoleArn: {world.role_arn}\n"
                f"  input: {{manifest: 's3://{world.bucket}/{manifest_key}'}}\n"
                f"  output: {{s3Uri: 's3://{world.bucket}/output/', kmsKeyId: {world.kms_alias}}}\n"
                f"{section}"
            )
            if s3 is not None:
                audio = world.audio[i % len(world.audio)]
                body = manifest(kind, audio, speaker=f"caller-{i:05d}")
                s3.put_object(Bucket=world.bucket, Key=manifest_key, Body=body)
            keys.append(f"{kind}/{name}")
    finally:
        if s3 is not None:
            s3.close()
    return keys


def manifest(kind: str, audio: str, *, speaker: str | None = None, offset: int = 0) -> bytes:
    """A one-request manifest of ``kind`` (``speaker``: an enrollment's speaker id; ``offset``
    numbers its request, to make another version of it), written by the product's own writer
    (:func:`reconciler.core.roster.render_manifest`): the one place the format is written."""
    enrolls = kind == JobKind.ENROLLMENT
    request = Request(speaker_id=speaker if enrolls else None, audio=((audio, 0),))
    return render_manifest(kind, [request], offset=offset)


def all_jobs(world: World) -> list[dict[str, Any]]:
    """Every job of every kind in every domain of the world, through the real API."""
    client = world.sandbox.client("voice-id", retries={"total_max_attempts": 1})
    jobs = []
    try:
        for domain_id in world.domains.values():
            for kind, operation in LIST_OPERATION.items():
                paginator = client.get_paginator(operation)
                for page in paginator.paginate(DomainId=domain_id):
                    jobs.extend({**j, "kind": kind} for j in page["JobSummaries"])
    finally:
        client.close()
    return jobs


def check_after_crash(world: World, state_path: Path) -> None:
    """Right after a kill: no duplicate, and every job of ours is either recorded or covered by
    an intent written before its Start (the next run completes the record)."""
    jobs = all_jobs(world)
    ours = [(j, parse_job_name(j.get("JobName"))) for j in jobs]
    per_identity = Counter((parts.hash_prefix, parts.attempt) for _, parts in ours if parts)
    assert all(n == 1 for n in per_identity.values()), per_identity
    if not state_path.exists():
        assert not ours, "a job was started before any intent was on disk"
        return
    state = LocalStateStore(state_path).read()
    recorded = {r.job_id for r in state.all_jobs()}
    intents = {(r.hash[:32], r.attempt) for r in state.all_jobs() if r.job_id is None}
    for job, parts in ours:
        if parts and job["JobId"] not in recorded:
            assert (parts.hash_prefix, parts.attempt) in intents, f"no intent for {job['JobName']}"


def check_invariants(world: World, state_path: Path) -> tuple[list[dict[str, Any]], State]:
    """At most one job per spec hash and attempt; every job with our naming is in the state."""
    jobs = all_jobs(world)
    ours = [(j, parse_job_name(j.get("JobName"))) for j in jobs]
    per_identity = Counter((parts.hash_prefix, parts.attempt) for _, parts in ours if parts)
    duplicates = {k: n for k, n in per_identity.items() if n > 1}
    assert not duplicates, f"more than one job for a spec hash: {duplicates}"
    state = LocalStateStore(state_path).read()
    recorded = {r.job_id for r in state.all_jobs()}
    missing = [j["JobId"] for j, parts in ours if parts and j["JobId"] not in recorded]
    assert not missing, f"jobs not recorded in the state: {missing}"
    return jobs, state


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


WAIT_FAST = ("--tps", "0", "--wait", "--poll-interval", "0.05", "--timeout", "60")
"""apply --wait against the sandbox: no client-side rate limit, quick polls, a bound."""


def spawn_cli(*args: str, env: dict[str, str], quiet: bool = False) -> subprocess.Popen[str]:
    """The real CLI started in the background (stdout and stderr captured; ``quiet``: thrown
    away, for a run nobody reads before it ends, whose log could fill the pipe)."""
    output = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        env={**os.environ, **env},
        stdout=output,
        stderr=output,
        text=True,
    )


def wait_all_ok(processes: list[subprocess.Popen[str]], timeout: float = 180) -> None:
    """Reap every process; each must have exited 0 (its stderr is the failure message)."""
    failures = []
    for process in processes:
        _out, err = process.communicate(timeout=timeout)
        if process.returncode != 0:
            failures.append(f"exit {process.returncode}: {err}")
    assert not failures, failures


def age_state(state_path: Path, seconds: float) -> None:
    """Move the times a state recorded for the list-lag policy (listings, provisional listings,
    intents) ``seconds`` into the past: as if that much time had passed, without sleeping."""
    store = LocalStateStore(state_path)
    state = store.read()
    for table in (state.listings, state.provisional):
        for key, value in table.items():
            table[key] = iso(epoch(value) - seconds)
    for record in state.all_jobs():
        if record.intent_at:
            record.intent_at = iso(epoch(record.intent_at) - seconds)
    store.write(state)


class Receiver:
    """A local HTTP server (loopback, stopped by ``close``) that records every POST: a webhook
    or GitHub stand-in. ``status`` is what it answers; ``fails(n)``, when set, says whether
    the n-th request (from 0) is answered 500 instead."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.fails: Callable[[int], bool] | None = None
        self.get_answers: dict[str, Any] = {}
        """``GET`` answers (JSON) by path prefix; anything else is a 404."""
        self.gets: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.gets.append(self.path)
                found = [v for k, v in receiver.get_answers.items() if self.path.startswith(k)]
                answer = json.dumps(found[0]).encode() if found else b'{"message": "Not Found"}'
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    index = len(receiver.requests)
                    status = receiver.status
                    if receiver.fails is not None and receiver.fails(index):
                        status = 500
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "status": status,
                        }
                    )
                self.send_response(status)
                answer = b'{"id": 1, "state": "success"}' if status < 300 else b"{}"
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, fmt: str, *args: Any) -> None:
                del fmt, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def payloads(self, *, accepted_only: bool = False) -> list[dict[str, Any]]:
        """The JSON bodies received (``accepted_only``: those answered 2xx)."""
        return [
            json.loads(r["body"]) for r in self.requests if not accepted_only or r["status"] < 300
        ]


# --- processes: spawn, wait for a moment, kill ------------------------------------------------

PATIENCE = 60.0
"""The most a test waits for something it expects (a busy machine starts Python slowly)."""


def wait_until(
    process: subprocess.Popen[Any],
    ready: Callable[[], bool],
    *,
    deadline: float = PATIENCE,
    spin: bool = False,
) -> bool:
    """Ask ``ready()`` again and again while ``process`` runs; True as soon as it holds, False
    if the process ended or ``deadline`` seconds passed first. Between two asks it waits for
    the process to end (2 ms at most), never sleeps; ``spin``: not even that
    (``ready`` paces itself, e.g. by reading a file the process writes)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if ready():
            return True
        try:
            process.wait(timeout=0 if spin else 0.002)
        except subprocess.TimeoutExpired:
            continue
        return False
    return False


def kill(process: subprocess.Popen[Any]) -> tuple[Any, Any]:
    """SIGKILL ``process`` (if it still runs) and reap it; its output (None if not piped)."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGKILL)
    return process.communicate()


def kill_when(
    process: subprocess.Popen[Any],
    ready: Callable[[], bool],
    *,
    deadline: float = PATIENCE,
    spin: bool = False,
) -> bool:
    """SIGKILL ``process`` as soon as ``ready()`` holds (:func:`wait_until`) and reap it;
    whether the kill came while it ran (False: it had ended, or the deadline passed)."""
    in_time = wait_until(process, ready, deadline=deadline, spin=spin)
    kill(process)
    return in_time


# --- clocks a test drives -------------------------------------------------------------------

START = 1_800_000_000.0


class _ClockEvent(threading.Event):
    """An event whose ``set`` wakes the :class:`DrivenClock` waits on it at once."""

    def __init__(self, condition: threading.Condition) -> None:
        super().__init__()
        self._condition = condition

    def set(self) -> None:
        super().set()
        with self._condition:
            self._condition.notify_all()


class DrivenClock:
    """A :class:`~reconciler.adapters.clock.LockClock` whose time moves only when the test
    moves it (``advance``) or a lock sleeps on it: a heartbeat waiting ``ttl / 3`` beats when the
    test moves the clock past it, in no wall time. ``settle`` waits (on a condition, with a
    deadline) until every waiter is back waiting for a later time: the beats it owed are done."""

    def __init__(self, start: float = START) -> None:
        self.start = self.now = start
        self.sleeps: list[float] = []
        self.beats = 0
        """Waits that ended because their time came (a heartbeat's beats)."""
        self._condition = threading.Condition()
        self._waits: dict[int, float] = {}  # thread id -> until

    def time(self) -> float:
        with self._condition:
            return self.now

    def monotonic(self) -> float:
        return self.time() - self.start

    def sleep(self, seconds: float) -> None:
        with self._condition:
            self.sleeps.append(seconds)
            self.now += seconds
            self._condition.notify_all()

    def advance(self, seconds: float) -> None:
        self.sleep(seconds)
        self.sleeps.pop()

    def event(self) -> threading.Event:
        return _ClockEvent(self._condition)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        me = threading.get_ident()
        with self._condition:
            self._waits[me] = until = self.now + seconds
            self._condition.notify_all()
            try:
                while not event.is_set() and self.now < until:
                    if not self._condition.wait(timeout=PATIENCE):
                        raise AssertionError(f"nobody moved the clock for {PATIENCE:g}s")
                if not event.is_set():
                    self.beats += 1
                return event.is_set()
            finally:
                del self._waits[me]
                self._condition.notify_all()

    def settle(self, waiters: int = 1) -> None:
        """Wait until ``waiters`` threads wait for a time still to come."""
        with self._condition:
            if not self._condition.wait_for(
                lambda: sum(u > self.now for u in self._waits.values()) >= waiters,
                timeout=PATIENCE,
            ):
                raise AssertionError(f"no {waiters} waiter(s) within {PATIENCE:g}s")


class SkewedClock(HostClock):
    """The host's clock, its wall time ``offset`` seconds off (a host whose clock is wrong)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def time(self) -> float:
        return super().time() + self.offset


class S3AtClock:
    """An S3 client (boto3's, through the sandbox) whose answers tell ``clock``'s time as S3's
    own: every answer's ``Date`` is the clock's now, and an object written through it was
    ``LastModified`` at the clock's time of that write. A lock's age, which S3's clock
    measures, then follows the clock a test drives."""

    def __init__(self, client: Any, clock: DrivenClock) -> None:
        self._client = client
        self._clock = clock
        self._written: dict[str, float] = {}  # ETag -> when

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _dated(self, response: dict[str, Any]) -> dict[str, Any]:
        headers = response["ResponseMetadata"]["HTTPHeaders"]
        headers["date"] = formatdate(self._clock.time(), usegmt=True)
        return response

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        response = self._client.put_object(**kwargs)
        self._written[response["ETag"]] = self._clock.time()
        return self._dated(response)

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        response = self._client.get_object(**kwargs)
        written = self._written.get(response["ETag"])
        if written is not None:
            response["LastModified"] = datetime.fromtimestamp(written, UTC)
        return self._dated(response)
