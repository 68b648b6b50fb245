"""Speaker enrollment: a batch of callers enrolled by their speaker ids and recordings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.jobkinds.base import KindDef
from reconciler.core.kinds import JobKind


def _start_config(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    fraud = config["fraudDetection"]
    fraud_config: dict[str, Any] = {"FraudDetectionAction": fraud["action"]}
    if fraud["riskThreshold"] is not None:
        fraud_config["RiskThreshold"] = fraud["riskThreshold"]
    if fraud["watchlistId"] is not None:
        fraud_config["WatchlistIds"] = [fraud["watchlistId"]]
    return "EnrollmentConfig", {
        "ExistingEnrollmentAction": config["existingEnrollmentAction"],
        "FraudDetectionConfig": fraud_config,
    }


def _risk_notes(config: Mapping[str, Any]) -> tuple[str, ...]:
    notes = []
    if config.get("existingEnrollmentAction") == "OVERWRITE":
        notes.append("existingEnrollmentAction OVERWRITE: re-enrolls speakers already enrolled")
    fraud = config.get("fraudDetection")
    if isinstance(fraud, Mapping) and fraud.get("action") == "IGNORE":
        notes.append("fraud detection IGNORE: enrolls callers even when they match a fraudster")
    return tuple(notes)


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
    start_config=_start_config,
    risk_notes=_risk_notes,
)
