"""What a kind of batch job is, as one value: :class:`KindDef` (each kind's module makes one)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, TypeAlias

from reconciler.core.specsections import Document, Fraudster, Speaker

Setting: TypeAlias = str | int | None
"""One of a kind's own settings as a spec's facts hold it (a JSON scalar: the spec cache keeps
it)."""
Settings: TypeAlias = tuple[Setting, ...]
"""A kind's own settings, in the order its module gives them (only it reads them)."""


class OwnFacts(NamedTuple):
    """What a spec's ``spec`` section says in its kind's own members, as its facts hold it."""

    watchlist: str | None
    """The watchlist the spec names (None or ``default``: the domain's default)."""
    settings: Settings


class Described(NamedTuple):
    """Where a Describe answer's configuration shows one of a kind's settings, and the value
    Voice ID used when the Start left it out (its API reference): an import reads a job's
    settings by it."""

    path: tuple[str, ...]
    """The member's place in the configuration (``FraudDetectionConfig``,
    ``FraudDetectionAction``), as the Start parameter (:attr:`KindDef.config_member`) has it."""
    default: Setting


class Risk(NamedTuple):
    """A setting a reviewer should look at twice when it has a value, and what to tell them."""

    path: tuple[str, ...]
    """Where the setting is in the request's configuration (``fraudDetection``, ``action``)."""
    value: str
    note: str


def given(**members: Any) -> dict[str, Any]:
    """The members of a Start parameter that have a value: Voice ID takes a member left out
    for its default (the domain's default watchlist, its own threshold); a null it refuses."""
    return {name: value for name, value in members.items() if value is not None}


def watchlist_ids(watchlist_id: str | None) -> list[str] | None:
    """The ``WatchlistIds`` of a Start parameter: the one watchlist a spec names, or none (the
    domain's default)."""
    return None if watchlist_id is None else [watchlist_id]


Entry: TypeAlias = Speaker | Fraudster
"""One entry of a roster as a spec document holds it."""


class ManifestEntry(Protocol):
    """One request of a roster, as :mod:`reconciler.core.roster` holds it."""

    @property
    def speaker_id(self) -> str | None: ...

    @property
    def audio(self) -> tuple[tuple[str, int], ...]: ...


@dataclass(frozen=True)
class KindDef:
    """One kind of Voice ID batch job: its names, its spec document, its API operations, its
    manifest format, its quota of requests per job and its output file's shape."""

    kind: StrEnum
    """The kind's wire string (the spec's ``kind``), a member of
    :class:`~reconciler.core.kinds.JobKind` for the product's kinds."""
    section: str
    """The word for the kind, and the spec section of its own settings (``enrollment``)."""
    title: str
    """The kind for people (``Speaker enrollment``)."""
    list_operation: str
    describe_operation: str
    start_operation: str
    manifest_key: str
    """The manifest's list of requests (``SpeakerEnrollmentRequests``)."""
    per_job: int
    """Requests one job may hold (Voice ID's quota): a larger roster is split into parts."""
    speaker_ids: bool
    """Whether each request names a speaker (an enrollment does; a fraudster has no id of
    ours: Voice ID makes one)."""
    document: type[Document]
    """The kind's spec document model (its ``spec`` section: the input's roster, the kind's
    own settings); the loader validates a document of this kind with it."""
    roster: tuple[str, str]
    """The input's inline roster and roster file members (``speakers``, ``speakersFile``), as
    a document names them; the first is also the word for a roster's entries (:attr:`entries`:
    "120 speakers" in a plan)."""
    own_facts: Callable[[Mapping[str, Any]], OwnFacts]
    """The watchlist and the kind's own settings, from a validated document's ``spec`` as
    dumped by alias (every member there, defaults filled in): what
    :class:`reconciler.core.spec.SpecFacts` keeps of them (and the spec cache with it)."""
    setting_types: tuple[tuple[type, ...], ...]
    """The types each of the settings may have (what :meth:`settings_from` checks)."""
    config: Callable[[Settings, str | None], dict[str, Any]]
    """The request's canonical configuration of the kind's own settings (what the spec hash
    covers of them: :class:`reconciler.core.identity.StartRequest`), from the settings and the
    watchlist's id (None: the domain's default). Every setting is in it, defaults filled in:
    a key added, dropped or renamed changes the hash of every spec of the kind. Its members
    are the kind's spec section's, nested and ordered as there, but for the watchlist, whose
    id is ``watchlistId``: the plan comment shows a start's configuration as that section."""
    config_member: str
    """The Start call's parameter of the kind's own settings (``EnrollmentConfig``)."""
    start_config: Callable[[Mapping[str, Any]], dict[str, Any]]
    """That parameter's value, from the request's canonical configuration
    (:class:`reconciler.core.identity.StartRequest`)."""
    risks: tuple[Risk, ...]
    """The settings of a start of this kind a reviewer should look at twice
    (:meth:`risk_notes`)."""
    output_list: str
    """The output file's list of the requests that succeeded (``SuccessfulEnrollments``)."""
    output_status: str
    """The member of each that says what became of the request (``EnrollmentStatus``)."""
    outcomes: frozenset[str]
    """What that member says of a request that succeeded (docs/specs.md, the output file);
    :mod:`reconciler.core.jobs` counts any other value as ``UNKNOWN``."""
    fills_watchlists: bool = False
    """Whether the kind's jobs fill the watchlists other kinds' settings name (a registration
    adds fraudsters to one, which an enrollment's fraud detection reads): where the kinds are
    shown in the order their jobs feed each other (the status page), it comes first."""

    described: tuple[Described, ...] = ()
    """Where Describe's configuration (its member :attr:`config_member`, as the Start's) shows
    each of the kind's settings, in their order, with Voice ID's default: an import reads a
    job's settings by it (:func:`reconciler.core.foreignjob.own_settings`) and writes them as
    the kind's spec section through :attr:`config`. Empty: the kind's jobs are not imported."""
    described_watchlists: tuple[str, ...] = ()
    """Where that configuration shows the ids of the watchlists the job named (``WatchlistIds``
    under ``FraudDetectionConfig``); empty: the kind names none."""

    @property
    def entries(self) -> str:
        """The word for a roster's entries (``speakers``, ``fraudsters``): a plan counts a
        roster in it, never names who is in it."""
        return self.roster[0]

    def roster_of(self, document: Document) -> tuple[Sequence[Entry] | None, str | None]:
        """A document's inline roster and roster file path, by the members :attr:`roster`
        names (both None for a manifest input)."""
        spec: Any = document.spec  # every kind's spec has an input; JobSpec leaves it to them
        source = spec.input
        # The members are named as a document names them; the model's attributes are its
        # field names (``speakersFile`` is ``speakers_file``).
        by_alias = {f.alias or name: name for name, f in type(source).model_fields.items()}
        inline, roster_file = self.roster
        return getattr(source, by_alias[inline]), getattr(source, by_alias[roster_file])

    def risk_notes(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        """The notes of a start's risky settings (:attr:`risks`), from its configuration (a
        request's, or one made of a spec's facts by an offline plan; a setting absent, or
        under a member that is no mapping, is not risky)."""
        return tuple(risk.note for risk in self.risks if _at(config, risk.path) == risk.value)

    def settings_from(self, row: Sequence[Any]) -> Settings:
        """The settings a spec cache's row holds (JSON: a list), each checked against its
        type (TypeError for a damaged entry: a miss, never a wrong hash) and interned (the
        same few words in thousands of specs are one object each)."""
        types = self.setting_types
        if len(row) != len(types) or not all(type(v) in t for v, t in zip(row, types, strict=True)):
            raise TypeError(f"not the settings of a {self.kind}")
        return tuple([sys.intern(v) if type(v) is str else v for v in row])

    def manifest(self, requests: Sequence[ManifestEntry], *, offset: int = 0) -> bytes:
        """The manifest JSON of ``requests`` — the one writer of the format (the demo, the
        rosters and the tests all use it). Canonical (sorted keys, no spaces): the same roster
        gives the same bytes, so its digest is a stable part of the spec hash. Requests are
        numbered from ``offset + 1`` (a part of a split roster continues its numbering)."""
        rendered = []
        for number, request in enumerate(requests, start=offset + 1):
            item: dict[str, Any] = {
                "RequestId": f"req-{number:07d}",
                "AudioSpecifications": [
                    {"S3Uri": uri, "ChannelId": channel} for uri, channel in request.audio
                ],
            }
            if self.speaker_ids:
                item["SpeakerId"] = request.speaker_id
            rendered.append(item)
        document = {"Version": "1.0", self.manifest_key: rendered}
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _at(config: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = config
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value
