"""The sections of a spec document, as pydantic models.

Its ``metadata``, each kind's ``spec`` (input, output, enrollment or registration settings,
``dependsOn``) and the field types they are made of (the Voice ID model's constraints). Strict
and frozen (``extra="forbid"``); the documents that hold them are
:mod:`reconciler.core.spec`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

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


class StrictModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        defer_build=True,  # built when first used: a run whose specs all come from the cache
    )  # never validates one


class Metadata(StrictModel):
    """Who the spec is: its name (unique per kind) and labels for ``--selector``."""

    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=63)] = Field(
        description="Unique per kind; lowercase letters, digits and '-'; at most 63 characters."
    )
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)


class AudioFile(StrictModel):
    """One audio file of a speaker, with the channel that holds the speaker's voice."""

    uri: S3Uri
    channel: Literal[0, 1] = 0


class Speaker(StrictModel):
    """One speaker of an inline roster. Speaker ids identify people: never logged."""

    speaker_id: VoiceIdName
    audio: Annotated[list[S3Uri | AudioFile], Field(min_length=1, max_length=MAX_AUDIO_PER_REQUEST)]


class Fraudster(StrictModel):
    """One fraudster of an inline roster: the audio of their voice."""

    audio: Annotated[list[S3Uri | AudioFile], Field(min_length=1, max_length=MAX_AUDIO_PER_REQUEST)]


_RosterPath: TypeAlias = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class _Input(StrictModel):
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


class Output(StrictModel):
    """Where Voice ID writes the job's output file, and the KMS key it encrypts it with."""

    s3_uri: S3Prefix
    kms_key_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="Required: the Voice ID guide says the output must be encrypted."
    )


class FraudDetection(StrictModel):
    """The fraud check run on each speaker before enrollment."""

    action: Literal["IGNORE", "FAIL"] = "FAIL"
    risk_threshold: Score | None = None
    watchlist: VoiceIdName | None = Field(
        default=None, description="Watchlist name or id; the domain's default when absent."
    )


class Enrollment(StrictModel):
    """EnrollmentConfig of StartSpeakerEnrollmentJob; every field optional."""

    existing_enrollment_action: Literal["SKIP", "OVERWRITE"] = "SKIP"
    fraud_detection: FraudDetection | None = None


class Registration(StrictModel):
    """RegistrationConfig of StartFraudsterRegistrationJob; every field optional."""

    duplicate_registration_action: Literal["SKIP", "REGISTER_AS_NEW"] = "SKIP"
    fraudster_similarity_threshold: Score | None = None
    watchlist: VoiceIdName | None = None


DEPENDENCY_PATTERN = (
    r"^(SpeakerEnrollmentJob|FraudsterRegistrationJob)/[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
)


class Dependency(StrictModel):
    """One spec this spec waits for, written ``{kind: ..., name: ...}``."""

    kind: Literal["SpeakerEnrollmentJob", "FraudsterRegistrationJob"]
    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=63)]


DependencyRef: TypeAlias = (
    Annotated[str, StringConstraints(pattern=DEPENDENCY_PATTERN, max_length=100)] | Dependency
)
"""A dependency: ``<Kind>/<name>`` (the short form) or ``{kind, name}``."""


class _JobSpec(StrictModel):
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
