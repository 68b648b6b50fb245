"""Rules of the sections every kind's spec shares and of their field types, Voice ID's
constraints (reconciler.core.specsections)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.core.jobkinds.enrollment import EnrollmentInput
from reconciler.core.jobkinds.registration import RegistrationInput
from reconciler.core.specsections import (
    MAX_AUDIO_PER_REQUEST,
    AudioFile,
    Dependency,
    Fraudster,
    JobSpec,
    Metadata,
    Output,
    Speaker,
)

A = "s3://bucket/a.wav"
ROLE = "arn:aws:iam::123456789012:role/R"


def _spec(**kw: Any) -> JobSpec:
    data: dict[str, Any] = {
        "domain": "prod",
        "dataAccessRoleArn": ROLE,
        "output": {"s3Uri": "s3://bucket/out/", "kmsKeyId": "alias/k"},
    }
    data.update(kw)
    return JobSpec.model_validate(data)


def _refused(model: Any, data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(data)


def test_ten_audio_files_a_request() -> None:
    """A speaker or a fraudster has 1 to 10 audio files (Voice ID's limit)."""
    assert MAX_AUDIO_PER_REQUEST == 10
    assert len(Fraudster.model_validate({"audio": [A] * 10}).audio) == 10
    _refused(Fraudster, {"audio": [A] * 11})
    _refused(Fraudster, {"audio": []})
    _refused(Speaker, {"speakerId": "s", "audio": [A] * 11})


def test_an_audio_file_and_its_channel() -> None:
    """An audio file is an S3 URI (at most 1024 characters) on channel 0 unless given 1."""
    assert AudioFile.model_validate({"uri": A}).channel == 0
    assert AudioFile.model_validate({"uri": A, "channel": 1}).channel == 1
    _refused(AudioFile, {"uri": A, "channel": 2})
    uri = "s3://bucket/" + "k" * (1024 - len("s3://bucket/"))
    assert AudioFile.model_validate({"uri": uri}).uri == uri
    _refused(AudioFile, {"uri": uri + "k"})
    _refused(AudioFile, {"uri": "https://bucket/a.wav"})
    speaker = Speaker.model_validate({"speakerId": "s", "audio": [A, {"uri": A, "channel": 1}]})
    assert speaker.audio == [A, AudioFile(uri=A, channel=1)]


def test_a_speaker_id_is_a_voice_id_name() -> None:
    """1 to 256 letters, digits, '_' or '-', starting with a letter or digit."""
    assert Speaker.model_validate({"speakerId": "s" * 256, "audio": [A]}).speaker_id == "s" * 256
    for bad in ("", "s" * 257, "-s", "s s"):
        _refused(Speaker, {"speakerId": bad, "audio": [A]})


def test_models_are_strict_frozen_and_take_both_names() -> None:
    """No coercion ('1' is no channel), no change after validation, no unknown field; a
    field by its document name (camelCase) or its Python name."""
    _refused(AudioFile, {"uri": A, "channel": "1"})
    _refused(AudioFile, {"uri": A, "extra": 1})
    audio = AudioFile(uri=A)
    with pytest.raises(ValidationError, match="frozen"):
        audio.channel = 1  # type: ignore[misc]
    by_name = Output(s3_uri="s3://bucket/out/", kms_key_id="alias/k")
    by_alias = Output.model_validate({"s3Uri": "s3://bucket/out/", "kmsKeyId": "alias/k"})
    assert by_name == by_alias
    assert Speaker(speaker_id="s", audio=[A]).speaker_id == "s"


def test_metadata_labels() -> None:
    """Label keys (an optional DNS prefix and a name, at most 317 characters) and values (at
    most 63, possibly empty) as Kubernetes writes them."""
    key = "a" * 253 + "/" + "b" * 63
    assert len(key) == 317
    value = "v" * 63
    metadata = Metadata.model_validate({"name": "n", "labels": {key: value, "e": ""}})
    assert metadata.labels == {key: value, "e": ""}
    _refused(Metadata, {"name": "n", "labels": {key + "b": "v"}})
    _refused(Metadata, {"name": "n", "labels": {"k": value + "v"}})
    _refused(Metadata, {"name": "n", "labels": {"k": "-v"}})
    assert Metadata.model_validate({"name": "n"}).labels == {}


def test_an_output_prefix_leaves_room_for_the_jobs_files() -> None:
    """An output prefix (and a staging one) is at most 900 characters; a KMS key is needed."""
    prefix = "s3://bucket/" + "p" * (900 - len("s3://bucket/"))
    assert Output.model_validate({"s3Uri": prefix, "kmsKeyId": "k"}).s3_uri == prefix
    _refused(Output, {"s3Uri": prefix + "p", "kmsKeyId": "k"})
    _refused(Output, {"s3Uri": prefix})
    _refused(Output, {"s3Uri": prefix, "kmsKeyId": ""})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "exactly one of manifest, speakers, speakersFile is required"),
        (
            {"manifest": "s3://bkt/m.json", "speakersFile": "r.csv", "stagingUri": "s3://bkt/s/"},
            "exactly one of manifest, speakers, speakersFile is required "
            "(got manifest, speakersFile)",
        ),
        ({"speakersFile": "r.csv"}, "stagingUri is required with a roster"),
        (
            {"manifest": "s3://bkt/m.json", "stagingUri": "s3://bkt/s/"},
            "stagingUri only applies to a roster, not to manifest",
        ),
        (
            {"speakersFile": "/etc/r.csv", "stagingUri": "s3://bkt/s/"},
            "speakersFile must be a relative path inside the repository",
        ),
        (
            {"speakersFile": "a/../../r.csv", "stagingUri": "s3://bkt/s/"},
            "speakersFile must be a relative path inside the repository",
        ),
        ({"speakersFile": "", "stagingUri": "s3://bkt/s/"}, "at least 1 character"),
        ({"speakersFile": "r" * 1025, "stagingUri": "s3://bkt/s/"}, "at most 1024 characters"),
    ],
)
def test_one_source_of_requests(data: dict[str, Any], message: str) -> None:
    """A manifest, an inline roster or a roster file: exactly one; a roster needs a staging
    prefix and a manifest none; a roster file is relative and stays inside the repository."""
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EnrollmentInput.model_validate(data)


def test_the_sources_that_are_accepted() -> None:
    """A manifest alone; a roster (inline or file, also a 1024-character path) with staging."""
    assert EnrollmentInput.model_validate({"manifest": "s3://bkt/m.json"}).manifest
    assert EnrollmentInput.model_validate({"speakersFile": "a/r.csv", "stagingUri": "s3://bkt/s/"})
    assert EnrollmentInput.model_validate({"speakersFile": "r" * 1024, "stagingUri": "s3://bkt/s/"})
    inline = RegistrationInput.model_validate(
        {"fraudsters": [{"audio": [A]}], "stagingUri": "s3://bkt/s/"}
    )
    assert inline.fraudsters is not None
    with pytest.raises(
        ValidationError, match="exactly one of manifest, fraudsters, fraudstersFile"
    ):
        RegistrationInput.model_validate({})


def test_each_input_names_its_roster_members() -> None:
    """The inline member and the file member as a document names them."""
    assert EnrollmentInput.roster_members() == ("speakers", "speakersFile")
    assert RegistrationInput.roster_members() == ("fraudsters", "fraudstersFile")


def test_the_specs_defaults_and_bounds() -> None:
    """Priority 0, revision 0 to 999,999, maxAttempts 1 to 10, no dependency by default; a
    domain is a Voice ID name (1 to 256)."""
    spec = _spec()
    assert (spec.priority, spec.revision, spec.max_attempts, spec.depends_on) == (0, 0, 1, [])
    assert _spec(maxAttempts=10).max_attempts == 10
    assert _spec(revision=999_999).revision == 999_999
    for bad in ({"maxAttempts": 0}, {"maxAttempts": 11}, {"revision": -1}, {"domain": ""}):
        with pytest.raises(ValidationError):
            _spec(**bad)
    assert _spec(domain="d" * 256).domain == "d" * 256
    with pytest.raises(ValidationError):
        _spec(domain="d" * 257)


def test_dependencies_in_either_form_at_most_a_hundred() -> None:
    """``<Kind>/<name>`` or ``{kind, name}``, of a kind of ours; at most 100 of them."""
    spec = _spec(
        dependsOn=[
            "FraudsterRegistrationJob/known",
            {"kind": "SpeakerEnrollmentJob", "name": "other"},
        ]
    )
    assert spec.depends_on == [
        "FraudsterRegistrationJob/known",
        Dependency(kind="SpeakerEnrollmentJob", name="other"),
    ]
    many = [f"SpeakerEnrollmentJob/s{i}" for i in range(100)]
    assert len(_spec(dependsOn=many).depends_on) == 100
    for bad in ([*many, "SpeakerEnrollmentJob/s100"], ["Deployment/x"], ["SpeakerEnrollmentJob/X"]):
        with pytest.raises(ValidationError):
            _spec(dependsOn=bad)
    long = "SpeakerEnrollmentJob/" + "n" * 63
    assert _spec(dependsOn=[long]).depends_on == [long]
    with pytest.raises(ValidationError):
        _spec(dependsOn=["FraudsterRegistrationJob/" + "n" * 76])


def test_a_score_is_0_to_100() -> None:
    """A threshold is a score from 0 to 100."""
    from reconciler.core.jobkinds.enrollment import FraudDetection

    assert FraudDetection.model_validate({"riskThreshold": 0}).risk_threshold == 0
    assert FraudDetection.model_validate({"riskThreshold": 100}).risk_threshold == 100
    for bad in (-1, 101):
        _refused(FraudDetection, {"riskThreshold": bad})


def test_a_number_is_never_read_from_text() -> None:
    """Strict: a priority or a revision written as text is refused, not converted."""
    for field in ("priority", "revision", "maxAttempts"):
        with pytest.raises(ValidationError):
            _spec(**{field: "3"})
