"""The state on S3 (``--state s3://bucket/key``): a backend of the state-store protocol.

The protocol (:mod:`reconciler.adapters.statestore`) decides what is written when; this module
only gets, puts, deletes and locks the objects beside ``<key>``:

* **Conditional writes.** A put is ``PutObject`` with ``If-Match: <ETag expected>`` (or
  ``If-None-Match: *`` for an object expected absent). If anybody else wrote in between, S3
  answers 412 and the put is refused — unless the object already holds exactly what was put
  (our own write, whose answer was lost and whose retry S3 refused): then it is ours.
* **No append.** S3 objects cannot grow: the journal is replaced whole, conditionally (it holds
  one run's records since its last write: a small object, however large the state).
* **A lock object** ``<key>.lock`` holding ``{owner, host, pid, acquiredAt, expiresAt, ttl}``,
  created with ``If-None-Match: *``. The holder rewrites it every ``ttl / 3`` seconds from a
  heartbeat thread (``If-Match`` on its own ETag). A lock not rewritten for longer than its
  ``ttl`` — measured by S3's own clock, the answer's ``Date`` less the object's
  ``LastModified``, so that a host whose clock is ahead cannot take a live lock — belongs to a
  run that died (a killed CronJob pod): the next run takes it over with ``If-Match`` on the
  stale lock's ETag, so two runs can never both take it over. A run whose lock was taken over
  writes nothing more. ``voiceid-reconciler state unlock`` deletes it deliberately. The lock
  reads and waits by one :class:`~reconciler.adapters.clock.LockClock` (the host's unless a
  test passes one it drives).

This module talks to S3 only (never to Voice ID); the client is passed in
(:func:`reconciler.cli.registry.state_store` builds it).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import IO, Any

import botocore.exceptions
import structlog

from reconciler.adapters.aws import error_code, missing, precondition_failed
from reconciler.adapters.clock import HOST_CLOCK, LockClock
from reconciler.adapters.host import alive
from reconciler.adapters.statestore import (
    ANY,
    STATE,
    WHAT,
    BaseStateStore,
    Conflict,
    Version,
    _Any,
)
from reconciler.core import s3uri
from reconciler.core.errors import StateError, StateLockedError
from reconciler.core.state import DEFAULT_LOCK_TIMEOUT, DEFAULT_LOCK_TTL
from reconciler.core.times import when

log = structlog.get_logger("reconciler.state")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key)."""
    bucket, key = s3uri.split(url)
    if not bucket or not key or key.endswith("/"):
        raise StateError(f"{url}: an S3 state location is s3://<bucket>/<key>")
    return bucket, key


class S3StateStore(BaseStateStore):
    """The state as one S3 object, with a lock object beside it."""

    def __init__(
        self,
        url: str,
        client: Any,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        lock_ttl: float = DEFAULT_LOCK_TTL,
        clock: LockClock = HOST_CLOCK,
    ) -> None:
        super().__init__()
        self.url = url
        self.bucket, self.key = parse_s3_url(url)
        self.lock_key = self.key + ".lock"
        self.journal_key = self.key + ".journal"
        self.client = client
        self.lock_timeout = lock_timeout
        self.lock_ttl = lock_ttl
        self._clock = clock
        self._lock_etag: str | None = None
        self._lock_lost = threading.Event()
        # A fresh id per store, written into the lock: a create whose answer was lost and whose
        # retry S3 refused (412) is recognised as ours by it, and 'state unlock' breaks a lock
        # by it.
        self._owner = uuid.uuid4().hex

    @contextlib.contextmanager
    def _aws_errors(self) -> Iterator[None]:
        """Credentials, connection and configuration problems as one-line StateErrors."""
        try:
            yield
        except botocore.exceptions.BotoCoreError as err:
            raise StateError(f"{self.url}: {err}") from err

    # -- the lock -----------------------------------------------------------------------------

    def _lock_body(self, acquired_at: float) -> bytes:
        now = self._clock.time()
        return json.dumps(
            {
                "owner": self._owner,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "acquiredAt": acquired_at,
                "expiresAt": now + self.lock_ttl,
                "ttl": self.lock_ttl,
            },
            sort_keys=True,
        ).encode()

    def _try_lock(self, acquired_at: float) -> bool:
        try:
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=self.lock_key,
                Body=self._lock_body(acquired_at),
                IfNoneMatch="*",
            )
        except botocore.exceptions.ClientError as err:
            if not precondition_failed(err):
                raise StateError(f"{self.url}: cannot create the lock: {err}") from err
        else:
            self._lock_etag = response["ETag"]
            return True
        holder = self._holder()
        if holder is None:
            return False  # released between our attempts; try again
        info, etag, age = holder
        if info.get("owner") == self._owner:  # our own creation, whose answer was lost
            self._lock_etag = etag
            return True
        # A live holder: wait and try again; only a lock past its TTL is taken over.
        if not self._expired(info, age):
            return False
        try:  # the holder died: take its expired lock over, atomically
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=self.lock_key,
                Body=self._lock_body(acquired_at),
                IfMatch=etag,
            )
        except botocore.exceptions.ClientError as err:
            # Another run took the stale lock over first, or its holder released it: start
            # again.
            if precondition_failed(err) or missing(err):
                return False
            raise StateError(f"{self.url}: cannot take over the expired lock: {err}") from err
        log.warning(
            "state.lock_expired_taken_over", previous_owner=info.get("host"), pid=info.get("pid")
        )
        self._lock_etag = response["ETag"]
        return True

    def _locked_once(self, acquired_at: float) -> bool:
        with self._aws_errors():
            return self._try_lock(acquired_at)

    def lock_holder(self) -> tuple[dict[str, Any], str] | None:
        """The current lock's content and ETag, or None when nobody holds it."""
        holder = self._holder()
        return None if holder is None else holder[:2]

    def _holder(self) -> tuple[dict[str, Any], str, float | None] | None:
        """The lock's content, its ETag, and its age by S3's own clock: the time of the answer
        (its Date header) less the time its holder last wrote it (LastModified, renewed by every
        heartbeat). None when nobody holds it."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.lock_key)
        except botocore.exceptions.ClientError as err:
            if missing(err):
                return None
            raise StateError(f"{self.url}: cannot read the lock: {err}") from err
        try:
            info: dict[str, Any] = json.loads(response["Body"].read())
        except ValueError:
            info = {}
        if not isinstance(info, dict):
            info = {}
        age = None
        with contextlib.suppress(KeyError, TypeError, ValueError):
            # The answer's Date and the object's LastModified are both S3's clock: their
            # difference is the lock's age whatever this host's or the holder's clock says.
            answered = parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"])
            age = (answered - response["LastModified"]).total_seconds()
        return info, response["ETag"], age

    def _expired(self, info: dict[str, Any], age: float | None) -> bool:
        """Whether a lock belongs to a run that died: not renewed for longer than its TTL, as
        S3's clock measures it (never this host's clock against another host's, which may be
        skewed); one second of slack for the whole seconds S3 reports."""
        try:
            ttl = float(info.get("ttl", self.lock_ttl))
        except (TypeError, ValueError):
            ttl = self.lock_ttl
        if age is not None:
            return age > ttl + 1.0
        try:  # no server time in the answer: the holder's own expiry, by this host's clock
            return float(info.get("expiresAt", 0)) <= self._clock.time()
        except (TypeError, ValueError):
            return True

    def _heartbeat(self, stop: threading.Event, acquired_at: float) -> None:
        # Three beats per TTL: two may fail (a reset, a throttled answer) and the lock still
        # never looks expired to a run waiting for it.
        while not self._clock.wait(stop, self.lock_ttl / 3):
            try:
                response = self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.lock_key,
                    Body=self._lock_body(acquired_at),
                    IfMatch=self._lock_etag,
                )
            except botocore.exceptions.ClientError as err:
                if precondition_failed(err) or missing(err):
                    self._lock_lost.set()
                    log.error("state.lock_lost", state=self.url)
                    return
                # A 500 or a throttled beat is tried again at the next beat; only a lock that
                # changed hands is lost.
                log.warning("state.heartbeat_failed", error=error_code(err))
            except botocore.exceptions.BotoCoreError as err:  # a reset: try again next beat
                log.warning("state.heartbeat_failed", error=type(err).__name__)
            else:
                self._lock_etag = response["ETag"]

    @contextlib.contextmanager
    def locked(self) -> Iterator[S3StateStore]:
        """Hold the lock object; wait up to ``lock_timeout`` for a live holder to finish."""
        acquired_at = self._clock.time()
        deadline = self._clock.monotonic() + self.lock_timeout
        while not self._locked_once(acquired_at):
            if self._clock.monotonic() >= deadline:
                holder = self.lock_holder()
                who = f" ({self.describe_holder(holder[0])})" if holder else ""
                raise StateLockedError(
                    f"{self.url}: locked by another run for over {self.lock_timeout:g}s{who}; "
                    "try again later, or 'voiceid-reconciler state unlock' if that run is gone"
                )
            # At most a second between looks (each is a GET), at least 50 ms so a test's short
            # timeout does not spin.
            self._clock.sleep(min(1.0, max(0.05, self.lock_timeout / 20)))
        self._lock_lost.clear()
        stop = self._clock.event()
        # A daemon: a run that dies must not be kept alive by its heartbeat; its lock then
        # expires.
        beat = threading.Thread(target=self._heartbeat, args=(stop, acquired_at), daemon=True)
        beat.start()
        try:
            yield self
        finally:
            stop.set()
            # Joined before the release: the delete's If-Match must be the ETag of the last
            # beat.
            beat.join()
            with contextlib.suppress(
                botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError
            ):  # a lock left behind expires after its TTL
                if not self._lock_lost.is_set():
                    # If-Match: a lock another run took over meanwhile is that run's, and must
                    # not be deleted.
                    self.client.delete_object(
                        Bucket=self.bucket, Key=self.lock_key, IfMatch=self._lock_etag
                    )
            self._lock_etag = None

    def describe_holder(self, info: dict[str, Any]) -> str:
        """Who holds the lock, for people: its id, host and pid (alive or not, when the holder
        is on this host), when it was taken and when it expires."""
        now = self._clock.time()
        parts = [
            f"lock id {info.get('owner', '?')}",
            f"held by {info.get('host')} pid {info.get('pid')}",
        ]
        if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
            parts[-1] += " (alive on this host)" if alive(info["pid"]) else " (not running)"
        for label, key in (("taken", "acquiredAt"), ("expires", "expiresAt")):
            if isinstance(info.get(key), int | float):
                parts.append(f"{label} {when(float(info[key]), now)}")
        return ", ".join(parts)

    def unlock(self, lock_id: str | None = None, *, force: bool = False) -> str:
        """Delete the lock object deliberately, but only the lock ``lock_id`` names (or any
        lock with ``force``); say what was removed. Without either, say who holds it and
        refuse (:class:`StateError`)."""
        with self._aws_errors():
            return self._unlock(lock_id, force=force)

    def _current_etag_if(self, body: bytes, key: str | None = None) -> str | None:
        """The ETag of the state object (or ``key``) when its content is exactly ``body``,
        else None."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key or self.key)
        except botocore.exceptions.ClientError:
            return None
        return str(response["ETag"]) if response["Body"].read() == body else None

    def _unlock(self, lock_id: str | None, *, force: bool) -> str:
        holder = self.lock_holder()
        if holder is None:
            return f"{self.url}: not locked"
        info, etag = holder
        who = self.describe_holder(info)
        if not force and lock_id != info.get("owner"):
            given = f"lock id {lock_id} is not the lock's" if lock_id else "no lock id given"
            raise StateError(
                f"{self.url}: locked ({who}); {given}: to break it, "
                f"'voiceid-reconciler state unlock {info.get('owner', '<LOCK_ID>')}' "
                "(or --force), once that run is gone"
            )
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.lock_key, IfMatch=etag)
        except botocore.exceptions.ClientError as err:
            if precondition_failed(err) or missing(err):
                raise StateError(
                    f"{self.url}: the lock changed while breaking it (its holder renewed or "
                    "released it); nothing removed — look again"
                ) from err
            raise
        return f"{self.url}: removed the lock ({who})"

    # -- the primitives -----------------------------------------------------------------------

    def where(self, suffix: str = STATE) -> str:
        return self.url + suffix

    def _check_lock(self) -> None:
        if self._lock_lost.is_set():
            raise StateError(
                f"{self.url}: the lock was lost (another run took it over); not writing"
            )

    def _open(self, suffix: str) -> tuple[IO[bytes], Version] | None:
        with self._aws_errors():
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self.key + suffix)
            except botocore.exceptions.ClientError as err:
                # A missing bucket is a mistyped --state, never a missing state: read as 'no
                # state yet', the run would start from nothing in the wrong place.
                if error_code(err) == "NoSuchBucket":
                    raise StateError(
                        f"{self.url}: the bucket {self.bucket} does not exist (a mistyped --state?)"
                    ) from err
                if missing(err):
                    return None
                raise StateError(
                    f"{self.where(suffix)}: cannot read {WHAT[suffix]}: {error_code(err)}"
                ) from err
            return io.BytesIO(response["Body"].read()), str(response["ETag"])

    def _exists(self, suffix: str) -> bool:
        with self._aws_errors():
            try:
                self.client.head_object(Bucket=self.bucket, Key=self.key + suffix)
            except botocore.exceptions.ClientError as err:
                if missing(err):
                    return False
                raise StateError(
                    f"{self.where(suffix)}: cannot look for {WHAT[suffix]}: {error_code(err)}"
                ) from err
            return True

    def _put(self, suffix: str, data: bytes, *, expect: Version | _Any | None) -> Version:
        condition: dict[str, Any] = {}
        if expect is None:
            condition["IfNoneMatch"] = "*"
        elif expect is not ANY:
            condition["IfMatch"] = expect
        if suffix == STATE:
            condition["ContentType"] = "application/json"
        with self._aws_errors():
            try:
                response = self.client.put_object(
                    Bucket=self.bucket, Key=self.key + suffix, Body=data, **condition
                )
            except botocore.exceptions.ClientError as err:
                if not precondition_failed(err):
                    raise StateError(
                        f"{self.where(suffix)}: cannot write {WHAT[suffix]}: {error_code(err)}"
                    ) from err
                # botocore retries a put whose answer was lost; if the first attempt landed, the
                # retry's If-Match no longer holds and S3 answers 412. The object then holding
                # our very bytes is that write, not another run's.
                current = self._current_etag_if(data, self.key + suffix)
                if current is None:  # not our own write, whose answer was lost and retried
                    raise Conflict(f"{self.where(suffix)}: not the version expected") from err
                return current
            return str(response["ETag"])

    def _append(self, suffix: str, whole: bytes, tail: bytes, *, expect: Version) -> Version:
        """S3 cannot append: the object is replaced whole (a journal is this run's records since
        its last write, a small object however large the state), if it is still ``expect``."""
        del tail
        return self._put(suffix, whole, expect=expect)

    def _delete(self, suffix: str, *, expect: Version | _Any) -> None:
        condition = {} if expect is ANY else {"IfMatch": expect}
        with self._aws_errors():
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key + suffix, **condition)
            except botocore.exceptions.ClientError as err:
                if precondition_failed(err):
                    raise Conflict(f"{self.where(suffix)}: not the version expected") from err
                if not missing(err):
                    raise StateError(
                        f"{self.where(suffix)}: cannot remove {WHAT[suffix]}: {error_code(err)}"
                    ) from err
