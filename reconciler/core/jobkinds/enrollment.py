"""Speaker enrollment: a batch of callers enrolled by their speaker ids and recordings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from reconciler.core.jobkinds.base import (
    Described,
    KindDef,
    OwnFacts,
    Risk,
    Settings,
    given,
    watchlist_ids,
)
from reconciler.core.kinds import JobKind
from reconciler.core.specsections import (
    Document,
    JobSpec,
    RosterInput,
    RosterPath,
    Score,
    Speaker,
    StrictModel,
    VoiceIdName,
)

# --- the spec section -------------------------------------------------------------------------


class EnrollmentInput(RosterInput):
    """Where the enrollment requests come from: exactly one of the three sources."""

    speakers: Annotated[list[Speaker], Field(min_length=1)] | None = None
    speakers_file: RosterPath | None = Field(
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


class EnrollmentSpec(JobSpec):
    """The ``spec`` of a SpeakerEnrollmentJob."""

    input: EnrollmentInput
    enrollment: Enrollment = Field(default_factory=Enrollment)


class SpeakerEnrollmentJob(Document):
    """A speaker enrollment batch job that should exist."""

    kind: Literal["SpeakerEnrollmentJob"]
    spec: EnrollmentSpec


# --- the Start request ------------------------------------------------------------------------


def _own_facts(spec: Mapping[str, Any]) -> OwnFacts:
    enrollment = spec["enrollment"]
    fraud = enrollment["fraudDetection"] or {}
    return OwnFacts(
        fraud.get("watchlist"),
        (
            enrollment["existingEnrollmentAction"],
            # Voice ID's own default written in: a spec that leaves the action out and one that
            # says FAIL start the same job, so they must have the same facts and the same hash.
            fraud.get("action", "FAIL"),
            fraud.get("riskThreshold"),
        ),
    )


def _config(settings: Settings, watchlist_id: str | None) -> dict[str, Any]:
    existing, action, risk = settings
    return {
        "existingEnrollmentAction": existing,
        "fraudDetection": {"action": action, "riskThreshold": risk, "watchlistId": watchlist_id},
    }


def _start_config(config: Mapping[str, Any]) -> dict[str, Any]:
    fraud = config["fraudDetection"]
    return {
        "ExistingEnrollmentAction": config["existingEnrollmentAction"],
        "FraudDetectionConfig": {
            "FraudDetectionAction": fraud["action"],
            **given(
                RiskThreshold=fraud["riskThreshold"],
                WatchlistIds=watchlist_ids(fraud["watchlistId"]),
            ),
        },
    }


KIND = KindDef(
    kind=JobKind.ENROLLMENT,
    section="enrollment",
    title="Speaker enrollment",
    list_operation="ListSpeakerEnrollmentJobs",
    describe_operation="DescribeSpeakerEnrollmentJob",
    start_operation="StartSpeakerEnrollmentJob",
    manifest_key="SpeakerEnrollmentRequests",
    per_job=10_000,
    speaker_ids=True,
    document=SpeakerEnrollmentJob,
    roster=EnrollmentInput.roster_members(),
    own_facts=_own_facts,
    setting_types=((str,), (str,), (int, type(None))),
    config=_config,
    config_member="EnrollmentConfig",
    start_config=_start_config,
    risks=(
        Risk(
            ("existingEnrollmentAction",),
            "OVERWRITE",
            "existingEnrollmentAction OVERWRITE: re-enrolls speakers already enrolled",
        ),
        Risk(
            ("fraudDetection", "action"),
            "IGNORE",
            "fraud detection IGNORE: enrolls callers even when they match a fraudster",
        ),
    ),
    output_list="SuccessfulEnrollments",
    output_status="EnrollmentStatus",
    outcomes=frozenset({"NEW_ENROLLMENT", "DUPLICATE_SKIPPED", "ENROLLMENT_OVERWRITE"}),
    described=(
        Described(("ExistingEnrollmentAction",), "SKIP"),
        Described(("FraudDetectionConfig", "FraudDetectionAction"), "FAIL"),
        Described(("FraudDetectionConfig", "RiskThreshold"), None),
    ),
    described_watchlists=("FraudDetectionConfig", "WatchlistIds"),
)
