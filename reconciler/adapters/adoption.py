"""What ``import`` reads of the world beyond what a run reads: the settings a job was started
with (its Describe answer), and whether a manifest object is there and when it was written.

* :class:`SettingsReader` — a run reads of a Describe answer only what it acts on (status,
  times, failure, input and output URIs: :class:`~reconciler.adapters.shapes.JobDetails`), and
  the Voice ID adapter hands botocore an empty body to parse. An import also needs the role,
  the output's KMS key and the enrollment or registration configuration. This reader takes
  them from the same answer, through a ``before-parse`` hook registered *first* on the Voice
  ID adapter's client: the call is the adapter's own — its rate limit, retries, error
  translation and the check of the job's shape — and the members read here are checked
  against the ``voice-id`` service model's shapes in the same strict way (types, enums,
  ranges, patterns; an answer too large is left to the adapter, which refuses it). When
  :class:`~reconciler.adapters.shapes.JobDetails` and
  :class:`~reconciler.adapters.voiceid.VoiceId` carry these members, this class becomes a call
  of the adapter's.
* :class:`ObjectHeads` — one HeadObject per manifest: FOUND with its ``LastModified``, GONE
  (404), or UNREADABLE (any other answer: a 403 may hide a missing object, so nothing is
  concluded from it).

No speaker id or audio location is read: a manifest is a URI and a time, never its content.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import botocore.exceptions
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from reconciler.adapters.aws import S3_ERRORS, error_code
from reconciler.adapters.shapes import MAX_ANSWER_BYTES, Id22, S3UriText, Score, explain
from reconciler.core import jobkinds, s3uri
from reconciler.core.errors import VoiceIdError
from reconciler.core.foreignjob import JobSettings, ManifestHead, ObjectState, described
from reconciler.core.jobkinds.base import KindDef
from reconciler.core.jobs import ObservedJob
from reconciler.core.kinds import JobKind

if TYPE_CHECKING:
    from reconciler.adapters.voiceid import VoiceId

_HOOK = "VoiceIdReconcilerSettings"
MALFORMED = "MalformedAnswer"
# A HEAD's 404 has no body, so botocore names it '404' or 'NotFound'; a bucket that is gone
# takes its objects with it. A 403 is not here: without s3:ListBucket S3 answers 403 for a
# missing object too, so it proves nothing.
_GONE = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})

_STRICT = ConfigDict(extra="ignore", frozen=True, strict=True)
RoleArn = Annotated[
    str,
    StringConstraints(
        min_length=20, max_length=2048, pattern=r"^arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+$"
    ),
]
KmsKey = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
# The service model's WatchlistIds: a list that holds exactly one id.
OneWatchlist = Annotated[list[Id22], Field(min_length=1, max_length=1)]


class _FraudDetection(BaseModel):
    model_config = _STRICT
    FraudDetectionAction: Literal["IGNORE", "FAIL"] | None = None
    RiskThreshold: Score | None = None
    WatchlistIds: OneWatchlist | None = None


class _Enrollment(BaseModel):
    model_config = _STRICT
    ExistingEnrollmentAction: Literal["SKIP", "OVERWRITE"] | None = None
    FraudDetectionConfig: _FraudDetection | None = None


class _Registration(BaseModel):
    model_config = _STRICT
    DuplicateRegistrationAction: Literal["SKIP", "REGISTER_AS_NEW"] | None = None
    FraudsterSimilarityThreshold: Score | None = None
    WatchlistIds: OneWatchlist | None = None


class _Input(BaseModel):
    model_config = _STRICT
    S3Uri: S3UriText


class _Output(BaseModel):
    model_config = _STRICT
    S3Uri: S3UriText
    KmsKeyId: KmsKey | None = None


class _Settings(BaseModel):
    """The members of a ``SpeakerEnrollmentJob`` / ``FraudsterRegistrationJob`` that say
    what it was started with."""

    model_config = _STRICT
    JobId: Id22
    DataAccessRoleArn: RoleArn | None = None
    InputDataConfig: _Input | None = None
    OutputDataConfig: _Output | None = None
    EnrollmentConfig: _Enrollment | None = None
    RegistrationConfig: _Registration | None = None


class _Answer(BaseModel):
    model_config = _STRICT
    Job: _Settings


class SettingsReader:
    """Describe a job with the settings it was started with (see the module)."""

    def __init__(self, voiceid: VoiceId) -> None:
        self.voiceid = voiceid
        # A hook can hand what it read only to the thread it ran on: a value per thread keeps
        # two Describes made at once apart.
        self._local = threading.local()
        events = voiceid.client.meta.events
        for operation in (k.describe_operation for k in jobkinds.KINDS.values()):
            # First: the Voice ID adapter's own hook then reads the answer and empties it.
            events.register_first(
                f"before-parse.voice-id.{operation}", self._read, unique_id=_HOOK + operation
            )

    def describe_settings(
        self, kind: JobKind, domain_id: str, job_id: str
    ) -> tuple[ObservedJob, JobSettings]:
        """The job (as the Voice ID adapter describes it) and its settings."""
        # Cleared before the call: what the hook kept of an earlier job must never be taken for
        # this one (the JobId is compared below as well).
        self._local.read = None
        job = self.voiceid.describe_job(kind, domain_id, job_id)
        read: tuple[str, _Settings] | str | None = self._local.read
        definition = jobkinds.of(kind)
        operation = definition.describe_operation
        if isinstance(read, str):
            raise VoiceIdError(f"{operation}: {read}", code=MALFORMED)
        if read is None or read[0] != job.job_id:
            raise VoiceIdError(
                f"{operation}: the answer's settings were not read (a client without the hook?)",
                code=MALFORMED,
            )
        return job, _settings(read[1], definition)

    def _read(self, response_dict: dict[str, Any], **_: Any) -> None:
        """The ``before-parse`` hook: the answer's settings, or why they are malformed, kept
        for the thread that made the call (the last attempt's, when it was retried)."""
        # An error answer is the adapter's to translate; the hook reads only answers of a job.
        if not 200 <= int(response_dict.get("status_code") or 0) < 300:
            return
        body = response_dict.get("body") or b""
        if not isinstance(body, bytes) or len(body) > MAX_ANSWER_BYTES:
            return  # the adapter refuses it (and raises before this is asked for)
        try:
            job = _Answer.model_validate_json(body).Job
        except ValidationError as err:
            self._local.read = explain(err)
            return
        self._local.read = (job.JobId, job)


def _settings(job: _Settings, kind: KindDef) -> JobSettings:
    """The job's settings: the members every kind has, and the kind's own configuration (its
    Start parameter's member, checked above against the service model) read as its KindDef
    says (:func:`~reconciler.core.foreignjob.described`)."""
    config = getattr(job, kind.config_member, None)  # a kind this model lacks: none shown
    own, watchlists = described(kind, None if config is None else config.model_dump())
    return JobSettings(
        data_access_role_arn=job.DataAccessRoleArn,
        input_s3_uri=job.InputDataConfig.S3Uri if job.InputDataConfig else None,
        output_s3_uri=job.OutputDataConfig.S3Uri if job.OutputDataConfig else None,
        kms_key_id=job.OutputDataConfig.KmsKeyId if job.OutputDataConfig else None,
        own=own,
        watchlist_ids=watchlists,
    )


class ObjectHeads:
    """Whether each manifest object is there, and when it was written (HeadObject)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: Counter[str] = Counter()

    def heads(self, uris: Iterable[str]) -> dict[str, ManifestHead]:
        found: dict[str, ManifestHead] = {}
        for uri in sorted(set(uris)):
            bucket, key = s3uri.split(uri)
            self.calls["HeadObject"] += 1
            try:
                response = self.client.head_object(Bucket=bucket, Key=key)
            except S3_ERRORS as err:
                code = error_code(err)
                if isinstance(err, botocore.exceptions.ClientError) and code in _GONE:
                    found[uri] = ManifestHead(ObjectState.GONE, code=code)
                else:
                    found[uri] = ManifestHead(ObjectState.UNREADABLE, code=code)
                continue
            modified = response.get("LastModified")
            found[uri] = ManifestHead(
                ObjectState.FOUND,
                last_modified=modified.timestamp() if isinstance(modified, datetime) else None,
                # Unquoted, as the manifests' adapter keeps an ETag: the two are compared when
                # the hash is proven.
                etag=str(response.get("ETag") or "").strip('"') or None,
            )
        return found
