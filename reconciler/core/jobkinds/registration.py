"""Fraudster registration: a batch of recordings registered as fraudsters in a watchlist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field

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
    Fraudster,
    JobSpec,
    RosterInput,
    RosterPath,
    Score,
    StrictModel,
    VoiceIdName,
)

# --- the spec section -------------------------------------------------------------------------


class RegistrationInput(RosterInput):
    """Where the registration requests come from: exactly one of the three sources."""

    fraudsters: Annotated[list[Fraudster], Field(min_length=1)] | None = None
    fraudsters_file: RosterPath | None = Field(
        default=None, description="A CSV or YAML roster next to the spec (relative path)."
    )
    _sources = ("fraudsters", "fraudsters_file", "fraudstersFile")


class Registration(StrictModel):
    """RegistrationConfig of StartFraudsterRegistrationJob; every field optional."""

    duplicate_registration_action: Literal["SKIP", "REGISTER_AS_NEW"] = "SKIP"
    fraudster_similarity_threshold: Score | None = None
    watchlist: VoiceIdName | None = None


class RegistrationSpec(JobSpec):
    """The ``spec`` of a FraudsterRegistrationJob."""

    input: RegistrationInput
    registration: Registration = Field(default_factory=Registration)


class FraudsterRegistrationJob(Document):
    """A fraudster registration batch job that should exist."""

    kind: Literal["FraudsterRegistrationJob"]
    spec: RegistrationSpec


# --- the Start request ------------------------------------------------------------------------


def _own_facts(spec: Mapping[str, Any]) -> OwnFacts:
    registration = spec["registration"]
    return OwnFacts(
        registration["watchlist"],
        (registration["duplicateRegistrationAction"], registration["fraudsterSimilarityThreshold"]),
    )


def _config(settings: Settings, watchlist_id: str | None) -> dict[str, Any]:
    duplicate, threshold = settings
    return {
        "duplicateRegistrationAction": duplicate,
        "fraudsterSimilarityThreshold": threshold,
        "watchlistId": watchlist_id,
    }


def _start_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "DuplicateRegistrationAction": config["duplicateRegistrationAction"],
        **given(
            FraudsterSimilarityThreshold=config["fraudsterSimilarityThreshold"],
            WatchlistIds=watchlist_ids(config["watchlistId"]),
        ),
    }


KIND = KindDef(
    kind=JobKind.REGISTRATION,
    section="registration",
    title="Fraudster registration",
    list_operation="ListFraudsterRegistrationJobs",
    describe_operation="DescribeFraudsterRegistrationJob",
    start_operation="StartFraudsterRegistrationJob",
    manifest_key="FraudsterRegistrationRequests",
    per_job=500,
    speaker_ids=False,
    document=FraudsterRegistrationJob,
    roster=RegistrationInput.roster_members(),
    own_facts=_own_facts,
    setting_types=((str,), (int, type(None))),
    config=_config,
    config_member="RegistrationConfig",
    start_config=_start_config,
    risks=(
        Risk(
            ("duplicateRegistrationAction",),
            "REGISTER_AS_NEW",
            "duplicateRegistrationAction REGISTER_AS_NEW: duplicates become new fraudsters",
        ),
    ),
    output_list="SuccessfulRegistrations",
    output_status="RegistrationStatus",
    # NEW_FRAUDSTER: what Voice ID's guide also calls a new registration.
    outcomes=frozenset({"NEW_REGISTRATION", "NEW_FRAUDSTER", "DUPLICATE_SKIPPED"}),
    fills_watchlists=True,
    described=(
        Described(("DuplicateRegistrationAction",), "SKIP"),
        Described(("FraudsterSimilarityThreshold",), None),
    ),
    described_watchlists=("WatchlistIds",),
)
