"""One session: the run a command asks for, built from plain settings (the composition root).

A command parses its flags into :class:`Settings` (:func:`reconciler.cli.flags.settings`),
makes one call on a :class:`Session` and renders what comes back. The session is the one place
that builds the run: the adapters (through :mod:`reconciler.cli.registry`, so that botocore is
imported only by a command that talks to AWS), the specs loaded through the spec cache, and
the notifier; it saves the spec cache once the work is done (a command refused for a bad spec,
state or flag changes nothing, the cache included), writes the metrics, and hands the state
work to the runner's use cases, which own the lock and the writes.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from reconciler.cli import registry
from reconciler.core.desired import NameResolver, desire
from reconciler.core.errors import ReconcilerError, SpecError, SpecErrors, StorageError
from reconciler.core.events import EventKind
from reconciler.core.loading import check, load_selected, load_specs
from reconciler.core.plan import ActionKind, Plan, collisions
from reconciler.core.selector import select
from reconciler.core.spec import LoadedSpec
from reconciler.core.speccache import SpecCache
from reconciler.core.state import DEFAULT_LOCK_TIMEOUT, DEFAULT_LOCK_TTL, State
from reconciler.runner.context import ApplyReport, Run, RunOptions

if TYPE_CHECKING:  # the runner's use cases and the adapters come through the registry
    from reconciler.adapters.objects import Manifests
    from reconciler.adapters.voiceid import VoiceId
    from reconciler.core.jobs import FailedRequest
    from reconciler.runner.adopt_values import ImportOptions, ImportReport
    from reconciler.runner.apply import Progress
    from reconciler.runner.notify import Notifier
    from reconciler.runner.ports import Clock, StateStore
    from reconciler.runner.summary import RunSummary
    from reconciler.runner.usecases import Forgotten, PlanResult

log = structlog.get_logger("reconciler.cli")


@dataclass(frozen=True)
class Notify:
    """Where and what to notify (``--notify``, ``--notify-on``, ``--notify-interval``)."""

    urls: tuple[str, ...]
    kinds: frozenset[EventKind]
    interval: float


@dataclass(frozen=True)
class Settings:
    """Everything a session is built from: plain values, already checked (the face turns flags
    and environment variables into these; nothing here knows a flag's name)."""

    paths: tuple[Path, ...] = (Path("specs"),)
    selector: tuple[str, ...] = ()
    spec_cache: bool = True
    state: str = "voiceid-state.json"
    """Where this run's state is (the shard's own, when sharded)."""
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    lock_ttl: float = DEFAULT_LOCK_TTL
    profile: str | None = None
    region: str | None = None
    tps: float = 2.0
    run: RunOptions = field(default_factory=RunOptions)
    shard_label: str | None = None
    notify: Notify | None = None
    metrics_file: Path | None = None
    pushgateway: str | None = None
    clock: Clock | None = None
    """The host's clock of an apply (the face's waits resume the collector); None: the
    system's."""


@dataclass(frozen=True)
class Validation:
    """What ``validate`` found: the specs (selected), the files they came from, every error,
    and warnings that do not fail it."""

    specs: list[LoadedSpec]
    files: int
    errors: list[SpecError]
    warnings: list[str]


@dataclass(frozen=True)
class Applied:
    """An apply's outcome: its report and exit status (None when a person said no: nothing
    was started), and warnings that do not change the exit status."""

    report: ApplyReport | None
    code: int | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Observed:
    """What ``status`` shows: the state, the specs that exist and those selected (None when
    unknown: no PATH and no ``specs/``)."""

    state: State
    present: list[LoadedSpec] | None = None
    selected: list[LoadedSpec] | None = None


class Session:
    """The run of one command, built from :class:`Settings`: every adapter is made once, on
    first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: bytes | None = None

    # -- what a session builds ------------------------------------------------------------

    @functools.cached_property
    def store(self) -> StateStore:
        """The state store of the settings' location (a file, or an S3 object)."""
        s = self.settings
        return registry.state_store(
            s.state,
            lock_timeout=s.lock_timeout,
            lock_ttl=s.lock_ttl,
            profile=s.profile,
            region=s.region,
        )

    @functools.cached_property
    def voiceid(self) -> VoiceId:
        """The Voice ID adapter; an ``apply --wait --timeout`` never retries past its end."""
        s = self.settings
        adapter = registry.voiceid(self._client("voice-id"), tps=s.tps)
        # The deadline counts from when the adapter is built, as the run begins: --timeout
        # bounds the whole wait, and no retry's back-off may run past it.
        if s.run.wait and s.run.timeout is not None:
            adapter.deadline = time.monotonic() + s.run.timeout
        return adapter

    @functools.cached_property
    def objects(self) -> Manifests:
        """The S3 adapter: manifests, staging, output files."""
        return registry.manifests(self._client("s3"))

    def _client(self, service: str) -> Any:
        return registry.aws_client(
            service, profile=self.settings.profile, region=self.settings.region
        )

    def specs(self) -> tuple[list[LoadedSpec], frozenset[str]]:
        """The selected specs and the keys of those the selector left out, loaded through the
        spec cache beside the state (kept to save by :meth:`_save_cache` once the work is
        done). Without a spec cache, every file is parsed."""
        s = self.settings
        if not s.spec_cache:
            return load_selected(list(s.paths), list(s.selector))
        cache, ignored = SpecCache.from_bytes(self.store.read_cache())
        if ignored:
            log.info("spec_cache.ignored", state=str(self.store), reason=ignored)
        specs, unselected = load_selected(list(s.paths), list(s.selector), cache=cache)
        log.debug("spec_cache.used", hits=cache.hits, misses=cache.misses)
        # Compressed now and held until the work is done (_save_cache): a run refused for a
        # bad state or a bad flag after loading must not leave a cache of specs it never ran.
        self._cache = cache.to_bytes() if cache.changed else None
        return specs, unselected

    def _save_cache(self) -> None:
        if self._cache is not None:
            self.store.write_cache(self._cache)
            self._cache = None

    def notifier(self, specs: Sequence[LoadedSpec]) -> Notifier | None:
        """The run's notifier (None without sinks): every URL opened before anything runs.
        A job's commit is its spec file's last commit (git), else, where there is no git (the
        image), what a sink that can ask (GitHub) says."""
        notify = self.settings.notify
        if notify is None or not notify.urls:
            return None
        # AWS clients on demand, once each: only an SNS sink needs one, and botocore is imported
        # only then.
        world = registry.sink_world(os.environ, functools.cache(self._client))
        sinks = registry.sinks(notify.urls, world)
        paths = {spec.key: spec.location.path for spec in specs}
        commits: dict[str, str | None] = {}
        # A sink that can say a file's last commit (GitHub's API), for where there is no git:
        # the image runs from a copy of the specs, and a commit status needs the commit.
        askers = [s for s in sinks.values() if callable(getattr(s, "commit_for", None))]

        def commit_of(key: str) -> str | None:
            # A chunked roster's parts are entries of their own, under their spec's file.
            base = key.rsplit("-part-", 1)[0] if key not in paths else key
            path = paths.get(base)
            if path is None:
                return None
            if str(path) not in commits:
                sha = registry.last_commit(path)
                relative = registry.repo_path(path) if sha is None else None
                if relative is not None and askers:
                    sha = askers[0].commit_for(relative)  # type: ignore[attr-defined]
                commits[str(path)] = sha
            return commits[str(path)]

        return registry.notifier(
            sinks,
            kinds=notify.kinds,
            interval=notify.interval,
            commit_of=commit_of,
            max_attempts={spec.key: spec.facts.max_attempts for spec in specs},
        )

    def exposed_state_files(self, paths: Sequence[Path] = ()) -> list[str]:
        """Which side files of a local state (``.lock``, ``.backup``, ``.mark``) git holds or
        would pick up, one warning each: those of this state (``paths`` empty), or of any
        state in the work trees of ``paths``."""
        state = None if paths else self.settings.state
        if state is not None and state.startswith("s3://"):
            return []
        seen: dict[Path, str] = {}
        wheres = [Path(state)] if state is not None else list(paths)
        for where in wheres:
            for exposed in registry.exposed_side_files(where, Path(state) if state else None):
                seen.setdefault(exposed.path, exposed.warning())
        return list(seen.values())

    # -- the commands' one call each --------------------------------------------------------

    def validate(self) -> Validation:
        """Check every spec file (nothing else is read): every error at once, the name
        collisions between specs included; the state's exposed side files as warnings."""
        paths = list(self.settings.paths)
        try:
            specs, errors = check(paths)
        except SpecErrors as err:  # no such path, no spec at all
            specs, errors = [], list(err.errors)
        errors += collisions(desire(specs, NameResolver()))
        if self.settings.selector:
            specs = select(specs, list(self.settings.selector))
        files = len({spec.location.path for spec in specs})
        warnings = [] if errors else self.exposed_state_files(paths)
        return Validation(specs, files, errors, warnings)

    def plan(self, *, offline: bool) -> PlanResult:
        """The plan: against what Voice ID shows now, or (``offline``) the state alone."""
        specs, unselected = self.specs()
        options = replace(self.settings.run, unselected=unselected)
        if offline:
            result = registry.plan_offline(specs, self.store.read(), options)
        else:
            run = Run(self.store, self.voiceid, self.objects, options)
            result = registry.plan_online(specs, run)
        self._save_cache()
        return result

    def apply(
        self,
        *,
        verdict: Callable[[ApplyReport], int],
        show_plan: Callable[[Plan, State], None] | None = None,
        progress: Progress | None = None,
        ask: Callable[[Plan], bool] | None = None,
    ) -> Applied:
        """Plan, then start what is missing (``--wait``: until every job ended). ``ask``, when
        given, is shown the plan first (a dry run: nothing written) and must say yes before
        anything starts; the apply then starts exactly that plan or refuses (exit 6). A plan
        that starts nothing asks nothing. The metrics are written however the run ends
        (success as ``verdict`` judges the report)."""
        specs, unselected = self.specs()
        options = replace(self.settings.run, unselected=unselected)
        notifier = self.notifier(specs)
        started = time.monotonic()
        report: ApplyReport | None = None
        code: int | None = None  # the metrics' success is the exit status's: they never disagree
        try:
            checksum_given = options.plan_checksum is not None
            if ask is not None:
                confirmed = self._confirm(specs, options, show_plan, ask)
                if confirmed is None:
                    return Applied(None)
                # The yes was given to the plan shown: the apply is gated by its checksum, so
                # a world that changed between the question and the answer (another run's
                # starts, a spec edited) is refused (exit 6), never started unseen.
                options = replace(options, plan_checksum=confirmed)
            run = self._run(options)
            shown = None
            # The plan is shown once: before the question when one was asked, else by the
            # apply itself before anything starts (a reviewed checksum's plan included).
            if show_plan is not None and (checksum_given or options.plan_checksum is None):
                shown = functools.partial(_show, show_plan, run)
            report = registry.apply(specs, run, progress=progress, on_plan=shown, notifier=notifier)
            self._save_cache()
            code = verdict(report)
        finally:
            summary = self._emit_metrics(report, started, success=code == 0)
        log.info("run.summary", **summary.log_fields())
        return Applied(report, code, self.exposed_state_files())

    def _run(self, options: RunOptions) -> Run:
        clock = self.settings.clock
        if clock is None:
            return Run(self.store, self.voiceid, self.objects, options)
        return Run(self.store, self.voiceid, self.objects, options, clock=clock)

    def _confirm(
        self,
        specs: Sequence[LoadedSpec],
        options: RunOptions,
        show_plan: Callable[[Plan, State], None] | None,
        ask: Callable[[Plan], bool],
    ) -> str | None:
        """Plan (a dry run: nothing is written), show it, ask; the checksum of what was shown
        when the answer is yes, None when it is not."""
        dry = self._run(replace(options, dry_run=True))
        shown = functools.partial(_show, show_plan, dry) if show_plan is not None else None
        plan = registry.apply(specs, dry, on_plan=shown).plan
        if not plan.pending and not any(a.kind is ActionKind.RETIRED for a in plan.actions):
            return plan.checksum()
        return plan.checksum() if ask(plan) else None

    def _emit_metrics(
        self, report: ApplyReport | None, started: float, *, success: bool
    ) -> RunSummary:
        """The run's summary, and its metrics (``--metrics-file``, ``--pushgateway``) however
        it ended: a metrics error never fails a good run."""
        s = self.settings
        summary = registry.run_summary(
            report,
            # The client as built, if it was: a run that failed before building it (a bad
            # profile, an unreadable S3 state) made no call, and building it now would only
            # raise a second error in place of the first.
            self.__dict__.get("voiceid"),
            duration_s=time.monotonic() - started,
            success=success,
            shard=s.shard_label,
        )
        if s.metrics_file is None and s.pushgateway is None:
            return summary
        try:
            registry.write_metrics(
                summary.metrics(finished_at=time.time()),
                textfile=s.metrics_file,
                gateway=s.pushgateway,
            )
        except OSError as err:
            log.warning("metrics.not_written", error=str(err))
        return summary

    def status(self, *, refresh: bool) -> Observed:
        """The state, with the specs that exist and those selected (``refresh``: the jobs in
        flight described first, and the state saved)."""
        present, selected = self._scope()
        if refresh:
            notifier = self.notifier(present or [])
            state = registry.refresh(self.store, self.voiceid, self.objects, notifier)
        else:
            state = self.store.read()
        return Observed(state, present, selected)

    def watch(self, interval: float, pause: Callable[[float], None]) -> Iterator[Observed]:
        """Refresh and yield what ``status`` shows, again every ``interval`` (``pause``
        waits), until no job is in flight (each refresh saved); the caller may stop early."""
        present, selected = self._scope()
        notifier = self.notifier(present or [])
        while True:
            state = registry.refresh(self.store, self.voiceid, self.objects, notifier)
            yield Observed(state, present, selected)
            if not any(record.active for record in state.all_jobs()):
                return
            pause(interval)

    def _scope(self) -> tuple[list[LoadedSpec] | None, list[LoadedSpec] | None]:
        """The specs that exist and those the selector keeps (None, None without PATHs: then
        every record is shown and none is marked removed)."""
        if not self.settings.paths:
            return None, None
        present = load_specs(list(self.settings.paths))
        selector = list(self.settings.selector)
        return present, select(present, selector) if selector else present

    def failed_requests(self, state: State) -> list[tuple[str, list[FailedRequest]]]:
        """``status --details``: the failed requests of the jobs that ended with errors, read
        from their output files (asked after the status is shown: a job that can no longer be
        described fails this, not the status)."""
        return registry.failed_requests(state, self.voiceid, self.objects)

    def publish(self, out: str, text: str, fmt: str) -> None:
        """Write a rendered status where ``--out`` says, whole: an S3 object (one PutObject)
        or a file written beside its place and renamed, so whoever reads it meanwhile never
        gets half a page."""
        if out.startswith("s3://"):
            try:
                registry.publish_page(self._client("s3"), out, text.encode(), fmt=fmt)
            except StorageError as err:
                raise ReconcilerError(f"--out {out}: cannot write the status: {err.code}") from None
            return
        path = Path(out)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
        except OSError as err:
            partial.unlink(missing_ok=True)
            raise ReconcilerError(
                f"--out {path}: cannot write the status: {err.strerror or err}"
            ) from None

    def rebuild(self) -> State:
        """The state derived again from Voice ID alone (written under the lock)."""
        specs, _ = self.specs()
        state = registry.rebuild(
            specs, Run(self.store, self.voiceid, self.objects, self.settings.run)
        )
        self._save_cache()
        return state

    def show(self) -> State:
        """The state as stored (read without the lock: nothing is written)."""
        return self.store.read()

    def forget(self, names: Sequence[str], *, dry_run: bool) -> list[Forgotten]:
        """``state rm``: forget each name's records (kept as tombstones); ``dry_run`` reads
        without the lock and writes nothing."""
        return registry.forget(self.store, names, dry_run=dry_run)

    def move(self, source: str, destination: str, *, dry_run: bool) -> tuple[str, str]:
        """``state mv``: the records of ``source`` become ``destination``'s."""
        return registry.move(self.store, source, destination, dry_run=dry_run)

    def unlock(self, lock_id: str | None, *, force: bool) -> str:
        """Who holds the state's lock; broken, given its id (or ``force``)."""
        return self.store.unlock(lock_id, force=force)

    def import_jobs(self, options: ImportOptions) -> ImportReport:
        """Write specs of the jobs started by hand and record them (``options.write``)."""
        return registry.import_jobs(self.store, self.voiceid, self.objects, options)


def _show(show_plan: Callable[[Plan, State], None], run: Run, plan: Plan) -> None:
    """Show the plan with the state it was made from (its observation time)."""
    show_plan(plan, run.state)
