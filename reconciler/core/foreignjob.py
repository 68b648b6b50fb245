"""A job started without the reconciler, as Describe and S3 show it, and what that proves.

An import (:mod:`reconciler.core.adoption`) may write a spec for such a job only as far as
these facts carry it:

* that the spec sends the job's request: :func:`differences` compares the request the spec
  resolves to with the one Describe shows (:func:`job_request`), field by field, Voice ID's
  defaults filled in;
* not which manifest content the job read: S3 keeps no history of an object's ETag. Its
  ``LastModified`` tells (:func:`manifest_proof`): written a second or more before the job was
  created, the object there now is the one the job read; written after, it was replaced since
  (the spec's hash is of the object there now, and running the spec again reads that);
* a manifest that is gone has no ETag, so no hash: such a job is written down as a record
  (every line a comment), never as a spec that a plan could start once an object is back;
* some jobs no spec can describe at all (:func:`unimportable`).

Values and pure functions only; no speaker id or audio location: a manifest is its URI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.core import jobkinds
from reconciler.core.identity import StartRequest
from reconciler.core.jobkinds.base import KindDef, Settings
from reconciler.core.jobs import ObservedJob
from reconciler.core.times import epoch

TIME_RESOLUTION = 1.0
"""Seconds: S3 gives ``LastModified`` to the second (the object was written within one second
after the time it says)."""


@dataclass(frozen=True, slots=True)
class JobSettings:
    """What a job was started with, as Describe shows it (never a speaker id or an audio
    location: a manifest is its URI)."""

    data_access_role_arn: str | None = None
    input_s3_uri: str | None = None
    output_s3_uri: str | None = None
    kms_key_id: str | None = None
    own: Settings | None = None
    """The kind's own settings (:func:`described`), Voice ID's defaults filled in; None: Describe
    showed no configuration (the job ran with the defaults: :func:`own_settings`)."""
    watchlist_ids: tuple[str, ...] = ()


def described(kind: KindDef, config: Mapping[str, Any] | None) -> tuple[Settings, tuple[str, ...]]:
    """A kind's own settings and the watchlists' ids, from its configuration as Describe shows
    it (the Start parameter's shape; None: none shown), where :attr:`KindDef.described` says.
    Voice ID's defaults are filled in: a job started without one ran with the default, and a
    spec always states one, so the two must compare equal."""
    own = tuple(
        default if (value := _at(config, path)) is None else value
        for path, default in kind.described
    )
    watchlists = _at(config, kind.described_watchlists) if kind.described_watchlists else None
    return own, tuple(watchlists or ())


def own_settings(kind: KindDef, settings: JobSettings) -> Settings:
    """The kind's own settings of a job (Voice ID's defaults where Describe showed none)."""
    return described(kind, None)[0] if settings.own is None else settings.own


def _at(config: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    value: Any = config
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


class ObjectState(StrEnum):
    FOUND = "found"
    GONE = "gone"
    """S3 says there is no such object (or bucket)."""
    UNREADABLE = "unreadable"
    """S3 refused to say (access denied, an error): nothing is known."""


@dataclass(frozen=True, slots=True)
class ManifestHead:
    """A manifest object as S3 shows it now."""

    state: ObjectState
    last_modified: float | None = None
    """Seconds since the epoch, to the second (S3's resolution)."""
    etag: str | None = None
    """The object's ETag when its time was read: the hash must be of this very object."""
    code: str = ""
    """S3's error code, when it is not FOUND."""


class Proof(StrEnum):
    """What the manifest's object times prove about the content the job read."""

    UNCHANGED = "unchanged"
    REPLACED = "replaced"
    UNKNOWN = "unknown"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class ManifestProof:
    proof: Proof
    said: str
    """One sentence for the spec's comment and the report (no URI: the spec holds it)."""


def manifest_proof(created_at: str | None, head: ManifestHead) -> ManifestProof:
    """What the manifest's ``LastModified`` proves against the job's ``CreatedAt``.

    S3 gives ``LastModified`` to the second, so an object written at ``LM`` was written in
    ``[LM, LM + 1)``: one written a second or more before the job was created is the object
    the job read (it is still there, so it was not replaced since); one written after the job
    was created replaced what the job read (perhaps with the same bytes: S3 cannot say). Within
    the same second, nothing is proven either way. (The two services' clocks are taken to
    agree, as AWS's do.)"""
    if head.state is ObjectState.GONE:
        return ManifestProof(
            Proof.GONE,
            "the manifest is gone (S3: "
            f"{head.code or 'not found'}): what the job read cannot be hashed, so no spec can "
            "stand for this job",
        )
    written, created = head.last_modified, None if created_at is None else epoch(created_at)
    if written is None or created is None:
        missing = "CreatedAt" if created is None else "LastModified"
        return ManifestProof(
            Proof.UNKNOWN,
            f"whether the manifest changed since the job ran cannot be told (no {missing}); "
            "this spec's hash is of the manifest there now",
        )
    if written + TIME_RESOLUTION <= created:
        return ManifestProof(
            Proof.UNCHANGED,
            "the manifest is unchanged since the job was created (its LastModified is before "
            "the job's CreatedAt): this spec's hash is of the very content the job read",
        )
    if written > created:
        return ManifestProof(
            Proof.REPLACED,
            "the manifest was replaced after the job was created (its LastModified is after "
            "the job's CreatedAt): the job read earlier content, perhaps other requests; this "
            "spec's hash is of the object there now, and running the spec again would read "
            "that, not what the job read",
        )
    return ManifestProof(
        Proof.UNKNOWN,
        "the manifest was written within a second of the job's creation: whether the job "
        "read the object there now cannot be told; this spec's hash is of that object",
    )


def unimportable(settings: JobSettings) -> str | None:
    """Why no spec can describe a job of these settings (a spec requires what a Start may
    leave out), or None."""
    if not settings.data_access_role_arn:
        return "Describe shows no DataAccessRoleArn"
    if not settings.input_s3_uri:
        return "Describe shows no input manifest"
    if not settings.output_s3_uri:
        return "Describe shows no output location"
    if not settings.kms_key_id:
        return (
            "its output has no KMS key of its own (OutputDataConfig.KmsKeyId), and a spec "
            "requires one (output.kmsKeyId): a spec would send another request"
        )
    if len(settings.watchlist_ids) > 1:
        return f"it names {len(settings.watchlist_ids)} watchlists; a spec names one"
    return None


def job_request(job: ObservedJob, settings: JobSettings) -> dict[str, Any]:
    """The request the job was started with, as :meth:`StartRequest.api_params` writes one
    (without ClientToken and JobName), Voice ID's defaults filled in."""
    params: dict[str, Any] = {
        "DomainId": job.domain_id,
        "DataAccessRoleArn": settings.data_access_role_arn,
        "InputDataConfig": {"S3Uri": settings.input_s3_uri},
        "OutputDataConfig": {"S3Uri": settings.output_s3_uri, "KmsKeyId": settings.kms_key_id},
    }
    kind = jobkinds.of(job.kind)
    # One id at most: Describe's reader holds to the service model's WatchlistIds (one id), and
    # a job naming more is not importable (unimportable).
    watchlist = settings.watchlist_ids[0] if settings.watchlist_ids else None
    params[kind.config_member] = kind.start_config(
        kind.config(own_settings(kind, settings), watchlist)
    )
    return params


def differences(request: StartRequest, job: ObservedJob, settings: JobSettings) -> list[str]:
    """The fields in which the request a spec resolves to differs from the job's (their
    paths, never their values): none when the spec sends exactly what the job was started
    with."""
    sent = request.api_params(client_token="", job_name="")
    del sent["ClientToken"], sent["JobName"]  # ours would always differ from whoever's started it
    if request.kind != job.kind.value:  # the other kind's fields would all differ: one is enough
        return ["kind"]
    mine, theirs = _flat(sent), _flat(job_request(job, settings))
    paths = mine.keys() | theirs.keys()
    return sorted(path for path in paths if mine.get(path) != theirs.get(path))


def _flat(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            out.update(_flat(item, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = item
    return out
