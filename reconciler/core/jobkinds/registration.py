"""Fraudster registration: a batch of recordings registered as fraudsters in a watchlist."""

from __future__ import annotations

from reconciler.core.jobkinds.base import KindDef
from reconciler.core.kinds import JobKind

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
)
