"""The demo world: what a fresh account needs before the reconciler can start jobs.

``seed_demo_world`` creates, or finds when it already exists, a KMS key with an alias, a bucket
holding a few short 8 kHz PCM-16 WAV recordings under ``audio/``, and an ACTIVE Voice ID
domain (with its default watchlist) encrypted with that key. It goes through the sandbox's
S3/KMS clients and the emulator directly, so seeding is neither counted nor throttled. Seeding
twice returns the same world.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from reconciler.sandbox.service import VoiceIdService
from reconciler.sandbox.storage import Storage

DEMO_DOMAIN_NAME = "voiceid-sandbox-demo"
DEMO_KMS_ALIAS = "alias/voiceid-sandbox-demo"
DEMO_ROLE_NAME = "VoiceIdBatchDataAccess"
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
    manifest_prefix: str
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


def _find_domain(service: VoiceIdService) -> dict[str, Any] | None:
    params: dict[str, Any] = {"MaxResults": 10}
    while True:
        page = service.invoke("ListDomains", params)
        for domain in page.get("DomainSummaries", []):
            if domain["Name"] == DEMO_DOMAIN_NAME:
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
        manifest_prefix=f"s3://{bucket}/manifests/",
        output_prefix=f"s3://{bucket}/output/",
    )
