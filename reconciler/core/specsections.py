"""The sections every kind's spec document shares, and the field types they are made of.

Its ``metadata``, the parts of ``spec`` every kind has (domain, role, output, ``dependsOn``,
the manifest-or-roster input), the roster entries, and the field types (the Voice ID model's
constraints). Strict and frozen (``extra="forbid"``). Each kind's own sections (its input's
roster, its settings) and its document model are its module's
(:mod:`reconciler.core.jobkinds`), made of these; :mod:`reconciler.core.spec` asks the
registry for them.
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


RosterPath: TypeAlias = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class RosterInput(StrictModel):
    """The ``input`` of a kind: an existing manifest, or a roster (inline or a file) rendered
    into one. A kind's input names its roster's members in ``_sources``."""

    manifest: S3Uri | None = Field(default=None, description="An existing manifest in S3.")
    staging_uri: S3Prefix | None = Field(
        default=None, description="Where the rendered manifest of a roster is uploaded."
    )

    _sources: ClassVar[tuple[str, str, str]]
    """The inline roster's field, the roster file's field and that one's alias."""

    @classmethod
    def roster_members(cls) -> tuple[str, str]:
        """The inline roster's member and the roster file's, as a document names them
        (``speakers``, ``speakersFile``): what the kind's definition reads a dump by."""
        inline, _, file_alias = cls._sources
        return inline, file_alias

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


class Output(StrictModel):
    """Where Voice ID writes the job's output file, and the KMS key it encrypts it with."""

    s3_uri: S3Prefix
    kms_key_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="Required: the Voice ID guide says the output must be encrypted."
    )


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


class JobSpec(StrictModel):
    """What the ``spec`` of every kind holds; a kind's own adds its ``input`` and settings."""

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


class Document(StrictModel):
    """A spec document of any kind; each kind's module makes its own (its ``kind`` a literal,
    its ``spec`` its own model), registered with the kind."""

    api_version: Literal["voiceid-reconciler/v1"]
    metadata: Metadata
    kind: str
    spec: JobSpec
