"""Job identity: the effective Start request, its canonical hash, ClientToken and JobName.

A spec is resolved (domain name to DomainId, watchlist name to WatchlistId) into the
:class:`StartRequest` that Voice ID would receive. Its canonical JSON (sorted keys, no
whitespace, UTF-8, defaults filled in) hashed with SHA-256 is the **spec hash**:

* it covers exactly what changes the job: kind, DomainId, role, input URI and manifest
  digest, output URI and KMS key, the kind's own configuration (made by its module:
  :mod:`reconciler.core.jobkinds`), and ``revision``;
* comments, key order, quoting, labels, priority, ``maxAttempts`` and a pure rename of
  ``metadata.name`` do not change it (golden tests pin this).

From the hash and the attempt number (1 for the first job, 2.. for retries of a FAILED job):

* ``ClientToken = <hash[:56]>-<attempt>``: a retried or concurrent Start returns the same job
  while Voice ID remembers the token;
* ``JobName = <metadata.name>-<hash[:32]>[-<attempt>]`` (the suffix only from attempt 2): the
  job can be found again by listing the domain after the state file and the token are gone.

Changing anything here changes every hash and would start every job again: the golden tests in
``tests/test_identity.py`` exist to make that impossible by accident. ``IDENTITY_VERSION`` is
inside the canonical form for the day a deliberate change is needed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.core import jobkinds
from reconciler.core.canonjson import compact as _dumps
from reconciler.core.canonjson import string as _string
from reconciler.core.jobkinds.base import Settings
from reconciler.core.spec import SpecDocument, SpecFacts

IDENTITY_VERSION = 1
HASH_IN_NAME = 32
"""Hex characters of the spec hash carried in the JobName (128 bits)."""
TOKEN_HASH_CHARS = 56
MAX_ATTEMPT = 999

_JOB_NAME = re.compile(
    rf"^(?P<name>[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)-(?P<hash>[0-9a-f]{{{HASH_IN_NAME}}})"
    r"(?:-(?P<attempt>[1-9][0-9]{0,2}))?$"
)


@dataclass(frozen=True)
class Resolution:
    """What a spec's names resolve to in Voice ID.

    ``watchlist_id`` is None when the spec names no watchlist (or ``default``): Voice ID then
    uses the domain's default watchlist and the request carries no WatchlistIds.
    """

    domain_id: str
    watchlist_id: str | None = None


@dataclass(frozen=True, eq=False, slots=True)
class StartRequest:
    """The effective StartSpeakerEnrollmentJob / StartFraudsterRegistrationJob request."""

    kind: str
    domain_id: str
    data_access_role_arn: str
    input_s3_uri: str
    output_s3_uri: str
    kms_key_id: str
    config: dict[str, Any]
    """Shared between requests of the same configuration: never changed."""
    revision: int = 0
    manifest_digest: str | None = None
    hash: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.canonical.encode()).hexdigest()
        object.__setattr__(self, "hash", sys.intern(digest))  # the state's too: kept once

    @property
    def canonical(self) -> str:
        """The canonical JSON the hash is of (made again when asked for: a run holds a request
        per spec, and only the few it starts or records need their text).

        Written out directly, keys in their sorted order, each string through the encoder
        ``json.dumps`` itself uses and the configuration's text made once per configuration:
        the very bytes of :func:`_dumped_essence` (``tests/test_identity.py`` proves it), in
        a fifth of the time. A value of another type than the fields say goes to json.dumps."""
        kind, domain_id, role = self.kind, self.domain_id, self.data_access_role_arn
        source, output, kms_key = self.input_s3_uri, self.output_s3_uri, self.kms_key_id
        digest = self.manifest_digest
        if not (
            type(self.revision) is int
            and type(kind) is str
            and type(domain_id) is str
            and type(role) is str
            and type(source) is str
            and type(output) is str
            and type(kms_key) is str
            and (digest is None or type(digest) is str)
        ):
            return _dumped_essence(self)
        kind, domain_id, role = _string(kind), _string(domain_id), _string(role)
        source, output, kms_key = _string(source), _string(output), _string(kms_key)
        # Hand-written, not json.dumps(essence, sort_keys=True): a run makes this text for each
        # spec it hashes, and this is a fifth of the time (88c68af, bench/README.md). It must be
        # byte for byte _dumped_essence's text (keys in sorted order, no spaces, each string
        # through json's own encoder, the kind's configuration as _config_text gives it): every
        # job ever started carries the hash of that text in its ClientToken and JobName. A
        # property test (tests/test_identity.py) holds the two equal; the golden hashes pin it.
        return (
            f'{{"config":{_config_text(self.config)},"dataAccessRoleArn":{role},'
            f'"domainId":{domain_id},"identity":{IDENTITY_VERSION},'
            f'"input":{{"manifestDigest":{"null" if digest is None else _string(digest)},'
            f'"s3Uri":{source}}},"kind":{kind},'
            f'"output":{{"kmsKeyId":{kms_key},"s3Uri":{output}}},"revision":{self.revision}}}'
        )

    def essence(self) -> dict[str, Any]:
        """The canonical form as a value: what the state records of a started request (no
        speaker data: a roster is its staged manifest's URI and digest) and what
        :func:`request_changes` compares."""
        essence: dict[str, Any] = json.loads(self.canonical)
        return essence

    def api_params(self, *, client_token: str, job_name: str) -> dict[str, Any]:
        """The keyword arguments of the boto3 Start call."""
        params: dict[str, Any] = {
            "ClientToken": client_token,
            "JobName": job_name,
            "DomainId": self.domain_id,
            "DataAccessRoleArn": self.data_access_role_arn,
            "InputDataConfig": {"S3Uri": self.input_s3_uri},
            "OutputDataConfig": {"S3Uri": self.output_s3_uri, "KmsKeyId": self.kms_key_id},
        }
        kind = jobkinds.of(self.kind)
        params[kind.config_member] = kind.start_config(self.config)
        return params


_ETAG = "etag:"


def request_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    """What changed between two requests' :meth:`StartRequest.essence`, one phrase per field:
    ``revision 0 -> 1``, ``output.s3Uri s3://a/ -> s3://b/``, ``manifest object replaced (ETag
    9b2c... -> 41fe...)``, ``roster changed``. Both are canonical forms, so any difference is
    one the hash covers."""
    before, after = _flatten(old), _flatten(new)
    changes = []
    digests = before.get("input.manifestDigest"), after.get("input.manifestDigest")
    if digests[0] != digests[1]:
        if all(isinstance(d, str) and d.startswith(_ETAG) for d in digests):
            etags = [str(d).removeprefix(_ETAG).strip('"')[:12] for d in digests]
            changes.append(f"manifest object replaced (ETag {etags[0]} -> {etags[1]})")
        else:
            changes.append("roster changed")
    roster = not str(after.get("input.manifestDigest", "")).startswith(_ETAG)
    skip = {"identity", "input.manifestDigest"} | ({"input.s3Uri"} if roster else set())
    for path in sorted((before.keys() | after.keys()) - skip):
        if before.get(path, _ABSENT) != after.get(path, _ABSENT):
            changes.append(f"{path} {_shown(before.get(path))} -> {_shown(after.get(path))}")
    return tuple(changes)


_ABSENT = object()


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(_flatten(item, f"{path}."))
        else:
            out[path] = item
    return out


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)


def start_request(
    spec: SpecFacts | SpecDocument,
    resolution: Resolution,
    *,
    input_uri: str | None = None,
    manifest_digest: str | None = None,
) -> StartRequest:
    """The effective Start request of a spec (its facts, or its document), with every default
    filled in.

    ``input_uri`` is the staged manifest of a roster (the spec's ``input.manifest`` otherwise);
    ``manifest_digest`` identifies the manifest's content (a roster part's SHA-256, or an
    external manifest's ETag).
    """
    facts = spec if isinstance(spec, SpecFacts) else SpecFacts.of(spec)
    config = configuration(facts, resolution.watchlist_id)
    source = input_uri or facts.manifest
    if source is None:
        raise ValueError(f"{facts.name}: a roster needs its staged manifest URI")
    return StartRequest(
        kind=facts.kind.value,
        domain_id=resolution.domain_id,
        data_access_role_arn=facts.data_access_role_arn,
        input_s3_uri=source,
        output_s3_uri=facts.output_s3_uri,
        kms_key_id=facts.kms_key_id,
        config=config,
        revision=facts.revision,
        manifest_digest=manifest_digest,
    )


def configuration(facts: SpecFacts, watchlist_id: str | None = None) -> dict[str, Any]:
    """The canonical configuration of a spec's own settings (its kind's ``config``), with the
    watchlist's id (None: the domain's default, or not known yet: an offline plan's risk
    notes read the settings alone). Shared between the specs of the same settings: never
    change it."""
    return _config(jobkinds.of(facts.kind).config, facts.settings, watchlist_id)


def client_token(spec_hash: str, attempt: int = 1) -> str:
    """The ClientToken of one attempt of a spec hash (at most 60 chars of ``[0-9a-f-]``)."""
    _check_attempt(attempt)
    return f"{spec_hash[:TOKEN_HASH_CHARS]}-{attempt}"


def job_name(name: str, spec_hash: str, attempt: int = 1) -> str:
    """The JobName of one attempt: ``<name>-<hash[:32]>``, then ``-<attempt>`` from attempt 2."""
    _check_attempt(attempt)
    base = f"{name}-{spec_hash[:HASH_IN_NAME]}"
    return base if attempt == 1 else f"{base}-{attempt}"


@dataclass(frozen=True)
class JobNameParts:
    """What a JobName written by us says: the spec name, the hash prefix and the attempt."""

    name: str
    hash_prefix: str
    attempt: int


def parse_job_name(value: str | None) -> JobNameParts | None:
    """The parts of a JobName that carries our naming, or None for anybody else's job."""
    if not value:
        return None
    match = _JOB_NAME.match(value)
    if match is None:
        return None
    return JobNameParts(match["name"], match["hash"], int(match["attempt"] or 1))


def _check_attempt(attempt: int) -> None:
    if not 1 <= attempt <= MAX_ATTEMPT:
        raise ValueError(f"attempt must be 1..{MAX_ATTEMPT}, not {attempt}")


def _dumped_essence(request: StartRequest) -> str:
    """The canonical JSON as ``json.dumps`` writes it (what :attr:`canonical` is)."""
    essence = {
        "identity": IDENTITY_VERSION,
        "kind": request.kind,
        "domainId": request.domain_id,
        "dataAccessRoleArn": request.data_access_role_arn,
        "input": {"s3Uri": request.input_s3_uri, "manifestDigest": request.manifest_digest},
        "output": {"s3Uri": request.output_s3_uri, "kmsKeyId": request.kms_key_id},
        "config": request.config,
        "revision": request.revision,
    }
    return _dumps(essence)


def _config_text(config: dict[str, Any]) -> str:
    """A request's configuration as canonical JSON: made once for each of the few shared
    configurations (:func:`_shared`), anything else each time."""
    known = _CONFIG_TEXTS.get(id(config))
    return known[1] if known is not None and known[0] is config else _dumps(config)


def _shared(config: dict[str, Any]) -> dict[str, Any]:
    _CONFIG_TEXTS[id(config)] = (config, _dumps(config))
    return config


_CONFIG_TEXTS: dict[int, tuple[dict[str, Any], str]] = {}
"""``{id(config): (config, its text)}`` of the shared configurations (held: an id is never
reused while it is here)."""


# The configuration of a request is one of a few per domain: requests share one value each
# (never changed once made), instead of holding two dicts per spec. Keyed by the kind's config
# function, not its name: a kind registered for a test under a name used before gets its own.
@functools.lru_cache(maxsize=1024)
def _config(
    make: Callable[[Settings, str | None], dict[str, Any]],
    settings: Settings,
    watchlist_id: str | None,
) -> dict[str, Any]:
    return _shared(make(settings, watchlist_id))
