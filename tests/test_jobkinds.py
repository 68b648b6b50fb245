"""Job kinds as modules (issue 32, item 1): every kind registered once, asked instead of branched
on: its document model, its manifest format (written in one place and read by the sandbox as
Voice ID would) and its output file's members."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from reconciler.core import jobkinds
from reconciler.core.jobs import OUTCOMES, UNKNOWN, MalformedOutput, check_output, result_counts
from reconciler.core.kinds import JobKind
from reconciler.core.roster import Request, parts
from reconciler.core.spec import MODELS


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
