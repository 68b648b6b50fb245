"""Spec documents: what a loaded spec is, its facts, and the document models by kind.

A spec file holds one or more Kubernetes-style YAML documents (separated by ``---``)::

    apiVersion: voiceid-reconciler/v1
    kind: SpeakerEnrollmentJob            # or FraudsterRegistrationJob
    metadata: {name: emea-branch-migration, labels: {team: fraud-ops}}
    spec: {domain: ..., dataAccessRoleArn: ..., input: {...}, output: {...}, ...}

Each kind's document model is its module's (:mod:`reconciler.core.jobkinds`), made of the
sections of :mod:`reconciler.core.specsections`, strict and frozen (``extra="forbid"``); this
module asks the registry for it (:data:`MODELS`). :mod:`reconciler.core.loading` reads files
into them and reports every problem with ``file:line:column``. Label selection is
:mod:`reconciler.core.selector`'s.
"""

from __future__ import annotations

import functools
import json
import operator
import sys
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, NamedTuple, Protocol, Self, TypeAlias

from pydantic import Field

from reconciler.core import jobkinds
from reconciler.core.errors import Location
from reconciler.core.jobkinds.base import Settings
from reconciler.core.jobkinds.enrollment import SpeakerEnrollmentJob
from reconciler.core.jobkinds.registration import FraudsterRegistrationJob
from reconciler.core.kinds import JobKind
from reconciler.core.specsections import Document

__all__ = ["FraudsterRegistrationJob", "SpeakerEnrollmentJob"]  # the kinds' modules hold them
"""Re-exported: the two kinds' document models, by the names the code and the tests import
from here; the module's own names are imported from it as they are."""

KINDS = jobkinds.KINDS.keys()
"""The kinds' wire strings, as the registry holds them now (a live view)."""

SpecDocument: TypeAlias = Document
"""A validated spec document of any registered kind (its model is the kind's ``document``)."""


class _Models(Mapping[str, type[Document]]):
    """The document model of each registered kind, asked of the registry at each look-up (a
    kind registered for a test is known at once; no copy to go stale)."""

    def __getitem__(self, kind: str) -> type[Document]:
        try:
            return jobkinds.of(kind).document
        except ValueError:
            raise KeyError(kind) from None

    def __iter__(self) -> Iterator[str]:
        return iter(jobkinds.KINDS)

    def __len__(self) -> int:
        return len(jobkinds.KINDS)


MODELS: Mapping[str, type[Document]] = _Models()
"""``{kind: document model}`` of every registered kind (what the loader validates with)."""


class SpecFacts(NamedTuple):
    """What a plan needs of a spec document, flat: who it is, where it runs, and what its
    Start request is made of before the names are resolved.

    Read from the document's dump (``model_dump(mode="json", by_alias=True)``, every field
    present with its default filled in) into the flat row the spec cache keeps
    (:meth:`row`), and from that row: one reader for a spec parsed now and a spec from the
    cache, and a cached spec needs no validation. A named tuple: immutable, and made from a
    row in a fifth of a frozen dataclass's time (a run makes one per spec).
    """

    kind: JobKind
    """The registry's member for the kind (:func:`reconciler.core.jobkinds.of`): a
    :class:`JobKind` for the product's kinds."""
    name: str
    key: str
    """``<kind>/<name>``: the spec's identity in the state and in plans."""
    labels: dict[str, str]
    domain: str
    watchlist: str | None
    """The watchlist named (None for the domain's default)."""
    manifest: str | None
    staging_uri: str | None
    roster_file: str | None
    inline_roster: bool
    data_access_role_arn: str
    output_s3_uri: str
    kms_key_id: str
    revision: int
    priority: int
    max_attempts: int
    settings: Settings = ()
    """The kind's own settings (its module's ``own_facts``; only it reads them)."""
    depends_on: tuple[str, ...] = ()
    """The keys (``<kind>/<name>``) of the specs this one waits for (``spec.dependsOn``)."""

    @classmethod
    def of(cls, document: Document) -> SpecFacts:
        return cls.from_dump(document.model_dump(mode="json", by_alias=True))

    def row(self) -> list[Any]:
        """The facts as a flat JSON list (what the spec cache keeps; :meth:`from_row`)."""
        return [getattr(self, name) for name in FACT_ROW]

    @classmethod
    def from_row(cls, row: Any) -> SpecFacts:
        """The facts of a :meth:`row`; TypeError or ValueError for anything else (a damaged
        cache entry): each value is checked to be of its field's type."""
        if not isinstance(row, list):
            raise TypeError("not a row of spec facts")
        signature = tuple(map(type, row))
        if signature not in _GOOD_ROWS:  # a few shapes in all: each checked once
            if len(row) != len(FACT_ROW) or not all(map(_of_type, row, _ROW_TYPES)):
                raise TypeError("a spec fact of the wrong type")
            _GOOD_ROWS.add(signature)
        labels = row[_LABELS]
        # The shape check above sees a dict, not what it holds: labels are checked entry by
        # entry.
        if labels and not all(type(k) is str and type(v) is str for k, v in labels.items()):
            raise TypeError("labels must map strings to strings")
        # A copy: the row is the spec cache's own list, whose facts it reads by position and
        # which it writes back as read; the insert below would shift them.
        values = row.copy()
        # Interned: the same texts in thousands of specs and in the state are one object each
        # (part of 989 -> 300 MiB at 50,000 specs: 2a38b8a, bench/README.md, "lean values").
        for at in _SHARED_AT:
            if values[at] is not None:
                values[at] = sys.intern(values[at])
        depends = values[_DEPENDS_AT]
        if not all(type(key) is str for key in depends):
            raise TypeError("dependencies must be spec keys")
        values[_DEPENDS_AT] = tuple(depends)
        definition = jobkinds.of(values[0])  # ValueError for a kind not registered
        kind = values[0] = definition.kind
        values[_SETTINGS_AT] = definition.settings_from(values[_SETTINGS_AT])
        name = values[1] = sys.intern(values[1])  # also the state's (parse_state): kept once
        if values[_MANIFEST_AT] is not None:
            values[_MANIFEST_AT] = sys.intern(values[_MANIFEST_AT])
        values.insert(2, sys.intern(f"{kind.value}/{name}"))
        # The list made the tuple at once, past the generated __new__'s 18 arguments: a run
        # makes one per spec (a cache hit 6.5 us with the frozen dataclass this replaced, 4 us
        # with the named tuple: 72a56fd, bench/README.md).
        return tuple.__new__(cls, values)

    @classmethod
    def from_dump(cls, data: dict[str, Any]) -> SpecFacts:
        """The facts of a validated document's dump, through :meth:`from_row` (one place
        checks and shares the values, for a spec parsed now and for one from the cache)."""
        metadata, spec = data["metadata"], data["spec"]
        source, output = spec["input"], spec["output"]
        definition = jobkinds.of(data["kind"])
        inline, roster_file = definition.roster
        watchlist, settings = definition.own_facts(spec)
        values = {
            "kind": data["kind"],
            "name": metadata["name"],
            "labels": metadata["labels"],
            "domain": spec["domain"],
            # 'default' and no watchlist both mean the domain's default watchlist (sent as
            # none): one fact, one hash, whichever a spec writes.
            "watchlist": None if watchlist in (None, "default") else watchlist,
            "manifest": source["manifest"],
            "staging_uri": source["stagingUri"],
            "roster_file": source[roster_file],
            "inline_roster": source[inline] is not None,
            "data_access_role_arn": spec["dataAccessRoleArn"],
            "output_s3_uri": output["s3Uri"],
            "kms_key_id": output["kmsKeyId"],
            "revision": spec["revision"],
            "priority": spec["priority"],
            "max_attempts": spec["maxAttempts"],
            # Both spellings of a dependency (KIND/name or {kind, name}) become the key.
            "depends_on": [
                d if isinstance(d, str) else f"{d['kind']}/{d['name']}" for d in spec["dependsOn"]
            ],
            "settings": list(settings),  # as the cache's JSON row holds it: checked alike
        }
        return cls.from_row([values.get(name) for name in FACT_ROW])


FACT_ROW = tuple(name for name in SpecFacts._fields if name != "key")
_OPTIONAL_TEXT = (str, type(None))
_ROW_TYPES: tuple[tuple[type, ...], ...] = tuple(
    {
        "labels": (dict,),
        "inline_roster": (bool,),
        "revision": (int,),
        "priority": (int,),
        "max_attempts": (int,),
        "depends_on": (list, tuple),
        "settings": (list, tuple),
        "kind": (str,),
        "name": (str,),
        "domain": (str,),
        "data_access_role_arn": (str,),
        "output_s3_uri": (str,),
        "kms_key_id": (str,),
    }.get(name, _OPTIONAL_TEXT)
    for name in FACT_ROW
)
_SHARED = (
    "domain",
    "watchlist",
    "staging_uri",
    "data_access_role_arn",
    "output_s3_uri",
    "kms_key_id",
)
"""The facts that thousands of specs share: kept once (``sys.intern``; the kind's settings
too: :meth:`~reconciler.core.jobkinds.base.KindDef.settings_from`)."""
_SHARED_AT = tuple(FACT_ROW.index(name) for name in _SHARED)
_LABELS = FACT_ROW.index("labels")
_MANIFEST_AT = FACT_ROW.index("manifest")
_DEPENDS_AT = FACT_ROW.index("depends_on")
_SETTINGS_AT = FACT_ROW.index("settings")
_GOOD_ROWS: set[tuple[type, ...]] = set()
"""The types of the rows found good (a cache holds rows of a handful of shapes)."""


def _of_type(value: Any, types: tuple[type, ...]) -> bool:
    return type(value) in types


class DocumentText(Protocol):
    """Where a cached spec's document can be read again (:mod:`reconciler.core.speccache`)."""

    def text(self) -> str: ...


@dataclass(frozen=True, slots=True, eq=False)
class LoadedSpec:
    """A validated spec document and where it came from.

    ``source`` is the validated document, or (a spec from the spec cache) its dump as JSON
    text or where that text can be read again, validated only when :attr:`document` is asked
    for: a run that changes nothing reads a spec's :attr:`facts` alone, and keeps a hundred
    bytes of it instead of its models.
    """

    facts: SpecFacts
    location: Location
    name_location: Location
    source: Document | str | DocumentText = field(repr=False)
    roster: tuple[Any, ...] | None = None
    """The requests of a roster input (``reconciler.roster.Request``), once loaded."""

    @classmethod
    def of(cls, document: Document, location: Location, name_location: Location) -> Self:
        return cls(SpecFacts.of(document), location, name_location, document)

    @property
    def document(self) -> Document:
        source = self.source
        if isinstance(source, Document):
            return source
        # Validated only now, and not kept: a cached spec holds its facts, not six models of
        # about 0.45 KiB each (35a1b0a, bench/README.md, "lean values").
        data = json.loads(source if isinstance(source, str) else source.text())
        return jobkinds.of(data["kind"]).document.model_validate(data)

    @property
    def text(self) -> str:
        """The document's JSON dump (what the spec cache keeps)."""
        source = self.source
        if isinstance(source, str):
            return source
        if isinstance(source, Document):
            return source.model_dump_json(by_alias=True)
        return source.text()

    @property
    def kind(self) -> JobKind:
        return self.facts.kind

    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def key(self) -> str:
        """``<kind>/<name>``: the spec's identity in the state and in plans."""
        return self.facts.key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LoadedSpec):
            return NotImplemented
        return (self.facts, self.location, self.name_location, self.roster) == (
            other.facts,
            other.location,
            other.name_location,
            other.roster,
        ) and self.document == other.document

    __hash__ = None  # type: ignore[assignment]


def belongs(key: str, spec_keys: Collection[str]) -> bool:
    """Whether a state entry ``key`` is one of these specs' (the spec's own, or one part of its
    chunked roster: ``<kind>/<name>-part-NNN``)."""
    # The last '-part-': a spec may have '-part-' in its own name.
    base, sep, _ = key.rpartition("-part-")
    return key in spec_keys or (bool(sep) and base in spec_keys)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec document (any registered kind), for editors and
    yaml-language-server."""
    from pydantic import TypeAdapter

    # The union of the registered kinds' models, in the registry's order (the schema's oneOf).
    documents: Any = functools.reduce(operator.or_, (k.document for k in jobkinds.KINDS.values()))
    adapter: TypeAdapter[Document] = TypeAdapter(Annotated[documents, Field(discriminator="kind")])
    schema = adapter.json_schema(by_alias=True)
    schema["title"] = "voiceid-reconciler spec document"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
