"""Spec documents: the pydantic models, what a loaded spec is, and label selection.

A spec file holds one or more Kubernetes-style YAML documents (separated by ``---``)::

    apiVersion: voiceid-reconciler/v1
    kind: SpeakerEnrollmentJob            # or FraudsterRegistrationJob
    metadata: {name: emea-branch-migration, labels: {team: fraud-ops}}
    spec: {domain: ..., dataAccessRoleArn: ..., input: {...}, output: {...}, ...}

The models are strict and frozen (``extra="forbid"``); :mod:`reconciler.core.loading` reads
files into them and reports every problem with ``file:line:column``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, Protocol, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from reconciler.core.errors import Location, SelectorError
from reconciler.core.kinds import JobKind

ENROLLMENT = JobKind.ENROLLMENT
REGISTRATION = JobKind.REGISTRATION
KINDS = tuple(JobKind)
MAX_AUDIO_PER_REQUEST = 10

# --- field types (the Voice ID model's constraints) -------------------------------------------

S3_URI_PATTERN = r"^s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?$"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
VOICEID_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"
ROLE_ARN_PATTERN = r"^arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+$"
LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$"
LABEL_VALUE_PATTERN = r"^([a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?)?$"

S3Uri: TypeAlias = Annotated[str, StringConstraints(pattern=S3_URI_PATTERN, max_length=1024)]
S3Prefix: TypeAlias = Annotated[
    str, StringConstraints(pattern=S3_URI_PATTERN, max_length=900)
]  # room for "<JobId>/<file>.out"
VoiceIdName: TypeAlias = Annotated[
    str, StringConstraints(pattern=VOICEID_NAME_PATTERN, min_length=1, max_length=256)
]
Score: TypeAlias = Annotated[int, Field(ge=0, le=100)]
LabelKey: TypeAlias = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=317)]
LabelValue: TypeAlias = Annotated[
    str, StringConstraints(pattern=LABEL_VALUE_PATTERN, max_length=63)
]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        defer_build=True,  # built when first used: a run whose specs all come from the cache
    )  # never validates one


class Metadata(_Model):
    """Who the spec is: its name (unique per kind) and labels for ``--selector``."""

    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=63)] = Field(
        description="Unique per kind; lowercase letters, digits and '-'; at most 63 characters."
    )
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)


class AudioFile(_Model):
    """One audio file of a speaker, with the channel that holds the speaker's voice."""

    uri: S3Uri
    channel: Literal[0, 1] = 0


class Speaker(_Model):
    """One speaker of an inline roster. Speaker ids identify people: never logged."""

    speaker_id: VoiceIdName
    audio: Annotated[list[S3Uri | AudioFile], Field(min_length=1, max_length=MAX_AUDIO_PER_REQUEST)]


class Fraudster(_Model):
    """One fraudster of an inline roster: the audio of their voice."""

    audio: Annotated[list[S3Uri | AudioFile], Field(min_length=1, max_length=MAX_AUDIO_PER_REQUEST)]


_RosterPath: TypeAlias = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class _Input(_Model):
    manifest: S3Uri | None = Field(default=None, description="An existing manifest in S3.")
    staging_uri: S3Prefix | None = Field(
        default=None, description="Where the rendered manifest of a roster is uploaded."
    )

    _sources: ClassVar[tuple[str, str, str]]

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        inline, file_field, file_alias = self._sources
        given = [
            alias
            for attr, alias in (
                ("manifest", "manifest"),
                (inline, inline),
                (file_field, file_alias),
            )
            if getattr(self, attr) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"exactly one of manifest, {inline}, {file_alias} is required"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.manifest is None and self.staging_uri is None:
            raise ValueError("stagingUri is required with a roster")
        if self.manifest is not None and self.staging_uri is not None:
            raise ValueError("stagingUri only applies to a roster, not to manifest")
        relative = getattr(self, file_field)
        if relative is not None:
            p = Path(relative)
            if p.is_absolute() or ".." in p.parts:
                raise ValueError(f"{file_alias} must be a relative path inside the repository")
        return self


class EnrollmentInput(_Input):
    """Where the enrollment requests come from: exactly one of the three sources."""

    speakers: Annotated[list[Speaker], Field(min_length=1)] | None = None
    speakers_file: _RosterPath | None = Field(
        default=None, description="A CSV or YAML roster next to the spec (relative path)."
    )
    _sources = ("speakers", "speakers_file", "speakersFile")

    @model_validator(mode="after")
    def _unique_speakers(self) -> Self:
        if self.speakers:
            seen: dict[str, int] = {}
            for i, speaker in enumerate(self.speakers):
                first = seen.setdefault(speaker.speaker_id, i)
                if first != i:  # the id itself is personal data: say where, not what
                    raise ValueError(f"speakers[{i}] has the same speakerId as speakers[{first}]")
        return self


class RegistrationInput(_Input):
    """Where the registration requests come from: exactly one of the three sources."""

    fraudsters: Annotated[list[Fraudster], Field(min_length=1)] | None = None
    fraudsters_file: _RosterPath | None = Field(
        default=None, description="A CSV or YAML roster next to the spec (relative path)."
    )
    _sources = ("fraudsters", "fraudsters_file", "fraudstersFile")


class Output(_Model):
    """Where Voice ID writes the job's output file, and the KMS key it encrypts it with."""

    s3_uri: S3Prefix
    kms_key_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="Required: the Voice ID guide says the output must be encrypted."
    )


class FraudDetection(_Model):
    """The fraud check run on each speaker before enrollment."""

    action: Literal["IGNORE", "FAIL"] = "FAIL"
    risk_threshold: Score | None = None
    watchlist: VoiceIdName | None = Field(
        default=None, description="Watchlist name or id; the domain's default when absent."
    )


class Enrollment(_Model):
    """EnrollmentConfig of StartSpeakerEnrollmentJob; every field optional."""

    existing_enrollment_action: Literal["SKIP", "OVERWRITE"] = "SKIP"
    fraud_detection: FraudDetection | None = None


class Registration(_Model):
    """RegistrationConfig of StartFraudsterRegistrationJob; every field optional."""

    duplicate_registration_action: Literal["SKIP", "REGISTER_AS_NEW"] = "SKIP"
    fraudster_similarity_threshold: Score | None = None
    watchlist: VoiceIdName | None = None


DEPENDENCY_PATTERN = (
    r"^(SpeakerEnrollmentJob|FraudsterRegistrationJob)/[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
)


class Dependency(_Model):
    """One spec this spec waits for, written ``{kind: ..., name: ...}``."""

    kind: Literal["SpeakerEnrollmentJob", "FraudsterRegistrationJob"]
    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=63)]


DependencyRef: TypeAlias = (
    Annotated[str, StringConstraints(pattern=DEPENDENCY_PATTERN, max_length=100)] | Dependency
)
"""A dependency: ``<Kind>/<name>`` (the short form) or ``{kind, name}``."""


class _JobSpec(_Model):
    domain: VoiceIdName = Field(description="Voice ID domain name or 22-character DomainId.")
    data_access_role_arn: Annotated[
        str, StringConstraints(pattern=ROLE_ARN_PATTERN, min_length=20, max_length=2048)
    ]
    output: Output
    priority: int = Field(default=0, description="Higher starts first when a domain queues jobs.")
    revision: Annotated[int, Field(ge=0, le=999_999)] = Field(
        default=0, description="Bump to deliberately run the same job again."
    )
    max_attempts: Annotated[int, Field(ge=1, le=10)] = Field(
        default=1,
        description="How many times a FAILED job is started again (as a new attempt).",
    )
    depends_on: list[DependencyRef] = Field(
        default_factory=list,
        max_length=100,
        description="Specs whose current job must have ended COMPLETED before this one starts "
        "(`<Kind>/<name>` or `{kind, name}`; across kinds and domains). Order is not identity: "
        "it never changes the spec's hash.",
    )


class EnrollmentSpec(_JobSpec):
    """The ``spec`` of a SpeakerEnrollmentJob."""

    input: EnrollmentInput
    enrollment: Enrollment = Field(default_factory=Enrollment)


class RegistrationSpec(_JobSpec):
    """The ``spec`` of a FraudsterRegistrationJob."""

    input: RegistrationInput
    registration: Registration = Field(default_factory=Registration)


class _Document(_Model):
    api_version: Literal["voiceid-reconciler/v1"]
    metadata: Metadata


class SpeakerEnrollmentJob(_Document):
    """A speaker enrollment batch job that should exist."""

    kind: Literal["SpeakerEnrollmentJob"]
    spec: EnrollmentSpec


class FraudsterRegistrationJob(_Document):
    """A fraudster registration batch job that should exist."""

    kind: Literal["FraudsterRegistrationJob"]
    spec: RegistrationSpec


SpecDocument: TypeAlias = SpeakerEnrollmentJob | FraudsterRegistrationJob
MODELS: dict[str, type[SpeakerEnrollmentJob] | type[FraudsterRegistrationJob]] = {
    ENROLLMENT: SpeakerEnrollmentJob,
    REGISTRATION: FraudsterRegistrationJob,
}


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
    existing_enrollment_action: str | None = None
    fraud_action: str | None = None
    risk_threshold: int | None = None
    duplicate_registration_action: str | None = None
    similarity_threshold: int | None = None
    depends_on: tuple[str, ...] = ()
    """The keys (``<kind>/<name>``) of the specs this one waits for (``spec.dependsOn``)."""

    @classmethod
    def of(cls, document: SpecDocument) -> SpecFacts:
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
        if labels and not all(type(k) is str and type(v) is str for k, v in labels.items()):
            raise TypeError("labels must map strings to strings")
        values = row.copy()
        for at in _SHARED_AT:
            if values[at] is not None:
                values[at] = sys.intern(values[at])
        depends = values[_DEPENDS_AT]
        if not all(type(key) is str for key in depends):
            raise TypeError("dependencies must be spec keys")
        values[_DEPENDS_AT] = tuple(depends)
        kind = values[0] = JobKind(values[0])
        name = values[1] = sys.intern(values[1])  # also the state's (parse_state): kept once
        if values[_MANIFEST_AT] is not None:
            values[_MANIFEST_AT] = sys.intern(values[_MANIFEST_AT])
        values.insert(2, sys.intern(f"{kind.value}/{name}"))
        return tuple.__new__(cls, values)

    @classmethod
    def from_dump(cls, data: dict[str, Any]) -> SpecFacts:
        """The facts of a validated document's dump, through :meth:`from_row` (one place
        checks and shares the values, for a spec parsed now and for one from the cache)."""
        metadata, spec = data["metadata"], data["spec"]
        source, output = spec["input"], spec["output"]
        if data["kind"] == ENROLLMENT:
            inline, file_field = "speakers", "speakersFile"
            enrollment = spec["enrollment"]
            fraud = enrollment["fraudDetection"] or {}
            watchlist = fraud.get("watchlist")
            config = {
                "existing_enrollment_action": enrollment["existingEnrollmentAction"],
                "fraud_action": fraud.get("action", "FAIL"),
                "risk_threshold": fraud.get("riskThreshold"),
            }
        else:
            inline, file_field = "fraudsters", "fraudstersFile"
            registration = spec["registration"]
            watchlist = registration["watchlist"]
            config = {
                "duplicate_registration_action": registration["duplicateRegistrationAction"],
                "similarity_threshold": registration["fraudsterSimilarityThreshold"],
            }
        values = {
            "kind": data["kind"],
            "name": metadata["name"],
            "labels": metadata["labels"],
            "domain": spec["domain"],
            "watchlist": None if watchlist in (None, "default") else watchlist,
            "manifest": source["manifest"],
            "staging_uri": source["stagingUri"],
            "roster_file": source[file_field],
            "inline_roster": source[inline] is not None,
            "data_access_role_arn": spec["dataAccessRoleArn"],
            "output_s3_uri": output["s3Uri"],
            "kms_key_id": output["kmsKeyId"],
            "revision": spec["revision"],
            "priority": spec["priority"],
            "max_attempts": spec["maxAttempts"],
            "depends_on": [
                d if isinstance(d, str) else f"{d['kind']}/{d['name']}" for d in spec["dependsOn"]
            ],
            **config,
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
        "risk_threshold": (int, type(None)),
        "similarity_threshold": (int, type(None)),
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
    "existing_enrollment_action",
    "fraud_action",
    "duplicate_registration_action",
)
"""The facts that thousands of specs share: kept once (``sys.intern``)."""
_SHARED_AT = tuple(FACT_ROW.index(name) for name in _SHARED)
_LABELS = FACT_ROW.index("labels")
_MANIFEST_AT = FACT_ROW.index("manifest")
_DEPENDS_AT = FACT_ROW.index("depends_on")
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
    source: SpecDocument | str | DocumentText = field(repr=False)
    roster: tuple[Any, ...] | None = None
    """The requests of a roster input (``reconciler.roster.Request``), once loaded."""

    @classmethod
    def of(cls, document: SpecDocument, location: Location, name_location: Location) -> Self:
        return cls(SpecFacts.of(document), location, name_location, document)

    @property
    def document(self) -> SpecDocument:
        source = self.source
        if isinstance(source, SpeakerEnrollmentJob | FraudsterRegistrationJob):
            return source
        data = json.loads(source if isinstance(source, str) else source.text())
        return MODELS[data["kind"]].model_validate(data)

    @property
    def text(self) -> str:
        """The document's JSON dump (what the spec cache keeps)."""
        source = self.source
        if isinstance(source, str):
            return source
        if isinstance(source, SpeakerEnrollmentJob | FraudsterRegistrationJob):
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


# --- discovery --------------------------------------------------------------------------------
_REQUIREMENT = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<absent>[^\s=!(),]+)"
    r"|(?P<key>[^\s=!(),]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s=!(),]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?)\s*$"
)


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector, as Kubernetes reads it."""

    key: str
    op: Literal["=", "!=", "in", "notin", "exists", "!"]
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!":
            return value is None
        if self.op in ("=", "in"):
            return value in self.values
        return value not in self.values  # != and notin also match specs without the label


def _split_terms(selector: str) -> list[str]:
    """The comma-separated terms of a selector (commas inside ``( )`` belong to a set)."""
    terms, depth, start = [], 0, 0
    for i, char in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return [t for t in (t.strip() for t in terms) if t]


def parse_selector(selector: str) -> list[Requirement]:
    """A label selector: ``key=value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``,
    ``key`` (the label exists), ``!key`` (it does not), comma-separated (all must match)."""
    requirements = []
    for term in _split_terms(selector):
        match = _REQUIREMENT.match(term)
        if match is None:
            raise SelectorError(
                f"--selector {term!r}: expected key=value, key!=value, 'key in (a,b)', "
                "'key notin (a,b)', key or !key"
            )
        if match["absent"]:
            requirements.append(Requirement(match["absent"], "!"))
        elif match["op"]:
            op: Literal["=", "!="] = "!=" if match["op"] == "!=" else "="
            requirements.append(Requirement(match["key"], op, frozenset({match["value"]})))
        elif match["set"]:
            values = frozenset(v.strip() for v in match["values"].split(","))
            requirements.append(
                Requirement(match["key"], "in" if match["set"] == "in" else "notin", values)
            )
        else:
            requirements.append(Requirement(match["key"], "exists"))
    return requirements


def select(specs: Iterable[LoadedSpec], selectors: Sequence[str]) -> list[LoadedSpec]:
    """The specs whose labels match every term of every selector (see :func:`parse_selector`)."""
    rules = [r for selector in selectors for r in parse_selector(selector)]
    return [s for s in specs if all(r.matches(s.facts.labels) for r in rules)]


def belongs(key: str, spec_keys: Collection[str]) -> bool:
    """Whether a state entry ``key`` is one of these specs' (the spec's own, or one part of its
    chunked roster: ``<kind>/<name>-part-NNN``)."""
    base, sep, _ = key.rpartition("-part-")
    return key in spec_keys or (bool(sep) and base in spec_keys)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec document (either kind), for editors and yaml-language-server."""
    from pydantic import TypeAdapter

    adapter: TypeAdapter[SpecDocument] = TypeAdapter(
        Annotated[SpecDocument, Field(discriminator="kind")]
    )
    schema = adapter.json_schema(by_alias=True)
    schema["title"] = "voiceid-reconciler spec document"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
