"""The state on S3 (``--state s3://bucket/key``): conditional writes and a lock with a TTL.

* **Optimistic concurrency.** A write is ``PutObject`` with ``If-Match: <ETag read>`` (or
  ``If-None-Match: *`` when the object does not exist yet). If anybody else wrote in between,
  S3 answers 412 and the run stops without overwriting: nothing is lost or silently replaced.
* **A lock object** ``<key>.lock`` holding ``{owner, host, pid, acquiredAt, expiresAt, ttl}``,
  created with ``If-None-Match: *``. The holder rewrites it every ``ttl / 3`` seconds from a
  heartbeat thread (``If-Match`` on its own ETag). A lock not rewritten for longer than its
  ``ttl`` — measured by S3's own clock, the answer's ``Date`` less the object's
  ``LastModified``, so that a host whose clock is ahead cannot take a live lock — belongs to a
  run that died (a killed CronJob pod): the next run takes it over with ``If-Match`` on the
  stale lock's ETag, so two runs can never both take it over.
  ``voiceid-reconciler state unlock`` deletes it deliberately.
* **A backup** ``<key>.backup``: a copy of the state as last written (after every write), so
  that restoring it, as the recovery hint says, never brings back a state that lacks starts.

This module talks to S3 only (never to Voice ID); the client is passed in
(:func:`reconciler.adapters.stores.open_store` builds it).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import botocore.exceptions
import structlog

from reconciler.adapters.aws import S3_ERRORS, error_code, missing, precondition_failed
from reconciler.adapters.host import alive
from reconciler.core import s3uri
from reconciler.core.errors import StateError, StateLockedError
from reconciler.core.state import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_LOCK_TTL,
    Journal,
    JournalChange,
    State,
    distrust_if_behind,
    mark_text,
    parse_state,
    read_layout,
    replay_journal,
)
from reconciler.core.times import when

log = structlog.get_logger("reconciler.state")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key)."""
    bucket, key = s3uri.split(url)
    if not bucket or not key or key.endswith("/"):
        raise StateError(f"{url}: an S3 state location is s3://<bucket>/<key>")
    return bucket, key


class S3StateStore:
    """The state as one S3 object, with a lock object beside it."""

    def __init__(
        self,
        url: str,
        client: Any,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        lock_ttl: float = DEFAULT_LOCK_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.bucket, self.key = parse_s3_url(url)
        self.lock_key = self.key + ".lock"
        self.backup_key = self.key + ".backup"
        self.mark_key = self.key + ".mark"
        self.cache_key = self.key + ".cache"
        self.journal_key = self.key + ".journal"
        self.client = client
        self.lock_timeout = lock_timeout
        self.lock_ttl = lock_ttl
        self._clock = clock
        self._etag: str | None = None
        self._stored: str | None = None
        """The fingerprint of the state as read or last written (None: nothing there)."""
        self._journal: Journal | None = None
        """The journal this run writes since the state was last written."""
        self._journal_left = False
        """A journal is there (this run's, or an earlier one's): the next write removes it."""
        self._journal_etag: str | None = None
        """The journal object's ETag as this run read or last wrote it: every journal write and
        its removal are conditional on it, so a run that lost its lock cannot replace or remove
        the journal of the run that holds it now."""
        self._lock_etag: str | None = None
        self._lock_lost = threading.Event()
        self._owner = uuid.uuid4().hex

    def __str__(self) -> str:
        return self.url

    @contextlib.contextmanager
    def _aws_errors(self) -> Iterator[None]:
        """Credentials, connection and configuration problems as one-line StateErrors."""
        try:
            yield
        except botocore.exceptions.BotoCoreError as err:
            raise StateError(f"{self.url}: {err}") from err

    # -- the lock -----------------------------------------------------------------------------

    def _lock_body(self, acquired_at: float) -> bytes:
        now = self._clock()
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
            return float(info.get("expiresAt", 0)) <= self._clock()
        except (TypeError, ValueError):
            return True

    def _heartbeat(self, stop: threading.Event, acquired_at: float) -> None:
        while not stop.wait(self.lock_ttl / 3):
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
                log.warning("state.heartbeat_failed", error=error_code(err))
            except botocore.exceptions.BotoCoreError as err:  # a reset: try again next beat
                log.warning("state.heartbeat_failed", error=type(err).__name__)
            else:
                self._lock_etag = response["ETag"]

    @contextlib.contextmanager
    def locked(self) -> Iterator[S3StateStore]:
        """Hold the lock object; wait up to ``lock_timeout`` for a live holder to finish."""
        acquired_at = self._clock()
        deadline = time.monotonic() + self.lock_timeout
        while not self._locked_once(acquired_at):
            if time.monotonic() >= deadline:
                holder = self.lock_holder()
                who = f" ({self.describe_holder(holder[0])})" if holder else ""
                raise StateLockedError(
                    f"{self.url}: locked by another run for over {self.lock_timeout:g}s{who}; "
                    "try again later, or 'voiceid-reconciler state unlock' if that run is gone"
                )
            time.sleep(min(1.0, max(0.05, self.lock_timeout / 20)))
        self._lock_lost.clear()
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(stop, acquired_at), daemon=True)
        beat.start()
        try:
            yield self
        finally:
            stop.set()
            beat.join()
            with contextlib.suppress(
                botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError
            ):  # a lock left behind expires after its TTL
                if not self._lock_lost.is_set():
                    self.client.delete_object(
                        Bucket=self.bucket, Key=self.lock_key, IfMatch=self._lock_etag
                    )
            self._lock_etag = None

    def describe_holder(self, info: dict[str, Any]) -> str:
        """Who holds the lock, for people: its id, host and pid (alive or not, when the holder
        is on this host), when it was taken and when it expires."""
        now = self._clock()
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

    # -- the state ----------------------------------------------------------------------------

    def read(self) -> State:
        """The stored state (a new one when the object does not exist)."""
        with self._aws_errors():
            return self._read()

    def _read(self) -> State:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except botocore.exceptions.ClientError as err:
            if error_code(err) == "NoSuchBucket":
                raise StateError(
                    f"{self.url}: the bucket {self.bucket} does not exist (a mistyped --state?)"
                ) from err
            if missing(err):
                self._missing_is_new()
                self._etag = None
                self._stored = None
                state = State()
                if self._read_mark() is not None:
                    state.distrust(f"it replaces a lost state ({self.url}.mark remains)")
                    log.warning("state.untrusted", state=self.url, reason=state.untrusted)
                return state
            raise StateError(f"{self.url}: cannot read state: {err}") from err
        self._etag = response["ETag"]  # so that state rebuild may replace a broken object
        data = response["Body"].read()
        laid_out = read_layout(io.BytesIO(data))  # line by line: no JSON tree of it whole
        if laid_out is not None:
            state = laid_out
        else:  # laid out otherwise, or broken: read whole, and judged
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as err:
                raise StateError(
                    f"{self.url}: the state is not UTF-8 ({err.reason} at byte {err.start}); "
                    f"the object is left untouched; restore {self.url}.backup or run "
                    "'voiceid-reconciler state rebuild'"
                ) from err
            del data
            state = parse_state(text, self.url, layout=False)
        self._stored = state.read_fingerprint or state.fingerprint()
        reason = distrust_if_behind(
            state, self._read_mark(), self._replay_journal(state), digest=self._stored
        )
        if reason:
            log.warning("state.untrusted", state=self.url, reason=reason)
        return state

    def _replay_journal(self, state: State) -> int:
        """Replay the journal that follows the state read (a run that died after its last
        write left it); the records replayed."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.journal_key)
        except botocore.exceptions.ClientError as err:
            if missing(err):
                return 0
            # Unknown: it may hold starts. Not trusted, as a state that lost some is not.
            log.warning("state.journal_unreadable", state=self.url, error=error_code(err))
            state.distrust(f"its journal {self.url}.journal cannot be read ({error_code(err)})")
            return 0
        text = response["Body"].read().decode("utf-8", "replace")
        self._journal_left = True
        self._journal_etag = str(response["ETag"])
        count = replay_journal(state, text, f"{self.url}.journal")
        if count is None:
            log.info("state.journal_stale", state=self.url)
            return 0
        log.info("state.journal_replayed", state=self.url, records=count)
        return count

    def journal(self, state: State, changes: Sequence[JournalChange]) -> None:
        """Record job records in the journal object beside the state (this run's records since
        the last write: a small object, however large the state) instead of rewriting the
        state; the next :meth:`write` takes them in. Refused once the lock is lost."""
        with self._aws_errors():
            self._refuse_if_lock_lost()
            journal = self._journal or Journal(state)
            lines = [Journal.line(state, change) for change in changes]
            text = "".join(f"{line}\n" for line in [journal.header, *journal.lines, *lines])
            body = text.encode()
            etag = self._journal_etag
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            try:
                response = self.client.put_object(
                    Bucket=self.bucket, Key=self.journal_key, Body=body, **condition
                )
                written = str(response["ETag"])
            except botocore.exceptions.ClientError as err:
                current = (
                    self._current_etag_if(body, self.journal_key)
                    if precondition_failed(err)
                    else None
                )
                if current is None:  # not our own write whose answer was lost
                    raise StateError(
                        f"{self.url}: the state's journal changed since this run wrote it "
                        "(another run took the lock over?); not writing"
                        if precondition_failed(err)
                        else f"{self.url}: cannot write the state's journal: {err}"
                    ) from err
                written = current
            self._journal, self._journal_etag = journal, written
            journal.lines.extend(lines)
            self._journal_left = True
            self._write_mark(state, len(journal.lines))

    def read_cache(self) -> bytes | None:
        """The spec cache beside the state (``<key>.cache``), or None (none, or unreadable:
        a warning; a cache only saves time)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.cache_key)
            return bytes(response["Body"].read())
        except botocore.exceptions.ClientError as err:
            if not missing(err):
                log.warning("spec_cache.unreadable", state=self.url, error=error_code(err))
        except botocore.exceptions.BotoCoreError as err:
            log.warning("spec_cache.unreadable", state=self.url, error=type(err).__name__)
        return None

    def write_cache(self, data: bytes) -> None:
        """Replace the spec cache (unconditionally: it holds only content-addressed entries,
        true for anyone; a concurrent writer's new entries return on its next run). A failure
        is a warning (a read-only plan role may not write it)."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.cache_key, Body=data)
        except S3_ERRORS as err:
            log.warning("spec_cache.not_saved", state=self.url, error=error_code(err))

    def _read_mark(self) -> str | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.mark_key)
        except botocore.exceptions.ClientError as err:
            if not missing(err):  # unknown: trusted, as a state without a mark is
                log.warning("state.mark_unreadable", state=self.url, error=error_code(err))
            return None
        return str(response["Body"].read().decode("utf-8", "replace"))

    def _missing_is_new(self) -> None:
        """A missing state object is a new state only when no backup says one existed."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.backup_key)
        except botocore.exceptions.ClientError as err:
            if missing(err):
                return
            raise StateError(f"{self.url}: cannot look for the backup: {err}") from err
        raise StateError(
            f"{self.url}: the state is missing but its backup {self.url}.backup is there, so a "
            "state existed: restore it (copy the backup over the state) or run "
            "'voiceid-reconciler state rebuild'"
        )

    def write(self, state: State) -> None:
        """Write if nobody else wrote since our read (If-Match); refuse otherwise."""
        with self._aws_errors():
            self._write(state)

    def _refuse_if_lock_lost(self) -> None:
        if self._lock_lost.is_set():
            raise StateError(
                f"{self.url}: the lock was lost (another run took it over); not writing"
            )

    def _write(self, state: State) -> None:
        self._refuse_if_lock_lost()
        fingerprint = state.fingerprint()
        if fingerprint == self._stored:
            log.debug("state.unchanged", state=self.url, serial=state.serial)
            if self._journal_left and self._remove_journal():  # it holds no change: it goes
                self._journal = None
                self._write_mark(state, 0)
            return  # nothing new: no PUT of the state, its backup or its mark
        state.serial += 1
        body = state.to_json().encode()
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except botocore.exceptions.ClientError as err:
            current = self._current_etag_if(body) if precondition_failed(err) else None
            if current is not None:  # our own write, whose answer was lost: its retry was
                self._etag = current  # refused because the object is already ours
                self._written(state, fingerprint, body)
                return
            state.serial -= 1
            if precondition_failed(err):
                raise StateError(
                    f"{self.url}: the state changed since this run read it (another writer); "
                    "not overwritten — run again"
                ) from err
            raise StateError(f"{self.url}: cannot write state: {err}") from err
        self._etag = response["ETag"]
        self._written(state, fingerprint, body)

    def _written(self, state: State, fingerprint: str, body: bytes) -> None:
        """After a write: its backup, its mark, and the journal it took in removed."""
        self._stored = fingerprint
        self._journal = None  # taken in: the next record starts a journal of this write
        self._back_up(body)
        self._write_mark(state, 0)
        if self._journal_left:
            self._remove_journal()

    def _remove_journal(self) -> bool:
        """Delete the journal (if it is still the one this run read or wrote); whether it is
        gone. A failure is a warning: it follows an older write now, and is ignored when read."""
        condition = {"IfMatch": self._journal_etag} if self._journal_etag else {}
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.journal_key, **condition)
        except botocore.exceptions.ClientError as err:
            if precondition_failed(err):
                raise StateError(
                    f"{self.url}: the state's journal changed since this run wrote it "
                    "(another run took the lock over?); not removing it"
                ) from err
            if not missing(err):
                log.warning("state.journal_not_removed", state=self.url, error=error_code(err))
                return False
        except botocore.exceptions.BotoCoreError as err:
            log.warning("state.journal_not_removed", state=self.url, error=type(err).__name__)
            return False
        self._journal_etag = None
        self._journal_left = False
        return True

    def _write_mark(self, state: State, journaled: int) -> None:
        """The high-water mark of the write just made (best effort: a mark left behind is
        older than the state, which a later read then still trusts)."""
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.mark_key,
                Body=mark_text(state, journaled, digest=self._stored).encode(),
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            log.warning("state.mark_failed", error=error_code(err))

    def _back_up(self, body: bytes) -> None:
        """Keep a copy of what was just written: whatever the recovery hint tells people to
        restore is the newest state, never one that lacks this run's starts. Best effort: a
        failure is logged, and the next write tries again."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.backup_key, Body=body)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            log.warning("state.backup_failed", error=error_code(err))
