"""The state in a local file: an exclusive ``flock`` for the run, atomic writes, a backup.

The store keeps the previous version as ``<file>.backup``, writes through a temporary file,
fsync and an atomic rename, and holds an exclusive ``flock`` on ``<file>.lock`` for the whole
run. A failed write (a full disk) never leaves a torn file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from reconciler.adapters.host import alive
from reconciler.core.errors import StateError, StateLockedError
from reconciler.core.state import DEFAULT_LOCK_TIMEOUT, State, parse_state


class LocalStateStore:
    """The state in a local JSON file, locked for the duration of a run."""

    def __init__(self, path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._lock_fd: int | None = None

    def __str__(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[LocalStateStore]:
        """Hold the exclusive lock; wait up to ``lock_timeout`` seconds for another run."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
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
            self._lock_fd = fd
            yield self
        finally:
            self._lock_fd = None
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
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State()
        except (OSError, UnicodeDecodeError) as err:
            raise StateError(f"{self.path}: cannot read state: {err}") from err
        return parse_state(text, str(self.path))

    def write(self, state: State) -> None:
        """Write atomically (temp file, fsync, rename), keeping the previous file as a backup."""
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
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as err:  # a full disk, a read-only file system: never a torn file
            for leftover in (tmp, _backup_tmp(self.path)):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise StateError(
                f"{self.path}: cannot write the state: {err.strerror or err}; the file holds "
                "a complete version (the last one written), and a re-run continues from it"
            ) from err


def _backup_tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.backup.{os.getpid()}.tmp")


def _link_backup(path: Path, backup: Path) -> None:
    """Make ``backup`` a copy of ``path`` without a moment where ``path`` is missing."""
    tmp = _backup_tmp(path)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.link(path, tmp)
    tmp.replace(backup)
