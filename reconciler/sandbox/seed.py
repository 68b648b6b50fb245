"""Seeding: the demo world, and a world of your own (``world.World``).

``seed_demo_world`` creates, or finds when it already exists, a KMS key with an alias, a bucket
holding a few short 8 kHz PCM-16 WAV recordings under ``audio/``, and an ACTIVE Voice ID
domain (with its default watchlist) encrypted with that key.

``seed_world`` creates what a world file declares, in this order: its knobs; its KMS keys
(found by their first alias, else created, then the aliases that are missing added, and the
key disabled or enabled as asked); its buckets; its recordings, objects and manifests
(written, replacing what is there); its domains (found by name, else created), their
watchlists (found by name, else created), their jobs (found by kind and name, else added, in
the order they were created) and last their status. So seeding is additive and seeding the same
world twice changes nothing; nothing is ever deleted. A problem the world's checks could not
see (a quota of the sandbox: domains, watchlists, running jobs) stops the seeding with a
:class:`~reconciler.sandbox.world.WorldError` at the element's path.

Both go through the sandbox's S3/KMS clients and the emulator directly, so seeding is neither
counted nor throttled.
"""

from __future__ import annotations

import contextlib
import io
import math
import struct
import wave
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from reconciler.sandbox.errors import VoiceIdError
from reconciler.sandbox.service import VoiceIdService
from reconciler.sandbox.state import JobKind
from reconciler.sandbox.storage import Storage
from reconciler.sandbox.world import (
    DEFAULT_ROLE_NAME,
    KmsKey,
    Problem,
    SeededJob,
    Where,
    World,
    WorldDomain,
    WorldError,
)

DEMO_DOMAIN_NAME = "voiceid-sandbox-demo"
DEMO_KMS_ALIAS = "alias/voiceid-sandbox-demo"
DEMO_ROLE_NAME = DEFAULT_ROLE_NAME
DEMO_AUDIO_COUNT = 6
_SAMPLE_RATE = 8000


@dataclass(frozen=True)
class DemoWorld:
    """What ``seed_demo_world`` created."""

    domain_name: str
    domain_id: str
    default_watchlist_id: str
    bucket: str
    kms_key_id: str
    kms_key_arn: str
    kms_alias: str
    role_arn: str
    audio_uris: tuple[str, ...]
    output_prefix: str

    def to_dict(self) -> dict[str, Any]:
        """The world as JSON-ready values."""
        data = asdict(self)
        data["audio_uris"] = list(self.audio_uris)
        return data


def wav_bytes(seconds: float = 0.25, frequency: float = 440.0) -> bytes:
    """A mono 8 kHz PCM-16 WAV tone (Voice ID's audio format)."""
    frames = int(_SAMPLE_RATE * seconds)
    samples = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * i / _SAMPLE_RATE)))
        for i in range(frames)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(_SAMPLE_RATE)
        out.writeframes(samples)
    return buffer.getvalue()


def _ensure_key(storage: Storage) -> dict[str, Any]:
    try:
        metadata: dict[str, Any] = storage.kms.describe_key(KeyId=DEMO_KMS_ALIAS)["KeyMetadata"]
    except ClientError:
        metadata = storage.kms.create_key(Description="Voice ID sandbox demo key")["KeyMetadata"]
        storage.kms.create_alias(AliasName=DEMO_KMS_ALIAS, TargetKeyId=metadata["KeyId"])
    return metadata


def _find_domain(service: VoiceIdService, name: str = DEMO_DOMAIN_NAME) -> dict[str, Any] | None:
    params: dict[str, Any] = {"MaxResults": 10}
    while True:
        page = service.invoke("ListDomains", params)
        for domain in page.get("DomainSummaries", []):
            if domain["Name"] == name:
                return dict(domain)
        if not page.get("NextToken"):
            return None
        params["NextToken"] = page["NextToken"]


def seed_demo_world(service: VoiceIdService, storage: Storage) -> DemoWorld:
    """Create or find the demo KMS key, bucket, audio objects and domain."""
    key = _ensure_key(storage)
    bucket = f"voiceid-sandbox-demo-{service.account_id}"
    if not storage.bucket_exists(bucket):
        storage.s3.create_bucket(Bucket=bucket)
    audio_uris = []
    for index in range(1, DEMO_AUDIO_COUNT + 1):
        audio_key = f"audio/caller-{index:02d}.wav"
        storage.s3.put_object(
            Bucket=bucket,
            Key=audio_key,
            Body=wav_bytes(frequency=220.0 * index),
            ContentType="audio/wav",
        )
        audio_uris.append(f"s3://{bucket}/{audio_key}")
    domain = _find_domain(service)
    if domain is None:
        domain = service.invoke(
            "CreateDomain",
            {
                "Name": DEMO_DOMAIN_NAME,
                "Description": "Voice ID sandbox demo domain",
                "ServerSideEncryptionConfiguration": {"KmsKeyId": key["Arn"]},
            },
        )["Domain"]
    return DemoWorld(
        domain_name=DEMO_DOMAIN_NAME,
        domain_id=domain["DomainId"],
        default_watchlist_id=domain["WatchlistDetails"]["DefaultWatchlistId"],
        bucket=bucket,
        kms_key_id=key["KeyId"],
        kms_key_arn=key["Arn"],
        kms_alias=DEMO_KMS_ALIAS,
        role_arn=f"arn:aws:iam::{service.account_id}:role/{DEMO_ROLE_NAME}",
        audio_uris=tuple(audio_uris),
        output_prefix=f"s3://{bucket}/output/",
    )


# --- a world of your own ------------------------------------------------------------------------


def seed_world(world: World, service: VoiceIdService, storage: Storage) -> dict[str, Any]:
    """Create what ``world`` declares (see the module docstring); describe what is there:
    ``{"knobs", "kmsKeys": [{"aliases", "keyId", "arn", "enabled"}], "buckets", "objects"
    (how many were written), "domains": [{"name", "domainId", "status", "watchlists":
    {name: id}, "jobs": [{"kind", "name", "jobId", "status"}]}]}``."""
    if world.knobs:
        service.configure(**world.knobs)
    keys = [_seed_key(storage, key) for key in world.kms_keys]
    arns = {alias: described["arn"] for described in keys for alias in described["aliases"]}
    for where, bucket in world.buckets:
        with _at(where):
            if not storage.bucket_exists(bucket):
                storage.s3.create_bucket(Bucket=bucket)
    for index, item in enumerate(world.objects):
        with _at(item.where):
            body = item.body if item.body is not None else wav_bytes(frequency=200.0 + 15 * index)
            storage.s3.put_object(
                Bucket=item.bucket, Key=item.key, Body=body, ContentType=item.content_type
            )
    domains = [_seed_domain(service, domain, arns[domain.kms_alias]) for domain in world.domains]
    return {
        "knobs": dict(world.knobs),
        "kmsKeys": keys,
        "buckets": [bucket for _, bucket in world.buckets],
        "objects": len(world.objects),
        "domains": domains,
    }


@contextlib.contextmanager
def _at(where: Where) -> Iterator[None]:
    """Turn what goes wrong while an element is seeded into a WorldError at its path."""
    try:
        yield
    except VoiceIdError as err:
        raise WorldError([Problem(where, f"{err.code}: {err.message}")]) from err
    except ClientError as err:
        error = err.response.get("Error", {})
        message = f"{error.get('Code', 'error')}: {error.get('Message', err)}"
        raise WorldError([Problem(where, message)]) from err


def _key_metadata(storage: Storage, alias: str) -> dict[str, Any] | None:
    try:
        metadata: dict[str, Any] = storage.kms.describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError:
        return None
    return metadata


def _seed_key(storage: Storage, key: KmsKey) -> dict[str, Any]:
    with _at(key.where):
        metadata = _key_metadata(storage, key.aliases[0])
        if metadata is None:
            metadata = storage.kms.create_key(
                Description=key.description or "A key of the Voice ID sandbox world"
            )["KeyMetadata"]
        for n, alias in enumerate(key.aliases):
            found = _key_metadata(storage, alias)
            if found is None:
                storage.kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
            elif found["KeyId"] != metadata["KeyId"]:
                raise WorldError(
                    [Problem((*key.where, "aliases", n), f"{alias} names another key already")]
                )
        if key.enabled and not metadata.get("Enabled", True):
            storage.kms.enable_key(KeyId=metadata["KeyId"])
        elif not key.enabled and metadata.get("Enabled", True):
            storage.kms.disable_key(KeyId=metadata["KeyId"])
    return {
        "aliases": list(key.aliases),
        "keyId": metadata["KeyId"],
        "arn": metadata["Arn"],
        "enabled": key.enabled,
    }


def _seed_domain(service: VoiceIdService, domain: WorldDomain, key_arn: str) -> dict[str, Any]:
    with _at(domain.where):
        found = _find_domain(service, domain.name)
        if found is None:
            params: dict[str, Any] = {
                "Name": domain.name,
                "ServerSideEncryptionConfiguration": {"KmsKeyId": key_arn},
            }
            if domain.description:
                params["Description"] = domain.description
            found = service.invoke("CreateDomain", params)["Domain"]
        domain_id: str = found["DomainId"]
        # Watchlists are made in an ACTIVE domain; its status is set last.
        service.set_domain_status(domain_id, "ACTIVE")
    watchlists = _seed_watchlists(service, domain, domain_id)
    jobs = [
        _seed_job(service, domain_id, job, service.account_id)
        for job in sorted(domain.jobs, key=lambda job: job.created_at)
    ]
    service.set_domain_status(domain_id, domain.status)
    return {
        "name": domain.name,
        "domainId": domain_id,
        "status": domain.status,
        "watchlists": watchlists,
        "jobs": jobs,
    }


def _seed_watchlists(
    service: VoiceIdService, domain: WorldDomain, domain_id: str
) -> dict[str, str]:
    existing: dict[str, str] = {}
    params: dict[str, Any] = {"DomainId": domain_id}
    while True:
        page = service.invoke("ListWatchlists", params)
        existing.update({w["Name"]: w["WatchlistId"] for w in page.get("WatchlistSummaries", [])})
        if not page.get("NextToken"):
            break
        params["NextToken"] = page["NextToken"]
    for where, name in domain.watchlists:
        if name not in existing:
            with _at(where):
                created = service.invoke("CreateWatchlist", {"DomainId": domain_id, "Name": name})
            existing[name] = created["Watchlist"]["WatchlistId"]
    return existing


def _seed_job(
    service: VoiceIdService, domain_id: str, job: SeededJob, account_id: str
) -> dict[str, Any]:
    output: dict[str, Any] = {"S3Uri": job.output}
    if job.kms_key:
        output["KmsKeyId"] = job.kms_key
    request = {
        "DomainId": domain_id,
        "JobName": job.name,
        "DataAccessRoleArn": job.role_arn or f"arn:aws:iam::{account_id}:role/{DEFAULT_ROLE_NAME}",
        "InputDataConfig": {"S3Uri": job.manifest},
        "OutputDataConfig": output,
    }
    with _at(job.where):
        summary, _ = service.seed_job(
            domain_id,
            JobKind(job.kind),
            request,
            created_at=job.created_at,
            ended_at=job.ended_at,
            final_status=job.status,
            failure=job.failure,
            outcome=job.outcome,
        )
    return {
        "kind": f"{job.kind}Job",
        "name": job.name,
        "jobId": summary["JobId"],
        "status": summary["JobStatus"],
    }
