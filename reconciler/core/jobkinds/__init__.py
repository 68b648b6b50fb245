"""Job kinds as modules: what is particular to each kind of batch job, one module per kind,
registered in :data:`KINDS`.

Each module (:mod:`.enrollment`, :mod:`.registration`) makes one
:class:`~reconciler.core.jobkinds.base.KindDef`: the kind's names, its spec document model, its
API operations, its manifest format and its quota of requests per job. The code that needs any
of these asks the registry (``of(kind)``) instead of branching on the kind. A third kind is one
module and one line in :data:`_KINDS` (and its wire string, a member of
:class:`~reconciler.core.kinds.JobKind`).

The registry does not change while the product runs: :func:`registered` adds a kind for the
length of a ``with`` block (a test's own kind) and takes it out again, whatever the block
raised; nothing else writes to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import MappingProxyType

from reconciler.core.jobkinds import enrollment, registration
from reconciler.core.jobkinds.base import KindDef

_KINDS: dict[str, KindDef] = {kind.kind: kind for kind in (enrollment.KIND, registration.KIND)}

KINDS: MappingProxyType[str, KindDef] = MappingProxyType(_KINDS)
"""Every kind the product knows, by its wire string (a :class:`~reconciler.core.kinds.JobKind`),
in the order people read them: a read-only view of the registry, so code that holds it sees a
kind registered later (:func:`registered`)."""


def of(kind: str) -> KindDef:
    """The definition of ``kind`` (a :class:`~reconciler.core.kinds.JobKind` or its wire
    string); ValueError for a kind the registry does not hold (as ``JobKind(kind)`` says)."""
    try:
        return _KINDS[kind]
    except (KeyError, TypeError):  # TypeError: not even a string (a damaged cache row's)
        raise ValueError(f"{kind!r} is not a registered kind of job") from None


def with_section(section: str) -> KindDef | None:
    """The kind whose own spec section is ``section`` (``enrollment``), if any: a loader
    finding it in another kind's spec says whose it is."""
    return next((kind for kind in _KINDS.values() if kind.section == section), None)


@contextmanager
def registered(definition: KindDef) -> Iterator[KindDef]:
    """``definition`` in the registry for the ``with`` block, and out of it after: a kind a
    test brings (tests/test_toy_kind.py) leaves no trace for the next test to clear."""
    if definition.kind in _KINDS:
        raise ValueError(f"{definition.kind} is registered already")
    _KINDS[definition.kind] = definition
    try:
        yield definition
    finally:
        del _KINDS[definition.kind]


__all__ = ["KINDS", "KindDef", "of", "registered", "with_section"]
