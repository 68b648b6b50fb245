"""Job kinds as modules (issue 32, item 1): every kind registered once, asked instead of branched
on: its document model, its manifest format (written in one place and read by the sandbox as
Voice ID would), its output file's members, its roster's members, its section, the kinds
``import --kind`` offers and the order the status page shows them in."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any, get_args

import pytest

from reconciler.cli.app import parser
from reconciler.cli.args import UsageError
from reconciler.cli.statuspage_model import sections
from reconciler.core import jobkinds
from reconciler.core.jobkinds import KindDef
from reconciler.core.jobkinds.base import Described, Settings, given, watchlist_ids
from reconciler.core.jobs import OUTCOMES, UNKNOWN, MalformedOutput, check_output, result_counts
from reconciler.core.kinds import JobKind
from reconciler.core.roster import Request, parts
from reconciler.core.spec import MODELS
from reconciler.core.specsections import Document
from reconciler.core.state import JobRecord, State


def test_every_kind_is_registered_once_with_distinct_names() -> None:
    assert set(jobkinds.KINDS) == set(JobKind)
    for kind, definition in jobkinds.KINDS.items():
        assert definition.kind is kind
        assert jobkinds.of(kind.value) is definition
        assert definition.list_operation.startswith("List")
        assert definition.describe_operation.startswith("Describe")
        assert definition.start_operation.startswith("Start")
    for field in ("section", "title", "manifest_key", "start_operation"):
        values = [getattr(d, field) for d in jobkinds.KINDS.values()]
        assert len(set(values)) == len(values), field


def test_the_manifest_format_of_each_kind() -> None:
    requests = [Request("cust-1", (("s3://b/a.wav", 0), ("s3://b/b.wav", 1)))]
    enrolled = json.loads(jobkinds.of(JobKind.ENROLLMENT).manifest(requests, offset=41))
    assert enrolled == {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {
                "RequestId": "req-0000042",
                "SpeakerId": "cust-1",
                "AudioSpecifications": [
                    {"S3Uri": "s3://b/a.wav", "ChannelId": 0},
                    {"S3Uri": "s3://b/b.wav", "ChannelId": 1},
                ],
            }
        ],
    }
    registered = json.loads(jobkinds.of(JobKind.REGISTRATION).manifest(requests))
    assert list(registered) == ["FraudsterRegistrationRequests", "Version"]
    assert "SpeakerId" not in registered["FraudsterRegistrationRequests"][0]


def test_a_roster_is_split_at_its_kinds_quota() -> None:
    for kind in JobKind:
        quota = jobkinds.of(kind).per_job
        requests = [Request(f"c-{i}", ((f"s3://b/{i}.wav", 0),)) for i in range(quota + 1)]
        split = parts(kind, requests)
        assert [p.count for p in split] == [quota, 1]
        numbers = json.loads(split[1].body)[jobkinds.of(kind).manifest_key][0]["RequestId"]
        assert numbers == f"req-{quota + 1:07d}"  # a part continues the roster's numbering


def test_each_kinds_document_model_is_its_modules() -> None:
    """The loader validates a document with the model its kind's module registers, and that
    model takes no document of another kind."""
    for kind, definition in jobkinds.KINDS.items():
        assert MODELS[kind] is definition.document
        assert get_args(definition.document.model_fields["kind"].annotation) == (kind,)
    assert list(MODELS) == list(jobkinds.KINDS)
    assert "NotAKind" not in MODELS
    with pytest.raises(ValueError, match="not a registered kind"):
        jobkinds.of("NotAKind")


def test_the_output_file_is_read_by_each_kinds_own_members() -> None:
    """A job's output file holds each kind's list of successes, counted by that kind's status
    member, with ``Errors``; a member of the wrong shape is named by the kind's own word."""
    for definition in jobkinds.KINDS.values():
        (outcome, *_) = sorted(definition.outcomes)
        document = {
            definition.output_list: [{definition.output_status: outcome}, {"Status": outcome}],
            "Errors": [{"RequestId": "req-0000003", "ErrorCode": 400}],
        }
        assert result_counts(document) == {outcome: 1, UNKNOWN: 1, "error:400": 1}
        with pytest.raises(MalformedOutput, match=rf"^{definition.output_list}\[0\] must be an"):
            check_output({definition.output_list: [1]})
    assert frozenset().union(*(d.outcomes for d in jobkinds.KINDS.values())) == OUTCOMES


def _document(definition: KindDef, source: dict[str, Any]) -> Document:
    """A document of ``definition``'s kind whose ``input`` is ``source``."""
    return definition.document.model_validate(
        {
            "apiVersion": "voiceid-reconciler/v1",
            "kind": str(definition.kind),
            "metadata": {"name": "x"},
            "spec": {
                "domain": "d",
                "dataAccessRoleArn": "arn:aws:iam::123456789012:role/R",
                "output": {"s3Uri": "s3://bucket/out/", "kmsKeyId": "k"},
                "input": source,
            },
        }
    )


def test_each_kind_says_where_its_roster_is() -> None:
    """A document's inline roster or roster file is found by the members its kind names (the
    first of them is also the word a plan counts entries in); a manifest input has neither."""
    staging = {"stagingUri": "s3://bucket/staging/"}
    for definition in jobkinds.KINDS.values():
        inline, roster_file = definition.roster
        assert definition.entries == inline
        entry: dict[str, Any] = {"audio": ["s3://bucket/a.wav"]}
        if definition.speaker_ids:
            entry["speakerId"] = "c-1"
        (entries, path) = definition.roster_of(_document(definition, {inline: [entry], **staging}))
        assert path is None
        assert entries is not None
        assert [e.audio for e in entries] == [["s3://bucket/a.wav"]]
        with_file = _document(definition, {roster_file: "roster.csv", **staging})
        assert definition.roster_of(with_file) == (None, "roster.csv")
        manifest = _document(definition, {"manifest": "s3://bucket/m.json"})
        assert definition.roster_of(manifest) == (None, None)
    assert {d.entries for d in jobkinds.KINDS.values()} == {"speakers", "fraudsters"}


def test_a_section_names_its_kind() -> None:
    """Each kind's own spec section leads to it (a misplaced section is named as its kind's);
    a section every kind has leads to none."""
    for definition in jobkinds.KINDS.values():
        assert jobkinds.with_section(definition.section) is definition
    assert jobkinds.with_section("input") is None
    assert jobkinds.with_section("Enrollment") is None


def test_registration_fills_the_watchlists_enrollment_reads() -> None:
    """Only a registration fills watchlists (the status page shows its sections first)."""
    fills = {kind for kind, d in jobkinds.KINDS.items() if d.fills_watchlists}
    assert fills == {JobKind.REGISTRATION}


def test_import_offers_the_registered_kinds() -> None:
    """``import --kind`` takes each registered kind by its wire string, and nothing else."""
    command = parser(["import"])
    base = ["import", "--domain", "d", "--out", "x", "--kind"]
    for kind in jobkinds.KINDS:
        assert command.parse_args([*base, str(kind)]).kind == kind
    with pytest.raises(UsageError) as refused:
        command.parse_args([*base, "Nope"])
    assert str(refused.value).startswith(
        "argument --kind: invalid choice: 'Nope' "
        "(choose from 'SpeakerEnrollmentJob', 'FraudsterRegistrationJob')"
    )


def test_the_status_page_shows_the_kind_that_fills_watchlists_first() -> None:
    """Within a domain, registrations before enrollments, whatever the order of the jobs: an
    enrollment's fraud detection reads the watchlists registrations fill."""
    jobs = [
        JobRecord(attempt=1, domain_id="D" * 22, hash="a" * 64, job_name=f"{k}-job", kind=k)
        for k in (JobKind.ENROLLMENT, JobKind.REGISTRATION)
    ]
    for orphans in (jobs, jobs[::-1]):
        ordered, _ = sections(State(orphans=orphans))
        assert [s.kind for s in ordered] == [JobKind.REGISTRATION, JobKind.ENROLLMENT]


def test_import_without_kind_lists_the_registered_kinds_in_their_order() -> None:
    """``import`` without ``--kind`` (and its options' default) lists the registry's kinds, in
    its order; ``--kind`` one of them."""
    from reconciler.core.adoption import kinds_of
    from reconciler.runner.adopt_values import ImportOptions

    assert kinds_of(None) == tuple(jobkinds.KINDS) == (JobKind.ENROLLMENT, JobKind.REGISTRATION)
    assert ImportOptions("d", Path("x")).kinds == kinds_of(None)
    assert kinds_of("FraudsterRegistrationJob") == (JobKind.REGISTRATION,)


def test_what_import_reads_of_each_kind_is_in_botocores_model() -> None:
    """Each place a kind says Describe shows one of its settings (and its watchlists) is a
    member of the kind's configuration in botocore's voice-id model, and each default is one
    of the member's values: a misspelt path would read every job as run with the defaults."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("voice-id")

    def member(kind: str, path: tuple[str, ...]) -> Any:
        shape: Any = model.shape_for(kind)
        for name in path:
            assert name in shape.members, (kind, path)
            shape = shape.members[name]
        return shape

    for kind, definition in jobkinds.KINDS.items():
        assert definition.described, kind
        for path, default in definition.described:
            shape = member(kind, (definition.config_member, *path))
            if default is not None:
                assert default in shape.enum, (kind, path)
        watchlists = member(kind, (definition.config_member, *definition.described_watchlists))
        assert watchlists.type_name == "list"


class _Toy(StrEnum):
    AUDIT = "VoiceprintAuditJob"


def _toy_config(settings: Settings, watchlist_id: str | None) -> dict[str, Any]:
    sensitivity, min_score = settings
    return {
        "sensitivity": sensitivity,
        "limits": {"minScore": min_score},
        "watchlistId": watchlist_id,
    }


def _toy_start(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "Sensitivity": config["sensitivity"],
        **given(
            MinScore=config["limits"]["minScore"], WatchlistIds=watchlist_ids(config["watchlistId"])
        ),
    }


_TOY = replace(
    jobkinds.of(JobKind.REGISTRATION),
    kind=_Toy.AUDIT,
    section="audit",
    title="Voiceprint audit",
    list_operation="ListVoiceprintAuditJobs",
    describe_operation="DescribeVoiceprintAuditJob",
    start_operation="StartVoiceprintAuditJob",
    manifest_key="VoiceprintAuditRequests",
    config=_toy_config,
    config_member="AuditConfig",
    start_config=_toy_start,
    described=(Described(("Sensitivity",), "LOW"), Described(("Limits", "MinScore"), None)),
    described_watchlists=("WatchlistIds",),
)
"""A third kind as far as import goes: its Describe configuration nests a member, its spec
section too."""


def test_import_reads_and_writes_a_kinds_settings_as_its_kinddef_says() -> None:
    """A job's settings are read from its kind's Describe configuration where its KindDef says
    (Voice ID's defaults filled in); its spec section is written from the kind's canonical
    configuration (nested as there, a number as it is, the watchlist by the spec's name for it)
    and its request compared as the kind's Start parameter: import names no kind."""
    from reconciler.core.adoption import Draft, spec_text
    from reconciler.core.foreignjob import JobSettings, described, job_request
    from reconciler.core.jobs import ObservedJob
    from reconciler.core.kinds import JobStatus

    config = {"Limits": {"MinScore": 0}, "WatchlistIds": ["W" * 22], "Other": 1}
    assert described(_TOY, config) == (("LOW", 0), ("W" * 22,))
    assert described(_TOY, {"Sensitivity": "HIGH", "Limits": None}) == (("HIGH", None), ())
    assert described(_TOY, None) == (("LOW", None), ())

    kind: Any = _Toy.AUDIT  # the product types a job's kind JobKind; the toy's is its own
    job = ObservedJob(kind, "D" * 22, "J" * 22, "audit one", JobStatus.COMPLETED)
    own, watchlists = described(_TOY, config)
    settings = JobSettings("arn:r", "s3://b/m.json", "s3://b/o/", "k", own, watchlists)
    with jobkinds.registered(_TOY):
        text = spec_text(
            Draft(job, settings, "audit-one", "prod", "ring"),
            domain_name=None,
            notes=(),
            spec_hash=None,
        )
        request = job_request(job, settings)
    assert text.splitlines()[-5:] == [
        "  audit:",
        '    sensitivity: "LOW"',
        "    limits:",
        "      minScore: 0",
        '    watchlist: "ring"',
    ]
    assert request["AuditConfig"] == {
        "Sensitivity": "LOW",
        "MinScore": 0,
        "WatchlistIds": ["W" * 22],
    }
