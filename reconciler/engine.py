"""One run of the reconciler: load the specs, resolve them, observe, plan (and later apply).

The engine is the only module that ties the pure core (spec, identity, plan) to the edges
(the state store, and Voice ID through the adapter that the CLI builds and passes in).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.identity import Resolution, start_request, watchlist_ref
from reconciler.plan import DEFAULT_MAX_ACTIVE, DesiredJob, Plan, absorb, build_plan
from reconciler.spec import LoadedSpec, SpeakerEnrollmentJob, load_specs, select
from reconciler.state import State

_VOICEID_ID = re.compile(r"^[a-zA-Z0-9]{22}$")


class Unresolved(Exception):
    """A name could not be resolved; ``reason`` says why, for a ``blocked`` action."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Resolver(Protocol):
    """Turns the domain and watchlist names of specs into Voice ID ids."""

    def domain_id(self, ref: str) -> str: ...

    def watchlist_id(self, domain_id: str, ref: str) -> str: ...


class OfflineResolver:
    """Resolves names from what earlier runs recorded in the state; no network.

    A 22-character id is taken as it is written (Voice ID ids are exactly 22 letters and
    digits); a name is looked up in the state's caches.
    """

    def __init__(self, state: State) -> None:
        self.state = state

    def domain_id(self, ref: str) -> str:
        if _VOICEID_ID.match(ref):
            return ref
        try:
            return self.state.domains[ref]
        except KeyError:
            raise Unresolved(
                f"domain {ref!r} is not in the state yet; an online plan resolves it "
                "(or write its 22-character DomainId)"
            ) from None

    def watchlist_id(self, domain_id: str, ref: str) -> str:
        if _VOICEID_ID.match(ref):
            return ref
        try:
            return self.state.watchlists[domain_id][ref]
        except KeyError:
            raise Unresolved(
                f"watchlist {ref!r} is not in the state yet; an online plan resolves it"
            ) from None


def desire(specs: Sequence[LoadedSpec], resolver: Resolver) -> list[DesiredJob]:
    """Resolve each spec into the job it stands for, or the reason it is blocked."""
    desired = []
    for spec in specs:
        document = spec.document
        domain_id: str | None = None
        try:
            domain_id = resolver.domain_id(document.spec.domain)
            ref = watchlist_ref(document)
            watchlist_id = resolver.watchlist_id(domain_id, ref) if ref else None
        except Unresolved as err:
            desired.append(DesiredJob(spec, None, blocked=err.reason, domain_id=domain_id))
            continue
        if isinstance(document, SpeakerEnrollmentJob) and document.spec.input.manifest is None:
            desired.append(
                DesiredJob(
                    spec,
                    None,
                    blocked="inline rosters (input.speakers / speakersFile) are not supported "
                    "by this version yet; point input.manifest at an uploaded manifest",
                    domain_id=domain_id,
                )
            )
            continue
        request = start_request(document, Resolution(domain_id, watchlist_id))
        desired.append(DesiredJob(spec, request, domain_id=domain_id))
    return desired


@dataclass(frozen=True)
class PlanResult:
    """A plan and what it was computed from."""

    plan: Plan
    state: State
    offline: bool
    observed_at: str | None
    spec_count: int


def load(paths: Sequence[Path], selectors: Sequence[str] = ()) -> list[LoadedSpec]:
    """Every spec under ``paths`` (all validated together), then narrowed by the selectors."""
    specs = load_specs(paths)
    return select(specs, selectors) if selectors else specs


def plan_offline(
    specs: Sequence[LoadedSpec], state: State, *, max_active: int = DEFAULT_MAX_ACTIVE
) -> PlanResult:
    """The plan from the specs and the state alone, without credentials or network."""
    desired = desire(specs, OfflineResolver(state))
    absorb(state, desired, ())
    plan = build_plan(desired, state, max_active=max_active)
    return PlanResult(plan, state, True, state.observed_at, len(specs))
