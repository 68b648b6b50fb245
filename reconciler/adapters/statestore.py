"""The state-store protocol, written once: what a store keeps beside the state and when.

A store is this protocol (:class:`BaseStateStore`) over a thin *backend* that only gets, puts
conditionally, appends, deletes and locks named objects — a local directory
(:class:`~reconciler.adapters.localstore.LocalStateStore`) or an S3 prefix
(:class:`~reconciler.adapters.s3store.S3StateStore`). The protocol owns every rule about the
objects beside the state, so that the two stores cannot drift apart:

* **the state** (``<state>``): replaced whole, only when its content changed, and only if it is
  still the version this run read (``If-Match``; ``If-None-Match`` for a state not there yet);
  otherwise the run stops without overwriting (another writer, or a run after a lost lock).
* **the journal** (``<state>.journal``): the job records written since the state was last
  written (:class:`~reconciler.core.journal.Journal`), so that a Start is durable before and
  after it without rewriting a large state; replayed by the next read, removed by the next
  write, and every write or removal of it conditional on the version this run last saw.
* **the high-water mark** (``<state>.mark``): lineage, serial, content digest and journal
  length of the last write, where a restore or a checkout of the state does not reach. A state
  read that is behind it, of another lineage, whose journal lost records, whose content is not
  the digest written (a hand edit), or that has a serial and no mark at all (a state from
  elsewhere) is *distrusted* (:func:`~reconciler.core.journal.distrust_reason`): it says
  nothing about what Voice ID does not hold, and every (domain, kind) is listed in full before
  anything starts there. What a mark cannot detect — a whole prefix restored with its mark —
  the listing rule covers (docs/architecture.md, "Why no second job").
* **the backup** (``<state>.backup``): the state as last written. A missing state with its
  backup present is an error (restore it, or rebuild), never a new empty state.
* **the spec cache** (``<state>.cache``): content-addressed, true for anyone; read and written
  without the lock, best effort.

What is best effort (the mark, the backup, the cache, removing a journal) only ever leaves
something *older* behind, which the next read handles: never a reason to stop a run.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Hashable, Sequence
from typing import IO, Any, ClassVar, Final

import structlog

from reconciler.core.errors import StateError
from reconciler.core.journal import (
    Journal,
    JournalChange,
    distrust_reason,
    mark_text,
    replay_journal,
)
from reconciler.core.state import State
from reconciler.core.statefile import parse_state, read_layout
from reconciler.core.statepatch import StatePatch

log = structlog.get_logger("reconciler.state")

Version = Hashable
"""What identifies one version of an object: an S3 ETag, a file's (device, inode)."""


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any()
"""A write or delete made whatever version is there (a put of the mark, the backup, the cache)."""

STATE, JOURNAL, MARK, BACKUP, CACHE, LOCK = "", ".journal", ".mark", ".backup", ".cache", ".lock"
"""The objects of a store, by the suffix added to the state's name."""
WHAT = {
    STATE: "the state",
    JOURNAL: "the state's journal",
    MARK: "the state's mark",
    BACKUP: "the state's backup",
    CACHE: "the spec cache",
    LOCK: "the lock",
}
"""Each object, for messages."""


class Conflict(StateError):
    """A conditional put or delete refused: the object is not the version expected."""


class BaseStateStore(abc.ABC):
    """The protocol: reads, journals and writes a :class:`State`, keeping its mark, backup,
    journal and cache. A backend subclass supplies the primitives below and the lock."""

    durable: ClassVar[frozenset[str]] = frozenset({STATE, JOURNAL})
    """The objects whose put must be on stable storage before it returns."""

    def __init__(self) -> None:
        self._version: Version | _Any | None = ANY
        """The state's version as read (None: it did not exist); ANY before any read."""
        self._stored: str | None = None
        """The fingerprint of the state as read or last written (None: nothing there)."""
        self._journal: Journal | None = None
        """The journal this run writes since the state was last written."""
        self._journal_version: Version | None = None
        """The journal's version as this run read or last wrote it (None: none there)."""
        self._journal_left = False
        """A journal is there (this run's or an earlier one's): the next write removes it."""

    # -- what a backend supplies ----------------------------------------------------------------

    @abc.abstractmethod
    def where(self, suffix: str = STATE) -> str:
        """The object's location, for messages (a path, an ``s3://`` URL)."""

    @abc.abstractmethod
    def _open(self, suffix: str) -> tuple[IO[bytes], Version] | None:
        """The object's content (a binary stream, closed by the caller) and version; None when
        it does not exist. Any other failure is a :class:`StateError`."""

    @abc.abstractmethod
    def _put(self, suffix: str, data: bytes, *, expect: Version | _Any | None) -> Version:
        """Replace (or create) the object if it is the version ``expect`` (None: absent; ANY:
        whatever is there), atomically: a reader sees the old content or the new, never a mix.
        :class:`Conflict` when it is not; the new version."""

    @abc.abstractmethod
    def _append(self, suffix: str, whole: bytes, tail: bytes, *, expect: Version) -> Version:
        """Add ``tail`` to the object of version ``expect``, whose content with it is
        ``whole`` (a backend that cannot append writes ``whole``); :class:`Conflict` when the
        object is not that version."""

    @abc.abstractmethod
    def _delete(self, suffix: str, *, expect: Version | _Any) -> None:
        """Delete the object if it is the version ``expect`` (gone already: done);
        :class:`Conflict` when it is another."""

    @abc.abstractmethod
    def _exists(self, suffix: str) -> bool:
        """Whether the object exists (a failure to tell is a :class:`StateError`)."""

    @abc.abstractmethod
    def _check_lock(self) -> None:
        """Raise :class:`StateError` unless this run still holds the lock (it has not been
        removed, replaced or taken over); nothing when the store is used without it."""

    @abc.abstractmethod
    def locked(self) -> contextlib.AbstractContextManager[Any]:
        """Hold the store's exclusive lock for a run (waiting up to its timeout)."""

    @abc.abstractmethod
    def unlock(self, lock_id: str | None = None, *, force: bool = False) -> str:
        """Break the lock deliberately; say what was done (or raise StateError)."""

    def _missing_directory(self) -> str | None:
        """Why a missing state cannot be a new one where it is (a local store's directory
        is missing: a mistyped ``--state``), or None."""
        return None

    # -- the protocol ---------------------------------------------------------------------------

    def __str__(self) -> str:
        return self.where()

    def read(self) -> State:
        """The stored state with its journal replayed, judged against its mark; a new state
        when there is none (distrusted when a mark says one existed)."""
        got = self._open(STATE)
        if got is None:
            self._missing_is_new()
            self._version, self._stored = None, None
            state = State()
            if self._read_text(MARK) is not None:
                lost = f"it replaces a lost state ({self.where(MARK)} remains)"
                state = StatePatch(distrust=lost).applied_to(state)
                log.warning("state.untrusted", state=self.where(), reason=state.untrusted)
            return state
        handle, version = got
        self._version = version  # before judging it: state rebuild may replace a broken state
        with handle:
            state_read = read_layout(handle)  # line by line: the state is never held whole
            data = b""
            if state_read is None:  # laid out otherwise, or broken: read whole, and judged
                handle.seek(0)
                data = handle.read()
        if state_read is None:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as err:
                raise StateError(
                    f"{self.where()}: the state is not UTF-8 ({err.reason} at byte "
                    f"{err.start}); it is left untouched: restore {self.where(BACKUP)} or run "
                    "'voiceid-reconciler state rebuild'"
                ) from err
            del data
            state_read = parse_state(text, self.where(), layout=False)
        state = state_read
        self._stored = state.read_fingerprint or state.fingerprint()
        mark = self._read_text(MARK)
        journaled, unreadable = self._replay_journal(state)
        reason = distrust_reason(state, mark, journaled, digest=self._stored)
        if reason:
            log.warning("state.untrusted", state=self.where(), reason=reason)
        if reason or unreadable:
            state = StatePatch(distrust=reason or unreadable).applied_to(state)
        return state

    def journal(self, state: State, changes: Sequence[JournalChange]) -> None:
        """Record job records durably in the journal instead of rewriting the state; the next
        :meth:`write` takes them in. Refused, as a write is, once the lock is not this run's
        or the journal is not the one this run last saw."""
        self._check_lock()
        journal = self._journal or Journal(state)
        lines = [Journal.line(state, change) for change in changes]
        tail = "".join(f"{line}\n" for line in lines).encode()
        try:
            if self._journal is None:  # a new journal appears whole, over a stale one
                whole = "".join(f"{line}\n" for line in [journal.header, *lines]).encode()
                version = self._put(JOURNAL, whole, expect=self._journal_version)
            else:
                text = "".join(f"{ln}\n" for ln in [journal.header, *journal.lines, *lines])
                version = self._append(JOURNAL, text.encode(), tail, expect=self._journal_version)
        except Conflict as err:
            raise StateError(
                f"{self.where()}: the state's journal changed since this run wrote it "
                "(another run took the lock over?); not writing"
            ) from err
        self._journal, self._journal_version = journal, version
        journal.lines.extend(lines)
        self._journal_left = True
        self._write_mark(state, len(journal.lines))

    def write(self, state: State) -> None:
        """Replace the state if it changed (bumping its serial) and is still the version this
        run read; then its backup and mark, and the journal it took in removed. Refuses
        (:class:`StateError`, nothing written) when the state or the lock is not this run's."""
        self._check_lock()
        fingerprint = state.fingerprint()
        if fingerprint == self._stored:
            log.debug("state.unchanged", state=self.where(), serial=state.serial)
            if self._journal_left and self._remove_journal():  # it holds no change: it goes
                self._journal = None
                self._write_mark(state, 0)
            return  # nothing new: the state (and its git history) stays as it is
        state.serial += 1
        body = state.to_json().encode()
        try:
            self._version = self._put(STATE, body, expect=self._version)
        except StateError as err:
            state.serial -= 1
            if isinstance(err, Conflict):
                raise StateError(
                    f"{self.where()}: the state changed since this run read it (another "
                    "writer); not overwritten — run again"
                ) from err
            raise
        self._stored = fingerprint
        self._journal = None  # taken in: the next record starts a journal of this write
        self._best_effort("state.backup_failed", BACKUP, body)
        self._write_mark(state, 0)
        if self._journal_left:  # it follows an older write now (ignored if it stays)
            self._remove_journal()

    def read_cache(self) -> bytes | None:
        """The spec cache beside the state, or None (none, or unreadable: a warning; a cache
        only saves time)."""
        try:
            got = self._open(CACHE)
        except StateError as err:
            log.warning("spec_cache.unreadable", state=self.where(), error=str(err))
            return None
        if got is None:
            return None
        with got[0] as handle:
            return handle.read()

    def write_cache(self, data: bytes) -> None:
        """Replace the spec cache, without the lock (it holds only content-addressed entries,
        true for anyone; a concurrent writer's new entries return on its next run); a failure
        is a warning (a read-only plan role may not write it)."""
        self._best_effort("spec_cache.not_saved", CACHE, data)

    # -- the rules, once ------------------------------------------------------------------------

    def _missing_is_new(self) -> None:
        """A missing state is a new state only when nothing says one existed: its backup may
        not be there (nor, for a local store, may its directory be missing)."""
        why = self._missing_directory()
        if why:
            raise StateError(why)
        if self._exists(BACKUP):
            raise StateError(
                f"{self.where()}: the state is missing but its backup {self.where(BACKUP)} is "
                f"there, so a state existed: restore it (copy {self.where(BACKUP)} over "
                f"{self.where()}) or run 'voiceid-reconciler state rebuild'"
            )

    def _replay_journal(self, state: State) -> tuple[int, str | None]:
        """Replay the journal that follows the state read (a run that died after its last
        write left it); the records replayed, and why the state is to be distrusted: a journal
        that cannot be read may hold starts, as one that lost records did."""
        try:
            got = self._open(JOURNAL)
        except StateError as err:
            log.warning("state.journal_unreadable", state=self.where(), error=str(err))
            return 0, f"its journal {self.where(JOURNAL)} cannot be read"
        if got is None:
            self._journal_version = None
            return 0, None
        handle, self._journal_version = got
        with handle:
            text = handle.read().decode("utf-8", "replace")
        self._journal_left = True
        count = replay_journal(state, text, self.where(JOURNAL))
        if count is None:
            log.info("state.journal_stale", state=self.where())
            return 0, None
        log.info("state.journal_replayed", state=self.where(), records=count)
        return count, None

    def _remove_journal(self) -> bool:
        """Delete the journal if it is still the one this run read or wrote; whether it is
        gone. A failure is a warning: it follows an older write now, ignored when read."""
        try:
            self._delete(JOURNAL, expect=self._journal_version or ANY)
        except Conflict as err:
            raise StateError(
                f"{self.where()}: the state's journal changed since this run wrote it "
                "(another run took the lock over?); not removing it"
            ) from err
        except StateError as err:
            log.warning("state.journal_not_removed", state=self.where(), error=str(err))
            return False
        self._journal_version = None
        self._journal_left = False
        return True

    def _write_mark(self, state: State, journaled: int) -> None:
        """The high-water mark of the write just made (best effort: a mark left behind is
        older than the state, which a later read then still trusts)."""
        text = mark_text(state, journaled, digest=self._stored)
        self._best_effort("state.mark_failed", MARK, text.encode())

    def _read_text(self, suffix: str) -> str | None:
        """A small object as text, or None when it is missing or unreadable (a warning)."""
        try:
            got = self._open(suffix)
        except StateError as err:
            log.warning("state.unreadable", state=self.where(), object=suffix, error=str(err))
            return None
        if got is None:
            return None
        with got[0] as handle:
            return handle.read().decode("utf-8", "replace")

    def _best_effort(self, event: str, suffix: str, data: bytes) -> None:
        try:
            self._put(suffix, data, expect=ANY)
        except StateError as err:
            log.warning(event, state=self.where(), error=str(err))
