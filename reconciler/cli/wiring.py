"""The objects a command talks to, built from its parsed options and nowhere else.

The state store of ``--state``, the Voice ID and S3 adapters (``--profile``, ``--region``,
``--tps``), the notifier of ``--notify``, the specs loaded through the spec cache. The adapters
(botocore) are imported only when a command builds one.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.cli import flags, values
from reconciler.cli.args import NOTIFY_ENV, NOTIFY_ON_ENV, UsageError, classes_or_env

if TYPE_CHECKING:  # the adapters (boto3) are imported only by the commands that use them
    from reconciler.adapters.objects import Manifests
    from reconciler.adapters.voiceid import VoiceId
    from reconciler.core.spec import LoadedSpec
    from reconciler.runner.notify import Notifier
    from reconciler.runner.ports import StateStore


def notifier(args: argparse.Namespace, specs: Sequence[LoadedSpec]) -> Notifier | None:
    """The run's notifier (None without sinks): every URL opened before anything runs."""
    from reconciler.adapters.gitfiles import last_commit, repo_path
    from reconciler.adapters.notify import GitHubSink, SinkWorld, open_sink
    from reconciler.core.events import FAILURES, EventKind
    from reconciler.runner.notify import Notifier

    urls = list(args.notify or []) or os.environ.get(NOTIFY_ENV, "").split()
    if not urls:
        return None
    for url in urls:  # $VOICEID_RECONCILER_NOTIFY's, as --notify's are (one line, unquoted)
        try:
            values.notify_url(url)
        except argparse.ArgumentTypeError as err:
            raise UsageError(f"${NOTIFY_ENV}: {err}") from None
    allowed = ("failures", "all", *(k.value for k in EventKind))
    chosen = classes_or_env(args.notify_on, NOTIFY_ON_ENV, allowed, frozenset({"failures"}))
    kinds: set[EventKind] = set()
    for name in chosen:
        if name == "all":
            kinds.update(EventKind)
        elif name == "failures":
            kinds.update(FAILURES)
        else:
            kinds.add(EventKind(name))

    @functools.cache
    def aws_client(service: str) -> Any:  # botocore is imported only when a sink needs it
        from reconciler.adapters.aws import make_client

        return make_client(service, profile=args.profile, region=args.region)

    world = SinkWorld(os.environ, aws_client)
    sinks = {url: open_sink(url, world) for url in dict.fromkeys(urls)}
    paths = {spec.key: spec.location.path for spec in specs}
    commits: dict[str, str | None] = {}

    def commit_of(key: str) -> str | None:
        base = key.rsplit("-part-", 1)[0] if key not in paths else key
        path = paths.get(base)
        if path is None:
            return None
        if str(path) not in commits:
            sha = last_commit(path)
            relative = repo_path(path) if sha is None else None
            if relative is not None:  # no git here (the image): ask GitHub
                github = next((s for s in sinks.values() if isinstance(s, GitHubSink)), None)
                sha = github.commit_for(relative) if github else None
            commits[str(path)] = sha
        return commits[str(path)]

    return Notifier(
        sinks,
        kinds=kinds,
        interval=args.notify_interval,
        commit_of=commit_of,
        max_attempts={spec.key: spec.facts.max_attempts for spec in specs},
    )


@dataclass(frozen=True)
class Specs:
    """The specs a command loaded, and the spec cache they came through (saved by
    :meth:`save_cache` once the command has done its work: a command refused for a bad spec, a
    bad state or a bad flag changes nothing, the cache included)."""

    specs: list[LoadedSpec]
    unselected: frozenset[str]
    """Keys of the specs that ``--selector`` left out (they exist: not orphans)."""
    store: StateStore | None = None
    cache: bytes | None = None
    """The spec cache to save, when it changed (compressed at once: the run does not hold
    its entries meanwhile)."""

    def save_cache(self) -> None:
        if self.store is not None and self.cache is not None:
            self.store.write_cache(self.cache)


def load_specs(args: argparse.Namespace, store: StateStore | None) -> Specs:
    """The specs of the PATHs and ``--selector`` (:func:`~reconciler.core.loading.load_selected`)
    through the spec cache beside ``store``'s state (none without a store or with
    ``--no-spec-cache``)."""
    from reconciler.core.loading import load_selected
    from reconciler.core.speccache import SpecCache

    if store is None or args.no_spec_cache:
        return Specs(*load_selected(flags.paths(args), args.selector))
    import structlog

    log = structlog.get_logger("reconciler.specs")
    cache, ignored = SpecCache.from_bytes(store.read_cache())
    if ignored:
        log.info("spec_cache.ignored", state=str(store), reason=ignored)
    specs, unselected = load_selected(flags.paths(args), args.selector, cache=cache)
    log.debug("spec_cache.used", hits=cache.hits, misses=cache.misses)
    return Specs(specs, unselected, store, cache.to_bytes() if cache.changed else None)


def store(args: argparse.Namespace) -> StateStore:
    """The state store of ``--state`` (each shard its own)."""
    from reconciler.adapters.stores import open_store

    return open_store(
        flags.state_location(args),
        lock_timeout=args.lock_timeout,
        lock_ttl=args.lock_ttl,
        profile=args.profile,
        region=args.region,
    )


def exposed_state_files(paths: list[Path], state: str | None = None) -> list[str]:
    """Which side files of a local state (``.lock``, ``.backup``, ``.mark``) git holds or would
    pick up, one warning each: those of ``state``, or of any state in the work trees of
    ``paths``."""
    from reconciler.adapters.gitfiles import exposed_side_files

    if state is not None and state.startswith("s3://"):
        return []
    seen: dict[Path, str] = {}
    wheres = [Path(state)] if state is not None else paths
    for where in wheres:
        for exposed in exposed_side_files(where, Path(state) if state is not None else None):
            seen.setdefault(exposed.path, exposed.warning())
    return list(seen.values())


def warn_exposed_state_files(paths: list[Path], state: str | None = None) -> None:
    """:func:`exposed_state_files`, said on stderr (warnings only: the exit code stays)."""
    for warning in exposed_state_files(paths, state):
        print(f"voiceid-reconciler: warning: {warning}", file=sys.stderr)


def voiceid(args: argparse.Namespace) -> VoiceId:
    """The Voice ID adapter, from the standard AWS configuration and ``--profile/--region``."""
    import time

    from reconciler.adapters.aws import make_client
    from reconciler.adapters.voiceid import VoiceId

    adapter = VoiceId(
        make_client("voice-id", profile=args.profile, region=args.region), tps=args.tps
    )
    if getattr(args, "wait", False) and getattr(args, "timeout", None) is not None:
        adapter.deadline = time.monotonic() + args.timeout  # no retry waits past --timeout
    return adapter


def objects(args: argparse.Namespace) -> Manifests:
    """The S3 objects adapter (manifests, staging, output files)."""
    from reconciler.adapters.aws import make_client
    from reconciler.adapters.objects import Manifests

    return Manifests(make_client("s3", profile=args.profile, region=args.region))
