"""The state in a local file: a backend of the state-store protocol over a directory.

The protocol (:mod:`reconciler.adapters.statestore`) decides what is written when; this module
only gets, puts, appends and deletes the files beside ``<state>`` and holds the lock:

* **puts are atomic**: a temporary file, fsync (the state and its journal), a rename and an
  fsync of the directory; a failed put (a full disk) never leaves a torn file.
* **puts are conditional**, as S3's are: a file's version is its (device, inode), which every
  replacement changes; the file replaced must still be the version expected. Under the lock,
  checking it just before the rename is enough.
* **the lock** is an exclusive ``flock`` on ``<state>.lock`` for the run, and the lock file must
  still be the one locked when anything is written: a deleted lock file (``git clean -fdx``)
  and a second run cannot end in a lost update.

A state path that is a symbolic link is used through it: the target is read, locked beside and
written, so runs through the link and on the target exclude each other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from reconciler.adapters.clock import HOST_CLOCK, LockClock
from reconciler.adapters.host import alive
from reconciler.adapters.statestore import (
    ANY,
    LOCK,
    STATE,
    WHAT,
    BaseStateStore,
    Conflict,
    Version,
    _Any,
)
from reconciler.core.errors import StateError, StateLockedError
from reconciler.core.state import DEFAULT_LOCK_TIMEOUT


class LocalStateStore(BaseStateStore):
    """The state in a local JSON file, locked for the duration of a run."""

    def __init__(
        self,
        path: Path,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        clock: LockClock = HOST_CLOCK,
    ) -> None:
        super().__init__()
        # Resolved once, here: the lock, backup and mark then sit beside the target, so a run
        # through the link and a run on the target take the same lock.
        self.path = path.resolve() if path.is_symlink() else path
        self.lock_timeout = lock_timeout
        self._clock = clock
        self._lock_fd: int | None = None

    def where(self, suffix: str = STATE) -> str:
        return str(self._file(suffix))

    def _file(self, suffix: str) -> Path:
        return self.path.with_name(self.path.name + suffix)

    @property
    def journal_path(self) -> Path:
        return self._file(".journal")

    # -- the lock -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[LocalStateStore]:
        """Hold the exclusive lock; wait up to ``lock_timeout`` seconds for another run."""
        lock_path = self._file(LOCK)
        why = self._missing_directory()
        if why:
            raise StateError(why)
        try:
            # The lock file is created once and never removed: deleting a file another run waits
            # to flock would let it lock a file nobody else sees (_check_lock catches someone
            # else's delete).
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:  # a read-only file system, a full disk, a missing permission
            raise StateError(f"{lock_path}: cannot take the lock: {err.strerror or err}") from err
        deadline = self._clock.monotonic() + self.lock_timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as err:
                    # flock says 'would block' with EWOULDBLOCK (EAGAIN on Linux); EACCES is how
                    # some systems say it. Anything else is a real error.
                    if err.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if self._clock.monotonic() >= deadline:
                        raise StateLockedError(
                            f"{self.path}: locked by another run for over "
                            f"{self.lock_timeout:g}s (see {lock_path}); try again later"
                        ) from err
                    self._clock.sleep(0.1)  # flock cannot wait with a timeout
            with contextlib.suppress(OSError):  # the pid is for people; the flock is the lock
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            self._lock_fd = fd
            yield self
        finally:
            self._lock_fd = None
            os.close(fd)  # closing releases the flock

    def _check_lock(self) -> None:
        """The lock file must still be the one locked: one removed or replaced while this run
        held it may be locked by another run now."""
        if self._lock_fd is None:
            return
        # The file we hold against the file at the path now, by (device, inode): a lock file
        # deleted and made again by another run has another inode.
        held = os.fstat(self._lock_fd)
        try:
            now = self._file(LOCK).stat()
        except FileNotFoundError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
            raise StateError(
                f"{self.path}: the lock file {self._file(LOCK)} was removed or replaced while "
                "this run held it, so another run may hold a new lock; not writing — run again"
            )

    def unlock(self, lock_id: str | None = None, *, force: bool = False) -> str:
        """A local lock is an flock: it ends with the process that holds it, so there is
        nothing to break; say who holds it (and whether that process still runs)."""
        del lock_id, force
        try:
            holder = self._file(LOCK).read_text().strip()
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

    # -- the primitives -------------------------------------------------------------------------

    def _missing_directory(self) -> str | None:
        if self.path.parent.is_dir():
            return None
        return (
            f"{self.path}: no directory {self.path.parent} (a mistyped --state?); create it "
            "for a new state"
        )

    def _open(self, suffix: str) -> tuple[IO[bytes], Version] | None:
        path = self._file(suffix)
        try:  # non-blocking: opening a FIFO put where the state was must not wait for a writer
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise StateError(f"{path}: cannot read {WHAT[suffix]}: {err.strerror or err}") from err
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise StateError(f"{path}: {WHAT[suffix]} is not a regular file")
        # A regular file: blocking again, so the reader's reads behave as a file's do.
        os.set_blocking(fd, True)
        # The version is the file itself, (device, inode): every write replaces the file by a
        # rename, so any write, ours or another's, makes a new version.
        return os.fdopen(fd, "rb"), (info.st_dev, info.st_ino)

    def _exists(self, suffix: str) -> bool:
        return self._file(suffix).exists()

    def _current(self, path: Path) -> Version | None:
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        return (info.st_dev, info.st_ino)

    def _put(self, suffix: str, data: bytes, *, expect: Version | _Any | None) -> Version:
        path = self._file(suffix)
        # fsync costs milliseconds each: only the state and the journal are made durable (a
        # Start must be on disk before it is made); a backup, mark or cache lost to a power cut
        # is only rebuilt.
        durable = suffix in self.durable
        # Beside the file (a rename is atomic only within one filesystem), hidden, and named by
        # the pid so two processes never write one temporary file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as handle:
                handle.write(data)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            # Checked right before the rename: under the lock nobody of ours writes in between,
            # so the check and the rename are as good as one conditional put.
            if expect is not ANY and self._current(path) != expect:
                raise Conflict(f"{path}: not the version this run read")
            tmp.replace(path)
            if durable:
                _fsync_directory(path.parent)
            written = path.stat()
            return written.st_dev, written.st_ino
        except OSError as err:  # a full disk, a read-only file system: never a torn file
            raise StateError(
                f"{path}: cannot write {WHAT[suffix]}: {err.strerror or err}; the file holds a "
                "complete version (the last one written), and a re-run continues from it"
            ) from err
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _append(self, suffix: str, whole: bytes, tail: bytes, *, expect: Version) -> Version:
        path = self._file(suffix)
        try:
            # A real append (the journal grows by a line per start): O_APPEND writes at the end
            # whatever else was written, and the fstat below proves it is still the file this
            # run wrote.
            with path.open("ab") as handle:
                info = os.fstat(handle.fileno())
                if (info.st_dev, info.st_ino) != expect:
                    raise Conflict(f"{path}: not the version this run wrote")
                handle.write(tail)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as err:
            raise StateError(f"{path}: cannot write {WHAT[suffix]}: {err.strerror or err}") from err
        return expect

    def _delete(self, suffix: str, *, expect: Version | _Any) -> None:
        path = self._file(suffix)
        current = self._current(path)
        if current is None:
            return
        if expect is not ANY and current != expect:
            raise Conflict(f"{path}: not the version this run wrote")
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            raise StateError(
                f"{path}: cannot remove {WHAT[suffix]}: {err.strerror or err}"
            ) from err


def _fsync_directory(directory: Path) -> None:
    """Make a file's creation or rename in ``directory`` durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
