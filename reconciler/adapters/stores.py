"""Where the state lives: one protocol, two stores, and :func:`open_store` to pick one.

* :class:`~reconciler.adapters.localstore.LocalStateStore`: a local JSON file, an ``flock``.
* :class:`~reconciler.adapters.s3store.S3StateStore`: an S3 object with conditional writes
  and a lock object with a TTL.

Both read and write :class:`~reconciler.core.state.State` values; neither talks to Voice ID.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from reconciler.adapters.localstore import LocalStateStore
from reconciler.core.state import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_LOCK_TTL,
    JournalChange,
    State,
)


class StateStore(Protocol):
    """Where the state lives: a local file or an S3 object."""

    def locked(self) -> contextlib.AbstractContextManager[Any]:
        """Hold the store's exclusive lock for a run."""
        ...

    def read(self) -> State:
        """The stored state, or a new one when there is none yet."""
        ...

    def write(self, state: State) -> None:
        """Replace the stored state atomically (and bump ``state.serial``), taking in the
        journal."""
        ...

    def journal(self, state: State, changes: Sequence[JournalChange]) -> None:
        """Record job records durably without rewriting the state (:class:`Journal`)."""
        ...

    def read_cache(self) -> bytes | None:
        """The spec cache kept beside the state (:mod:`reconciler.core.speccache`), if any."""
        ...

    def write_cache(self, data: bytes) -> None:
        """Replace the spec cache beside the state (a failure is only a warning)."""
        ...

    def unlock(self, lock_id: str | None = None, *, force: bool = False) -> str:
        """Break the lock deliberately (only the one ``lock_id`` names, or any with
        ``force``); say what was done, or raise StateError saying who holds it."""
        ...


def open_store(
    location: str,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    lock_ttl: float = DEFAULT_LOCK_TTL,
    profile: str | None = None,
    region: str | None = None,
) -> StateStore:
    """The state store for ``--state``: ``s3://bucket/key`` or a local path."""
    if location.startswith("s3://"):  # botocore is imported only for an S3 state
        from reconciler.adapters.aws import make_client
        from reconciler.adapters.s3store import S3StateStore

        return S3StateStore(
            location,
            make_client("s3", profile=profile, region=region),
            lock_timeout=lock_timeout,
            lock_ttl=lock_ttl,
        )
    return LocalStateStore(Path(location), lock_timeout=lock_timeout)
