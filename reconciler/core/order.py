"""Order between jobs: ``spec.dependsOn``.

A spec that depends on others starts only once the current job of each has ended COMPLETED:
fraudsters registered into a watchlist before the enrollment that checks callers against it,
waves of enrollment one after another across domains. Until then its start **waits**: a queued
start (``waiting-for-dependency``) that takes no slot, is reviewed and approved like any queued
start, and starts in the poll after its dependencies completed (``apply --wait`` starts it as
they end). A dependency that ended FAILED (no attempt left) or COMPLETED_WITH_ERRORS blocks it,
with the reason: a human decides (bump the dependency's revision, or remove the dependency).

Order is not identity: ``dependsOn`` never enters the spec hash, so adding, removing or
reordering dependencies never starts a job again.

The dependencies of a spec are named by key (``<kind>/<name>``), across kinds and domains; a
spec whose roster is chunked is complete when every part is. Validation (:func:`problems`)
refuses unknown names (with a did-you-mean), a spec that depends on itself and cycles (one line
naming each edge). A dependency outside a run's ``--selector`` or ``--shard`` is still honoured:
its job is read from the state (a dependency the state never saw a job of keeps its dependents
waiting). Nothing here does I/O.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from reconciler.core.errors import SpecError
from reconciler.core.kinds import WANTED, ActionKind, JobStatus

if TYPE_CHECKING:
    from reconciler.core.plan import Action
    from reconciler.core.spec import LoadedSpec
    from reconciler.core.state import State

WAITING = "waiting-for-dependency"
"""The ``code`` of a start that waits for its dependencies."""
BLOCKED = "dependency-failed"
"""The ``code`` of a start whose dependency ended badly."""


def problems(specs: Sequence[LoadedSpec]) -> list[SpecError]:
    """Every dependency that names no spec, names its own spec, or closes a cycle."""
    keys = {spec.key: spec for spec in specs}
    errors = []
    graph: dict[str, list[str]] = {}
    for spec in specs:
        for key in spec.facts.depends_on:
            if key == spec.key:
                errors.append(SpecError(spec.location, f"{spec.key} depends on itself"))
            elif key not in keys:
                close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                errors.append(
                    SpecError(spec.location, f"{spec.key} depends on {key}: no such spec{hint}")
                )
            else:
                graph.setdefault(spec.key, []).append(key)
    for cycle in _cycles(graph):
        first = keys[cycle[0]]
        edges = ", ".join(f"{a} -> {b} ({keys[a].location})" for a, b in itertools.pairwise(cycle))
        errors.append(SpecError(first.location, f"a cycle of dependencies: {edges}"))
    return errors


def _cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each cycle once, as the path that closes it (``[a, b, a]``), in a stable order."""
    # An iterative walk, not a recursive one: a chain of dependencies thousands of specs long
    # must not hit Python's recursion limit during validate.
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    found: list[list[str]] = []
    # Sorted, here and for each node's children: the cycles are found, and reported, in the same
    # order at every run.
    for start in sorted(graph):
        if state.get(start):
            continue
        path: list[str] = []
        stack = [(start, iter(sorted(graph.get(start, ()))))]
        state[start], path = 1, [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            # A child on the path being walked closes a cycle: the path from it, and the child
            # again.
            elif state.get(child) == 1:
                found.append([*path[path.index(child) :], child])
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return found


def gate(
    action: Action,
    depends_on: Sequence[str],
    actions: Mapping[str, Action],
    state: State,
) -> Action:
    """``action`` (a start) as its dependencies allow: unchanged when every one's current job
    ended COMPLETED, else waiting (queued) or blocked, saying for which."""
    waits: list[str] = []
    for key in depends_on:
        verdict, why = _status(key, actions, state)
        if verdict == "blocked":
            return replace(
                action,
                kind=ActionKind.BLOCKED,
                reason=f"dependency {key} {why}: it must end COMPLETED first",
                code=BLOCKED,
            )
        if verdict == "waiting":
            waits.append(f"{key} ({why})")
    if not waits:
        return action
    return replace(
        action, kind=ActionKind.QUEUED, reason=f"waiting for {', '.join(waits)}", code=WAITING
    )


def _status(key: str, actions: Mapping[str, Action], state: State) -> tuple[str, str]:
    """Whether the spec ``key`` (or every part of its chunked roster) is done, still coming
    (``waiting``) or ended badly (``blocked``), and why."""
    # A chunked roster is complete when every part is: its key names no action, its parts' do.
    parts = [a for k, a in actions.items() if k == key or k.startswith(f"{key}-part-")]
    if not parts:  # outside the selector or shard: what the state knows of its job
        entry = state.specs.get(key)
        latest = entry.latest() if entry is not None else None
        if latest is None or latest.job_id is None:
            return "waiting", "no job of it yet"
        return _of_status(latest.status, latest.percent_complete)
    for part in parts:
        if part.kind in WANTED:
            return "waiting", "not started yet"
        # A blocked dependency may be unblocked by a fix (a domain created, a name corrected):
        # the dependent waits for it rather than being blocked with it.
        if part.kind is ActionKind.BLOCKED:
            return "waiting", f"blocked: {part.reason}"
        verdict = _of_status(part.status, part.percent_complete)
        if verdict[0] != "done":
            return verdict
    return "done", ""


def _of_status(status: JobStatus | None, percent: int | None) -> tuple[str, str]:
    if status == JobStatus.COMPLETED:
        return "done", ""
    # Blocked, not waiting: a job that ended badly will not complete by itself, and starting the
    # dependent on a half-registered watchlist is what dependsOn is there to prevent.
    if status in (JobStatus.FAILED, JobStatus.COMPLETED_WITH_ERRORS):
        return "blocked", f"ended {status}"
    progress = f" {percent}%" if percent is not None else ""
    return "waiting", f"{status or 'starting'}{progress}"
