"""What a run needs from the world, as protocols the adapters satisfy and tests fake:
``VoiceIdApi`` (its ``Domain`` and ``Watchlist``), ``ObjectStore``, ``StateStore``, ``Clock``.

Time is one of them: :class:`Clock` gives the wall time (for the state's timestamps and the
list-lag horizon), a monotonic time (for ``--timeout``) and ``sleep`` (between ``--wait``
polls), so the runner never reads a clock of its own. A run reads the wall time through
:class:`ServiceClock`: Voice ID's own time, so that every host ages the state's timestamps (the
list-lag horizon's intents and first listings) alike, whatever its own clock says.

Notification sinks are not here: their protocol, ``Sink``, is
:class:`reconciler.adapters.notify.Sink`, which the runner's ``Notifier`` is handed.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from reconciler.core.jobs import ObservedJob
from reconciler.core.journal import JournalChange
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import State

# Asked before a listed job is read whole: a cold start lists every job of a domain, nine in ten
# of them another tool's and ended, and building an ObservedJob of each (two times converted)
# was half a second of it at 100,000 jobs (bench/README.md).
Keep = Callable[[str | None, str], bool]
"""Whether a job listed is wanted, from its JobName and JobStatus alone."""


class Clock(Protocol):
    """Where a run reads the time and waits."""

    def time(self) -> float:
        """Seconds since the epoch (wall time)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back (for timeouts)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class ServiceClock:
    """Voice ID's wall time (:meth:`VoiceIdApi.service_time`) once it has answered, the host's
    before; monotonic time and sleeping are the host's."""

    def __init__(self, voiceid: VoiceIdApi, local: Clock) -> None:
        self.voiceid = voiceid
        self.local = local

    def time(self) -> float:
        # Voice ID's time (the Date of its latest answer plus the monotonic time since): the
        # list-lag horizon ages intents and listings that other hosts stamped, and a host whose
        # clock is ahead would start a held slot too soon (a second job), one behind would hold
        # it too long. Before Voice ID's first answer there is only the host's clock.
        service = self.voiceid.service_time()
        return self.local.time() if service is None else service

    def monotonic(self) -> float:
        return self.local.monotonic()

    def sleep(self, seconds: float) -> None:
        self.local.sleep(seconds)


class Domain(Protocol):
    @property
    def domain_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def default_watchlist_id(self) -> str | None: ...


class Watchlist(Protocol):
    @property
    def watchlist_id(self) -> str: ...
    @property
    def name(self) -> str: ...


class VoiceIdApi(Protocol):
    """Voice ID as a run uses it (:class:`reconciler.adapters.voiceid.VoiceId`)."""

    # Counted by the adapter, per operation, retries included: the run's summary and the
    # api_calls metric are made from them, and tests pin how many calls a run may spend.
    calls: Counter[str]
    throttles: Counter[str]

    def domains(self) -> Iterable[Domain]: ...

    def watchlists(self, domain_id: str) -> Iterable[Watchlist]: ...

    def list_jobs(
        self,
        kind: JobKind,
        domain_id: str,
        status: JobStatus | None = None,
        *,
        keep: Keep | None = None,
    ) -> Iterator[ObservedJob]:
        """The jobs of one kind in a domain, page by page; ``keep(JobName, JobStatus)``, asked
        of every job listed, says which are wanted (the others are not read further)."""
        ...

    def describe_job(self, kind: JobKind, domain_id: str, job_id: str) -> ObservedJob: ...

    def start_job(self, kind: JobKind, params: dict[str, Any]) -> ObservedJob: ...

    def service_time(self) -> float | None:
        """Voice ID's own wall time now, from its latest answer (None before the first)."""
        ...


class ObjectStore(Protocol):
    """S3 objects as a run uses them (:class:`reconciler.adapters.objects.Manifests`)."""

    def identities(self, uris: Iterable[str]) -> dict[str, str | None]: ...

    def stage(self, uri: str, body: bytes, *, kms_key_id: str | None) -> bool: ...

    def read_output(
        self, output_prefix: str, job_id: str, input_uri: str
    ) -> dict[str, Any] | None: ...


class StateStore(Protocol):
    """Where the state lives (:mod:`reconciler.adapters.statestore`: a local file or an S3
    object, one protocol over two backends)."""

    def locked(self) -> contextlib.AbstractContextManager[Any]:
        """Hold the store's exclusive lock for a run."""
        ...

    def read(self) -> State:
        """The stored state, or a new one when there is none yet; distrusted when it cannot
        prove it is the one last written."""
        ...

    def write(self, state: State) -> None:
        """Replace the stored state atomically (and bump ``state.serial``), taking in the
        journal; refused when it is not the version read or the lock is not this run's."""
        ...

    def journal(self, state: State, changes: Sequence[JournalChange]) -> None:
        """Record job records durably without rewriting the state."""
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
