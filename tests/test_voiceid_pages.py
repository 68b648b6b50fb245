"""The job List pages are read without botocore's model walk: what the adapter makes of them
is exactly what it makes of botocore's own parse."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from reconciler.adapters.voiceid import VoiceId
from reconciler.adapters.voiceid_answers import ANSWER, checked, observed, read_answer
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
        plain_client.meta.events.unregister(f"before-parse.voice-id.{operation}", read_answer)
    raw = fast.client.list_speaker_enrollment_jobs(DomainId=domain_id)[ANSWER].JobSummaries[0]
    parsed = plain_client.list_speaker_enrollment_jobs(DomainId=domain_id)["JobSummaries"][0]
    assert isinstance(raw.CreatedAt, float)  # the page as JSON has it
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
            checked(JobKind.ENROLLMENT, item)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("JobProgress", "50%"),
        ("JobProgress", {"PercentComplete": "50"}),
        ("JobProgress", {"PercentComplete": True}),
        ("FailureDetails", ["400"]),
        ("FailureDetails", {"StatusCode": "400", "Message": "x"}),
        ("FailureDetails", {"StatusCode": 400, "Message": 7}),
        ("JobName", 12),
        ("DomainId", {"id": "x"}),
        ("InputDataConfig", "s3://b/k"),
        ("OutputDataConfig", {"S3Uri": 5}),
    ],
)
def test_a_job_with_a_field_of_the_wrong_type_is_refused(field: str, value: object) -> None:
    """What the state records of a job is what Voice ID said: a field of the wrong type is a
    malformed answer (one line), never a traceback or a value written to the state."""
    item: dict[str, object] = {"JobId": "j" * 22, "JobStatus": "COMPLETED", field: value}
    with pytest.raises(
        VoiceIdError, match=rf"whose {field}(\.\w+)? is not an? \w+ \(\w+\); not trusting"
    ):
        observed(JobKind.ENROLLMENT, "D" * 22, item)


def test_a_job_with_every_field_as_voice_id_gives_it_is_read() -> None:
    item = {
        "JobId": "j" * 22,
        "JobStatus": "FAILED",
        "JobName": "spec-" + "a" * 32,
        "DomainId": "E" * 22,
        "JobProgress": {"PercentComplete": 100},
        "FailureDetails": {"StatusCode": 400, "Message": "bad manifest"},
        "InputDataConfig": {"S3Uri": "s3://bucket/in.json"},
        "OutputDataConfig": {"S3Uri": "s3://bucket/out/", "KmsKeyId": "k"},
        "CreatedAt": 1_700_000_000.0,
    }
    job = observed(JobKind.ENROLLMENT, "D" * 22, item)
    assert (job.domain_id, job.percent_complete, job.input_s3_uri) == (
        "E" * 22,
        100,
        "s3://bucket/in.json",
    )
    assert job.failure is not None
    assert (job.failure.status_code, job.failure.message) == (400, "bad manifest")
    bare = observed(JobKind.ENROLLMENT, "D" * 22, {"JobId": "j" * 22, "JobStatus": "SUBMITTED"})
    assert (bare.domain_id, bare.job_name, bare.failure, bare.percent_complete) == (
        "D" * 22,
        None,
        None,
        None,
    )
