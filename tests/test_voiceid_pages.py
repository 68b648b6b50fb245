"""The job List pages are read without botocore's model walk: what the adapter makes of them
is exactly what it makes of botocore's own parse."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from reconciler.adapters.voiceid import VoiceId, _checked, _read_page
from reconciler.cli import main
from reconciler.core.errors import VoiceIdError
from reconciler.core.kinds import JobKind
from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs


def test_a_page_read_directly_gives_what_botocores_parse_gives(
    voiceid_env: Sandbox, tmp_path: Path
) -> None:
    world = build_world(voiceid_env, domains=1)
    write_specs(world, tmp_path / "specs", 4)
    voiceid_env.configure(max_active_jobs=4)
    argv = ["apply", str(tmp_path / "specs"), "--state", str(tmp_path / "s.json"), "--tps", "0"]
    assert main([*argv, "--wait", "--poll-interval", "0.05"]) == 0
    (domain_id,) = world.domains.values()
    fast = VoiceId(voiceid_env.client("voice-id"), tps=0)
    plain_client = voiceid_env.client("voice-id")
    plain = VoiceId(plain_client, tps=0)
    for operation in ("ListSpeakerEnrollmentJobs", "ListFraudsterRegistrationJobs"):
        plain_client.meta.events.unregister(f"before-parse.voice-id.{operation}", _read_page)
    raw = fast.client.list_speaker_enrollment_jobs(DomainId=domain_id)["JobSummaries"][0]
    parsed = plain_client.list_speaker_enrollment_jobs(DomainId=domain_id)["JobSummaries"][0]
    assert isinstance(raw["CreatedAt"], float)  # the page as JSON has it
    assert isinstance(parsed["CreatedAt"], datetime)  # botocore's parse
    for kind in JobKind:
        ours = list(fast.list_jobs(kind, domain_id))
        theirs = list(plain.list_jobs(kind, domain_id))
        assert ours == theirs
        assert len(ours) == 2
        assert all(job.created_at and job.ended_at for job in ours)
        # what ``keep`` wants of a listing is what the listing holds of it, in its order
        asked: list[tuple[str | None, str]] = []

        def keep(
            name: str | None, status: str, asked: list[tuple[str | None, str]] = asked
        ) -> bool:
            asked.append((name, status))
            return len(asked) % 2 == 1

        kept = list(fast.list_jobs(kind, domain_id, keep=keep))
        assert asked == [(job.job_name, job.status) for job in ours]
        assert kept == ours[::2]


def test_a_malformed_job_of_a_listing_is_refused_even_when_not_kept() -> None:
    for item in ({"JobStatus": "COMPLETED"}, {"JobId": "j", "JobStatus": "DONE"}, "not a job"):
        with pytest.raises(VoiceIdError, match="not trusting it"):
            _checked(JobKind.ENROLLMENT, item)
