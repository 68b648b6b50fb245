"""Fraudster registration: a batch of recordings registered as fraudsters in a watchlist."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.jobkinds.base import KindDef
from reconciler.core.kinds import JobKind


def _start_config(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    registration: dict[str, Any] = {
        "DuplicateRegistrationAction": config["duplicateRegistrationAction"]
    }
    if config["fraudsterSimilarityThreshold"] is not None:
        registration["FraudsterSimilarityThreshold"] = config["fraudsterSimilarityThreshold"]
    if config["watchlistId"] is not None:
        registration["WatchlistIds"] = [config["watchlistId"]]
    return "RegistrationConfig", registration


def _risk_notes(config: Mapping[str, Any]) -> tuple[str, ...]:
    if config.get("duplicateRegistrationAction") == "REGISTER_AS_NEW":
        return ("duplicateRegistrationAction REGISTER_AS_NEW: duplicates become new fraudsters",)
    return ()


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
    start_config=_start_config,
    risk_notes=_risk_notes,
)
