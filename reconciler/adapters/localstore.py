"""The state in a local file: an exclusive ``flock`` for the run, atomic writes, a backup.

The store keeps the previous version as ``<file>.backup``, writes through a temporary file,
fsync and an atomic rename, and holds an exclusive ``flock`` on ``<file>.lock`` for the whole
run. A failed write (a full disk) never leaves a torn file.

Writes are conditional, as the S3 store's are: the file replaced must still be the one this
run read (the same inode, or still absent), and the lock file must still be the one this run
locked — so a deleted lock file (``git clean -fdx``) and a second run cannot end in a lost
update. A state path that is a symbolic link is used through it: the target is read, locked
beside and written, so runs through the link and on the target exclude each other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import structlog

from reconciler.adapters.host import alive
from reconciler.core.errors import StateError, StateLockedError
from reconciler.core.state import (
    DEFAULT_LOCK_TIMEOUT,
    Journal,
    JournalChange,
    State,
    distrust_if_behind,
    mark_text,
    parse_state,
    read_layout,
    replay_journal,
)


class LocalStateStore:
    """The state in a local JSON file, locked for the duration of a run."""

    def __init__(self, path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = path.resolve() if path.is_symlink() else path
        self.lock_timeout = lock_timeout
        self._lock_fd: int | None = None
        self._lock_path: Path | None = None
        self._version: tuple[int, int] | object | None = _UNREAD
        """The identity (device, inode) of the file as read; None when it did not exist."""
        self._stored: str | None = None
        """The fingerprint of the state as read or last written (None: nothing there)."""
        self._journal: Journal | None = None
        """The journal this run appends to since the state was last written."""
        self._journal_left = False
        """A journal of an earlier run is there (replayed, or stale): the next write removes it."""

    def __str__(self) -> str:
        return str(self.path)

    @property
    def journal_path(self) -> Path:
        return self.path.with_name(self.path.name + ".journal")

    @contextlib.contextmanager
    def locked(self) -> Iterator[LocalStateStore]:
        """Hold the exclusive lock; wait up to ``lock_timeout`` seconds for another run."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        if not self.path.parent.is_dir():
            self._missing_is_new()  # names the missing directory
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:  # a read-only file system, a full disk, a missing permission
            raise StateError(f"{lock_path}: cannot take the lock: {err.strerror or err}") from err
        deadline = time.monotonic() + self.lock_timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as err:
                    if err.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise StateLockedError(
                            f"{self.path}: locked by another run for over "
                            f"{self.lock_timeout:g}s (see {lock_path}); try again later"
                        ) from err
                    time.sleep(0.1)
            with contextlib.suppress(OSError):  # the pid is for people; the flock is the lock
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            self._lock_fd, self._lock_path = fd, lock_path
            yield self
        finally:
            self._lock_fd = self._lock_path = None
            os.close(fd)  # closing releases the flock

    def unlock(self, lock_id: str | None = None, *, force: bool = False) -> str:
        """A local lock is an flock: it ends with the process that holds it, so there is
        nothing to break; say who holds it (and whether that process still runs)."""
        del lock_id, force
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            holder = lock_path.read_text().strip()
        except (FileNotFoundError, UnicodeDecodeError):
            holder = ""
        running = ""
        if holder.isdigit():
            running = " (running)" if alive(int(holder)) else " (not running)"
        return (
            f"{self.path}: local locks are released when the holding process exits"
            + (f" (last holder: pid {holder}{running})" if holder else "")
            + "; nothing to remove"
        )

    def read(self) -> State:
        """The stored state, or a new empty one when the file does not exist yet."""
        try:
            if not stat.S_ISREG(self.path.stat().st_mode):
                raise StateError(f"{self.path}: the state is not a regular file")
            with self.path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                state = read_layout(handle)  # line by line: the file is never held whole
                if state is None:  # laid out otherwise, or broken: read whole, and judged
                    handle.seek(0)
                    data = handle.read()
        except FileNotFoundError:
            self._missing_is_new()
            self._version = None
            self._stored = None
            return self._new_state()
        except OSError as err:
            raise StateError(f"{self.path}: cannot read state: {err}") from err
        self._version = (info.st_dev, info.st_ino)  # a rebuild may replace even a broken file
        if state is None:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as err:
                raise StateError(f"{self.path}: cannot read state: {err}") from err
            del data
            state = parse_state(text, str(self.path), layout=False)
        self._stored = state.read_fingerprint or state.fingerprint()
        self._distrust_if_behind(state, self._replay_journal(state))
        return state

    def _replay_journal(self, state: State) -> int:
        """Replay the journal that follows the state read (a run that died after its last
        write left it); the records replayed."""
        try:
            text = self.journal_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as err:
            raise StateError(
                f"{self.journal_path}: cannot read the state's journal: {err}"
            ) from err
        self._journal_left = True
        count = replay_journal(state, text, str(self.journal_path))
        if count is None:
            log.info("state.journal_stale", state=str(self.path))
            return 0
        log.info("state.journal_replayed", state=str(self.path), records=count)
        return count

    def journal(self, state: State, changes: Sequence[JournalChange]) -> None:
        """Append job records to the journal (fsynced) instead of rewriting the whole state;
        the next :meth:`write` takes them in. Refused, as a write is, when the file or the lock
        is no longer the one this run read or took."""
        self._check_still_ours()
        journal = self._journal or Journal(state)
        lines = [Journal.line(state, change) for change in changes]
        try:
            if self._journal is None:  # a new journal appears whole (a temporary file renamed)
                tmp = self.journal_path.with_name(f".{self.journal_path.name}.{os.getpid()}.tmp")
                with tmp.open("w", encoding="utf-8") as handle:
                    handle.write("".join(f"{line}\n" for line in [journal.header, *lines]))
                    handle.flush()
                    os.fsync(handle.fileno())
                tmp.replace(self.journal_path)
                _fsync_directory(self.path.parent)
            else:
                with self.journal_path.open("a", encoding="utf-8") as handle:
                    handle.write("".join(f"{line}\n" for line in lines))
                    handle.flush()
                    os.fsync(handle.fileno())
        except OSError as err:
            raise StateError(
                f"{self.journal_path}: cannot write the state's journal: {err.strerror or err}; "
                "a re-run continues from the state and what Voice ID shows"
            ) from err
        self._journal = journal
        journal.lines.extend(lines)
        self._journal_left = True
        self._write_mark(state, len(journal.lines))

    @property
    def cache_path(self) -> Path:
        return self.path.with_name(self.path.name + ".cache")

    def read_cache(self) -> bytes | None:
        """The spec cache beside the state (``<state>.cache``), or None (none, or unreadable:
        a warning; a cache only saves time)."""
        try:
            return self.cache_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            log.warning("spec_cache.unreadable", state=str(self.path), error=str(err))
            return None

    def write_cache(self, data: bytes) -> None:
        """Replace the spec cache atomically, without the lock (it holds only content-addressed
        entries, true for anyone); a failure is a warning."""
        try:
            _replace_bytes(self.cache_path, data)
        except OSError as err:
            log.warning("spec_cache.not_saved", state=str(self.path), error=str(err))

    @property
    def _mark(self) -> Path:
        return self.path.with_name(self.path.name + ".mark")

    def _distrust_if_behind(self, state: State, journaled: int) -> None:
        try:
            mark: str | None = self._mark.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            mark = None
        except OSError as err:  # unknown: trusted, as a state without a mark is
            log.warning("state.mark_unreadable", state=str(self.path), error=str(err))
            mark = None
        reason = distrust_if_behind(state, mark, journaled, digest=self._stored)
        if reason:
            log.warning("state.untrusted", state=str(self.path), reason=reason)

    def _new_state(self) -> State:
        """A new state; distrusted when the high-water mark of a lost one is still here."""
        state = State()
        if self._mark.exists():
            state.distrust(f"it replaces a lost state ({self._mark} remains)")
            log.warning("state.untrusted", state=str(self.path), reason=state.untrusted)
        return state

    def _missing_is_new(self) -> None:
        """A missing state file is a new state only when nothing says one existed: its
        directory must exist (a mistyped --state), and no backup of it may be there."""
        if not self.path.parent.is_dir():
            raise StateError(
                f"{self.path}: no directory {self.path.parent} (a mistyped --state?); create it "
                "for a new state"
            )
        backup = self.path.with_name(self.path.name + ".backup")
        if backup.exists():
            raise StateError(
                f"{self.path}: the state is missing but its backup {backup} is there, so a "
                f"state existed: restore it (cp {backup} {self.path}) or run "
                "'voiceid-reconciler state rebuild'"
            )

    def _check_still_ours(self) -> None:
        """Refuse to write unless the lock file is still the one locked and the state file is
        still the version read (another writer, or a second run after a deleted lock file)."""
        if self._lock_fd is not None and self._lock_path is not None:
            held = os.fstat(self._lock_fd)
            try:
                now = self._lock_path.stat()
            except FileNotFoundError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
                raise StateError(
                    f"{self.path}: the lock file {self._lock_path} was removed or replaced while "
                    "this run held it, so another run may hold a new lock; not writing — run "
                    "again"
                )
        if self._version is _UNREAD:
            return  # a write that read nothing (a new state) replaces whatever is there
        try:
            current = self.path.stat()
            identity: tuple[int, int] | None = (current.st_dev, current.st_ino)
        except FileNotFoundError:
            identity = None
        if identity != self._version:
            raise StateError(
                f"{self.path}: the state changed since this run read it (another writer); "
                "not overwritten — run again"
            )

    def write(self, state: State) -> None:
        """Write atomically (temp file, fsync, rename), keeping the previous file as a backup;
        refuse (:class:`StateError`) when the file or the lock is no longer the one this run
        read or took."""
        self._check_still_ours()
        fingerprint = state.fingerprint()
        if fingerprint == self._stored:
            log.debug("state.unchanged", state=str(self.path), serial=state.serial)
            if self._journal_left and self._remove_journal():  # it holds no change: it goes
                self._journal = None
                self._write_mark(state, 0)
            return  # nothing new: the file (and its git history) stays as it is
        state.serial += 1
        text = state.to_json()
        directory = self.path.parent
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tmp.open("w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            if self.path.exists():
                backup = self.path.with_name(self.path.name + ".backup")
                with contextlib.suppress(FileNotFoundError):
                    _link_backup(self.path, backup)
            tmp.replace(self.path)
            written = self.path.stat()
            self._version = (written.st_dev, written.st_ino)
            self._stored = fingerprint
            _fsync_directory(directory)
        except OSError as err:  # a full disk, a read-only file system: never a torn file
            for leftover in (tmp, _backup_tmp(self.path)):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise StateError(
                f"{self.path}: cannot write the state: {err.strerror or err}; the file holds "
                "a complete version (the last one written), and a re-run continues from it"
            ) from err
        self._journal = None  # taken in: the next record starts a journal of this write
        self._write_mark(state, 0)
        if self._journal_left:  # it follows an older write now (ignored if it stays)
            self._remove_journal()

    def _write_mark(self, state: State, journaled: int) -> None:
        try:
            _replace_text(self._mark, mark_text(state, journaled, digest=self._stored))
        except OSError as err:  # a mark left behind is older than the state: still trusted
            log.warning("state.mark_failed", state=str(self.path), error=str(err))

    def _remove_journal(self) -> bool:
        """Delete the journal; whether it is gone (a failure is a warning)."""
        try:
            self.journal_path.unlink(missing_ok=True)
        except OSError as err:
            log.warning("state.journal_not_removed", state=str(self.path), error=str(err))
            return False
        self._journal_left = False
        return True


log = structlog.get_logger("reconciler.state")
_UNREAD = object()


def _replace_text(path: Path, text: str) -> None:
    """Write a small file atomically (a temporary file and a rename)."""
    _replace_bytes(path, text.encode("utf-8"))


def _replace_bytes(path: Path, data: bytes) -> None:
    """Write a file atomically (a temporary file and a rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _fsync_directory(directory: Path) -> None:
    """Make a file's creation or rename in ``directory`` durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _backup_tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.backup.{os.getpid()}.tmp")


def _link_backup(path: Path, backup: Path) -> None:
    """Make ``backup`` a copy of ``path`` without a moment where ``path`` is missing."""
    tmp = _backup_tmp(path)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.link(path, tmp)
    tmp.replace(backup)
