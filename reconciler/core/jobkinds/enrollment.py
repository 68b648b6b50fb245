"""Speaker enrollment: a batch of callers enrolled by their speaker ids and recordings."""

from __future__ import annotations

from reconciler.core.jobkinds.base import KindDef
from reconciler.core.kinds import JobKind

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
)
