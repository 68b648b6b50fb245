"""What a batch job does when it ends: read the manifest, enroll or register, write the output.

``execute`` runs once per job, under the service lock, at the first observation of the job's
end. In order:

1. the output location: its bucket must exist, and its KMS key (if given) must be an enabled
   key in the sandbox's KMS, else the job FAILED (StatusCode 400);
2. the manifest (``InputDataConfig.S3Uri``) must be readable JSON with ``"Version": "1.0"``, a
   non-empty request list, every request an object with a unique ``RequestId`` (and a
   ``SpeakerId`` for enrollment) and ``AudioSpecifications`` objects each with ``S3Uri`` and
   ``ChannelId``; else FAILED (400). More requests than the per-job quota: FAILED (402);
3. each request is checked on its own; a failing one goes to the output's ``Errors``
   (``ErrorCode`` 400: SpeakerId pattern, 1..10 audio files, ChannelId 0 or 1, audio object
   missing or empty, fraud check failed; 402: speaker or fraudster limit reached);
4. the others enroll speakers (NEW_ENROLLMENT, or per ExistingEnrollmentAction SKIP ->
   DUPLICATE_SKIPPED / OVERWRITE -> ENROLLMENT_OVERWRITE) or register fraudsters
   (NEW_REGISTRATION, or DUPLICATE_SKIPPED when DuplicateRegistrationAction is SKIP and the
   watchlist holds a fraudster registered from the same set of audio URIs);
5. the output file goes to ``<OutputDataConfig.S3Uri>/<JobId>/<input file name>.out``, SSE-KMS
   encrypted with the output key when one is given. The job is COMPLETED_WITH_ERRORS when any
   request failed, else COMPLETED.

The fraud check of an enrollment is a deterministic stand-in for voice similarity: a speaker
whose audio includes an audio URI a fraudster of the checked watchlist was registered from has
risk score 100, anyone else 0.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.config import SandboxConfig
from reconciler.sandbox.model import matches_pattern
from reconciler.sandbox.state import Domain, Fraudster, Job, JobKind, Speaker
from reconciler.sandbox.storage import Storage, StorageError, parse_s3_uri

MANIFEST_VERSION = "1.0"
MAX_AUDIO_FILES = 10
_CUSTOMER_SPEAKER_ID = "^[a-zA-Z0-9][a-zA-Z0-9_-]*$"
_DEFAULT_RISK_THRESHOLD = 50


class JobFailure(Exception):
    """The whole job fails: becomes FailureDetails {StatusCode, Message}."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class RequestError(Exception):
    """One manifest request fails: becomes an entry of the output's Errors."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class ManifestRequest:
    """One request of a manifest, structurally valid."""

    request_id: str
    speaker_id: str | None
    audio: tuple[dict[str, Any], ...]


@dataclass
class JobContext:
    """What ``execute`` needs besides the job: where it runs and how to make ids."""

    domain: Domain
    storage: Storage
    config: SandboxConfig
    now: float
    next_seq: Callable[[], int]
    new_id: Callable[[], str]
    log_access: Callable[[str, str, str, str | None], None] = lambda *_: None
    """Logs an access made as the job's data access role: (role ARN, IAM action, s3:// URI,
    KMS key) — what ``tests/test_iam_enforced.py`` authorizes against the role's policy."""


def _as_role(job: Job, ctx: JobContext, action: str, uri: str, kms_key: str | None) -> None:
    ctx.log_access(str(job.request["DataAccessRoleArn"]), action, uri, kms_key)


def parse_manifest(raw: bytes, kind: JobKind, limit: int) -> list[ManifestRequest]:
    """The requests of a manifest; raise JobFailure when the file as a whole is unusable."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise JobFailure(400, "The input manifest is not valid JSON") from err
    if not isinstance(data, dict):
        raise JobFailure(400, "The input manifest must be a JSON object")
    if data.get("Version") != MANIFEST_VERSION:
        raise JobFailure(400, f"The input manifest Version must be {MANIFEST_VERSION!r}")
    items = data.get(kind.manifest_key)
    if not isinstance(items, list):
        raise JobFailure(400, f"The input manifest has no {kind.manifest_key} list")
    if not items:
        raise JobFailure(400, "The input manifest contains no requests")
    if len(items) > limit:
        raise JobFailure(
            402, f"The input manifest has {len(items)} requests; the quota is {limit} per job"
        )
    requests: list[ManifestRequest] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        requests.append(_parse_request(index, item, kind, seen))
    return requests


def _parse_request(index: int, item: Any, kind: JobKind, seen: set[str]) -> ManifestRequest:
    where = f"request #{index + 1}"
    if not isinstance(item, dict):
        raise JobFailure(400, f"The manifest's {where} is not a JSON object")
    request_id = item.get("RequestId")
    if not isinstance(request_id, str) or not request_id:
        raise JobFailure(400, f"The manifest's {where} has no RequestId")
    if request_id in seen:
        raise JobFailure(400, f"The manifest's {where} repeats a RequestId")
    seen.add(request_id)
    speaker_id = item.get("SpeakerId")
    if kind is JobKind.ENROLLMENT and not isinstance(speaker_id, str):
        raise JobFailure(400, f"The manifest's {where} has no SpeakerId")
    audio = item.get("AudioSpecifications")
    if not isinstance(audio, list):
        raise JobFailure(400, f"The manifest's {where} has no AudioSpecifications list")
    for spec in audio:
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("S3Uri"), str)
            or ("ChannelId" not in spec)
        ):
            raise JobFailure(
                400, f"The manifest's {where} has an audio specification without S3Uri or ChannelId"
            )
    return ManifestRequest(
        request_id=request_id,
        speaker_id=speaker_id if isinstance(speaker_id, str) else None,
        audio=tuple(audio),
    )


def output_file_uri(job: Job) -> str:
    """``<OutputDataConfig.S3Uri>/<JobId>/<input file name>.out``."""
    base = job.request["OutputDataConfig"]["S3Uri"].rstrip("/")
    input_name = posixpath.basename(job.request["InputDataConfig"]["S3Uri"].rstrip("/"))
    return f"{base}/{job.job_id}/{input_name}.out"


def _check_output(job: Job, ctx: JobContext) -> str | None:
    output = job.request["OutputDataConfig"]
    try:
        bucket, _ = parse_s3_uri(output["S3Uri"])
    except StorageError as err:
        raise JobFailure(400, "The output S3 location is not valid") from err
    if not ctx.storage.bucket_exists(bucket):
        raise JobFailure(400, "The output S3 location is not accessible: its bucket does not exist")
    kms_key_id: str | None = output.get("KmsKeyId")
    if kms_key_id:
        if not ctx.storage.kms_key_usable(kms_key_id):
            raise JobFailure(400, "The output KMS key does not exist or is not enabled")
    elif ctx.config.require_output_kms_key:
        raise JobFailure(400, "OutputDataConfig.KmsKeyId is required to encrypt the output")
    return kms_key_id


def _check_request(req: ManifestRequest, kind: JobKind, sizes: dict[str, int | None]) -> None:
    if kind is JobKind.ENROLLMENT:
        speaker_id = req.speaker_id or ""
        if not 1 <= len(speaker_id) <= 256 or not matches_pattern(_CUSTOMER_SPEAKER_ID, speaker_id):
            raise RequestError(
                400,
                "The SpeakerId does not match the pattern "
                f"{_CUSTOMER_SPEAKER_ID} (1-256 characters)",
            )
    if not 1 <= len(req.audio) <= MAX_AUDIO_FILES:
        raise RequestError(
            400, f"A request needs 1 to {MAX_AUDIO_FILES} audio files, got {len(req.audio)}"
        )
    for spec in req.audio:
        channel = spec["ChannelId"]
        if isinstance(channel, bool) or channel not in (0, 1):
            raise RequestError(400, "ChannelId must be 0 or 1")
    for spec in req.audio:
        size = sizes.get(spec["S3Uri"])
        if size is None:
            raise RequestError(400, "An audio file does not exist or is not accessible")
        if size == 0:
            raise RequestError(400, "Not enough net speech in the audio")


def _watchlist_id(job: Job, domain: Domain) -> str:
    config = job.request.get(job.kind.config_member) or {}
    if job.kind is JobKind.ENROLLMENT:
        config = config.get("FraudDetectionConfig") or {}
    ids = config.get("WatchlistIds") or [domain.default_watchlist_id]
    return str(ids[0])


def _risk_score(audio: frozenset[str], watchlist_id: str, domain: Domain) -> int:
    for fraudster in domain.fraudsters.values():
        if watchlist_id in fraudster.watchlist_ids and fraudster.audio & audio:
            return 100
    return 0


def _enroll(req: ManifestRequest, job: Job, ctx: JobContext) -> dict[str, Any]:
    domain = ctx.domain
    config = job.request.get("EnrollmentConfig") or {}
    audio = frozenset(spec["S3Uri"] for spec in req.audio)
    fraud = config.get("FraudDetectionConfig") or {}
    if fraud.get("FraudDetectionAction", "FAIL") == "FAIL":
        risk = _risk_score(audio, _watchlist_id(job, domain), domain)
        threshold = fraud.get("RiskThreshold", _DEFAULT_RISK_THRESHOLD)
        if risk > 0 and risk >= threshold:
            raise RequestError(
                400,
                f"The fraud check failed: risk score {risk} is at or above "
                f"the threshold {threshold}",
            )
    assert req.speaker_id is not None
    existing_id = domain.speakers_by_customer_id.get(req.speaker_id)
    if existing_id is not None:
        speaker = domain.speakers[existing_id]
        if config.get("ExistingEnrollmentAction", "SKIP") == "SKIP":
            status = "DUPLICATE_SKIPPED"
        else:
            status = "ENROLLMENT_OVERWRITE"
            speaker.updated_at = ctx.now
            speaker.audio = audio
            speaker.status = "ENROLLED"
    else:
        if len(domain.speakers) >= ctx.config.max_speakers_per_domain:
            raise RequestError(402, "The domain has reached its speaker limit")
        speaker = Speaker(
            generated_id=f"id#{ctx.new_id()}",
            customer_id=req.speaker_id,
            domain_id=domain.domain_id,
            created_at=ctx.now,
            updated_at=ctx.now,
            seq=ctx.next_seq(),
            audio=audio,
        )
        domain.speakers[speaker.generated_id] = speaker
        domain.speakers_by_customer_id[speaker.customer_id] = speaker.generated_id
        status = "NEW_ENROLLMENT"
    return {
        "RequestId": req.request_id,
        "GeneratedSpeakerId": speaker.generated_id,
        "CustomerSpeakerId": speaker.customer_id,
        "EnrollmentStatus": status,
    }


def _register(req: ManifestRequest, job: Job, ctx: JobContext) -> dict[str, Any]:
    domain = ctx.domain
    config = job.request.get("RegistrationConfig") or {}
    watchlist_id = _watchlist_id(job, domain)
    audio = frozenset(spec["S3Uri"] for spec in req.audio)
    members = [f for f in domain.fraudsters.values() if watchlist_id in f.watchlist_ids]
    duplicate = next((f for f in members if f.audio == audio), None)
    score = 100 if duplicate is not None else 0
    if duplicate is not None and config.get("DuplicateRegistrationAction", "SKIP") == "SKIP":
        return {
            "RequestId": req.request_id,
            "GeneratedFraudsterId": duplicate.generated_id,
            "RegistrationStatus": "DUPLICATE_SKIPPED",
            "FraudsterSimilarityScore": score,
        }
    if len(members) >= ctx.config.max_fraudsters_per_watchlist:
        raise RequestError(402, "The watchlist has reached its fraudster limit")
    fraudster = Fraudster(
        generated_id=f"id#{ctx.new_id()}",
        domain_id=domain.domain_id,
        created_at=ctx.now,
        seq=ctx.next_seq(),
        watchlist_ids={watchlist_id},
        audio=audio,
    )
    domain.fraudsters[fraudster.generated_id] = fraudster
    return {
        "RequestId": req.request_id,
        "GeneratedFraudsterId": fraudster.generated_id,
        "RegistrationStatus": "NEW_REGISTRATION",
        "FraudsterSimilarityScore": score,
    }


def _run(job: Job, ctx: JobContext) -> dict[str, Any]:
    kms_key_id = _check_output(job, ctx)
    manifest = job.request["InputDataConfig"]["S3Uri"]
    try:
        raw, manifest_key = ctx.storage.read_object(manifest)
    except StorageError as err:
        _as_role(job, ctx, "s3:GetObject", manifest, None)
        raise JobFailure(400, "The input manifest could not be read from S3") from err
    _as_role(job, ctx, "s3:GetObject", manifest, manifest_key)
    limit = getattr(ctx.config, job.kind.max_requests_knob)
    requests = parse_manifest(raw, job.kind, limit)
    audio = {
        spec["S3Uri"] for req in requests for spec in req.audio if isinstance(spec["S3Uri"], str)
    }
    for uri in sorted(audio):  # a job reads every audio file its manifest names
        _as_role(job, ctx, "s3:GetObject", uri, None)
    sizes = ctx.storage.object_sizes(audio)
    errors: list[dict[str, Any]] = []
    successes: list[dict[str, Any]] = []
    for req in requests:
        try:
            _check_request(req, job.kind, sizes)
            handler = _enroll if job.kind is JobKind.ENROLLMENT else _register
            successes.append(handler(req, job, ctx))
        except RequestError as err:
            errors.append(
                {
                    "RequestId": req.request_id,
                    "ErrorCode": err.error_code,
                    "ErrorMessage": err.message,
                }
            )
    success_key = (
        "SuccessfulEnrollments" if job.kind is JobKind.ENROLLMENT else "SuccessfulRegistrations"
    )
    output = {"Version": MANIFEST_VERSION, "Errors": errors, success_key: successes}
    uri = output_file_uri(job)
    _as_role(job, ctx, "s3:PutObject", uri, kms_key_id)
    try:
        ctx.storage.put_object(uri, json.dumps(output, indent=2).encode(), kms_key_id)
    except StorageError as err:
        raise JobFailure(400, "The output file could not be written") from err
    job.output_uri = uri
    return output


def execute(job: Job, ctx: JobContext) -> None:
    """Run ``job``'s work and record its final status (and FailureDetails) on it."""
    try:
        output = _run(job, ctx)
    except JobFailure as failure:
        job.final_status = "FAILED"
        job.failure = {"StatusCode": failure.status_code, "Message": failure.message}
        return
    job.final_status = "COMPLETED_WITH_ERRORS" if output["Errors"] else "COMPLETED"
