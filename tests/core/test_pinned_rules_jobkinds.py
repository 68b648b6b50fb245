"""Rules of the job kinds' modules that the mutation run (python -m tools.mutate) showed
unpinned."""

from __future__ import annotations

from reconciler.core import jobkinds
from reconciler.core.kinds import JobKind


def test_each_kinds_requests_per_job_is_voice_ids_quota() -> None:
    """Voice ID takes at most 10,000 speakers in an enrollment job and 500 fraudsters in a
    registration job: a roster larger than that is chunked into parts."""
    assert jobkinds.of(JobKind.ENROLLMENT).per_job == 10_000
    assert jobkinds.of(JobKind.REGISTRATION).per_job == 500
