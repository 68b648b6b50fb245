"""Job kinds as modules: what is particular to each kind of batch job, one module per kind,
registered in :data:`KINDS`.

Each module (:mod:`.enrollment`, :mod:`.registration`) makes one
:class:`~reconciler.core.jobkinds.base.KindDef`: the kind's names, its API operations, its
manifest format and its quota of requests per job. The code that needs any of these asks the
registry (``of(kind)``) instead of branching on the kind. A third kind is one module and one
line in :data:`KINDS` (its spec section model and request parameters still live in
:mod:`reconciler.core.spec` and :mod:`reconciler.core.identity`: docs/architecture.md, "The
intended shape").
"""

from __future__ import annotations

from reconciler.core.jobkinds import enrollment, registration
from reconciler.core.jobkinds.base import KindDef
from reconciler.core.kinds import JobKind

KINDS: dict[JobKind, KindDef] = {
    enrollment.KIND.kind: enrollment.KIND,
    registration.KIND.kind: registration.KIND,
}
"""Every kind the product knows, by :class:`JobKind` (in the order people read them)."""


def of(kind: str) -> KindDef:
    """The definition of ``kind`` (a :class:`JobKind` or its wire string)."""
    return KINDS[JobKind(kind)]


__all__ = ["KINDS", "KindDef", "of"]
