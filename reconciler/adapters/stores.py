"""Where the state lives: :func:`open_store` picks the backend of ``--state``.

Both stores are the one state-store protocol (:mod:`reconciler.adapters.statestore`) over a thin
backend: :class:`~reconciler.adapters.localstore.LocalStateStore` (a local file, an ``flock``)
and :class:`~reconciler.adapters.s3store.S3StateStore` (an S3 object with conditional writes
and a lock object with a TTL). The runner sees them as its
:class:`~reconciler.runner.ports.StateStore` port; neither talks to Voice ID.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.adapters.localstore import LocalStateStore
from reconciler.adapters.statestore import BaseStateStore
from reconciler.core.state import DEFAULT_LOCK_TIMEOUT, DEFAULT_LOCK_TTL


def open_store(
    location: str,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    lock_ttl: float = DEFAULT_LOCK_TTL,
    profile: str | None = None,
    region: str | None = None,
) -> BaseStateStore:
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
