"""Golden tests for job identity: the spec hash, ClientToken and JobName must never drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import identity, jobkinds
from reconciler.core.identity import (
    Resolution,
    StartRequest,
    client_token,
    job_name,
    parse_job_name,
    start_request,
)
from reconciler.core.loading import load_file
from reconciler.core.spec import LoadedSpec

DOMAIN = "A" * 22
BASE: dict[str, Any] = {
    "apiVersion": "voiceid-reconciler/v1",
    "kind": "SpeakerEnrollmentJob",
    "metadata": {"name": "emea-branch-migration", "labels": {"team": "fraud-ops"}},
    "spec": {
        "domain": "contact-center-prod",
        "dataAccessRoleArn": "arn:aws:iam::123456789012:role/VoiceIdBatchAccess",
        "input": {"manifest": "s3://bucket/manifests/emea.json"},
        "output": {"s3Uri": "s3://bucket/voiceid-output/", "kmsKeyId": "alias/voiceid-output"},
        "enrollment": {
            "existingEnrollmentAction": "SKIP",
            "fraudDetection": {"action": "FAIL", "riskThreshold": 50, "watchlist": "default"},
        },
        "priority": 0,
        "revision": 1,
    },
}
GOLDEN_HASH = "6eb3415f26c08fd3ffb8af53e2b2ae8d91497a8638062e17d4228a464d115985"


def _load(tmp_path: Path, text: str) -> LoadedSpec:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    specs, errors = load_file(path)
    assert not errors, errors
    (spec,) = specs
    return spec


def _hash(tmp_path: Path, document: dict[str, Any], **dump: Any) -> str:
    spec = _load(tmp_path, yaml.safe_dump(document, **dump))
    return start_request(spec.document, Resolution(DOMAIN)).hash


def _with(path: str, value: Any) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(yaml.safe_dump(BASE))
    node = document
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    if value is _DELETE:
        node.pop(last)
    else:
        node[last] = value
    return document


_DELETE = object()


def test_golden_hash(tmp_path: Path) -> None:
    """The hash of the reference spec is pinned: a change here re-runs every job."""
    assert _hash(tmp_path, BASE) == GOLDEN_HASH


def test_golden_token_and_job_name() -> None:
    """ClientToken and JobName are derived from the hash in a pinned format."""
    assert client_token(GOLDEN_HASH) == GOLDEN_HASH[:56] + "-1"
    assert client_token(GOLDEN_HASH, 3) == GOLDEN_HASH[:56] + "-3"
    assert job_name("emea", GOLDEN_HASH) == "emea-" + GOLDEN_HASH[:32]
    assert job_name("emea", GOLDEN_HASH, 2) == "emea-" + GOLDEN_HASH[:32] + "-2"


def test_token_and_name_follow_voice_id_patterns() -> None:
    """Tokens and job names satisfy the Voice ID model's patterns and lengths."""
    for attempt in (1, 2, 999):
        token = client_token(GOLDEN_HASH, attempt)
        assert re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", token)
        name = job_name("a" * 63, GOLDEN_HASH, attempt)
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_-]*", name)
        assert len(name) <= 256


@pytest.mark.parametrize("attempt", [0, 1000])
def test_attempt_out_of_range(attempt: int) -> None:
    """Attempt numbers outside 1..999 are refused rather than producing odd tokens."""
    with pytest.raises(ValueError, match="attempt"):
        client_token(GOLDEN_HASH, attempt)


def test_comments_quoting_and_key_order_do_not_change_the_hash(tmp_path: Path) -> None:
    """Comments, quoting style, flow style and key order leave the hash alone."""
    text = """
# a comment
kind: "SpeakerEnrollmentJob"
apiVersion: 'voiceid-reconciler/v1'
spec:
  revision: 1
  priority: 0
  enrollment: {fraudDetection: {watchlist: default, riskThreshold: 50, action: FAIL},
               existingEnrollmentAction: SKIP}
  output: {kmsKeyId: "alias/voiceid-output", s3Uri: 's3://bucket/voiceid-output/'}
  input:
    manifest: s3://bucket/manifests/emea.json   # trailing comment
  dataAccessRoleArn: arn:aws:iam::123456789012:role/VoiceIdBatchAccess
  domain: contact-center-prod
metadata: {labels: {team: fraud-ops}, name: emea-branch-migration}
"""
    spec = _load(tmp_path, text)
    assert start_request(spec.document, Resolution(DOMAIN)).hash == GOLDEN_HASH


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "renamed-spec"),
        ("metadata.labels", {"team": "other", "cost-centre": "42"}),
        ("spec.priority", 99),
        ("spec.maxAttempts", 3),
        ("spec.enrollment.existingEnrollmentAction", _DELETE),  # SKIP is the default
        ("spec.enrollment.fraudDetection.watchlist", _DELETE),  # default watchlist
        ("spec.enrollment.fraudDetection.action", _DELETE),  # FAIL is the default
    ],
)
def test_what_does_not_change_the_hash(tmp_path: Path, path: str, value: Any) -> None:
    """A rename, labels, priority, maxAttempts and spelling out defaults keep the hash."""
    assert _hash(tmp_path, _with(path, value)) == GOLDEN_HASH


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("kind", "FraudsterRegistrationJob"),
        ("spec.domain", "other-domain"),
        ("spec.dataAccessRoleArn", "arn:aws:iam::123456789012:role/Other"),
        ("spec.input.manifest", "s3://bucket/manifests/other.json"),
        ("spec.output.s3Uri", "s3://bucket/other-output/"),
        ("spec.output.kmsKeyId", "alias/other"),
        ("spec.enrollment.existingEnrollmentAction", "OVERWRITE"),
        ("spec.enrollment.fraudDetection.action", "IGNORE"),
        ("spec.enrollment.fraudDetection.riskThreshold", 51),
        ("spec.enrollment.fraudDetection.watchlist", "vip-watchlist"),
        ("spec.revision", 2),
    ],
)
def test_what_changes_the_hash(tmp_path: Path, path: str, value: Any) -> None:
    """Every field of the Start request, and revision, changes the hash."""
    document = _with(path, value)
    if path == "kind":
        spec = document["spec"]
        spec.pop("enrollment")
        spec["registration"] = {"watchlist": "default"}
    domains = {"contact-center-prod": DOMAIN, "other-domain": "B" * 22}
    watchlists = {"vip-watchlist": "W" * 22}
    spec_obj = _load(tmp_path, yaml.safe_dump(document))
    fraud = document["spec"].get("enrollment", {}).get("fraudDetection", {})
    resolution = Resolution(
        domains[document["spec"]["domain"]], watchlists.get(fraud.get("watchlist", ""))
    )
    assert start_request(spec_obj.document, resolution).hash != GOLDEN_HASH


def test_hash_uses_the_resolved_domain_id() -> None:
    """The same spec resolved to two different DomainIds gives two different jobs."""
    common: dict[str, Any] = {
        "kind": "SpeakerEnrollmentJob",
        "data_access_role_arn": "arn:aws:iam::123456789012:role/R",
        "input_s3_uri": "s3://b/m.json",
        "output_s3_uri": "s3://b/o/",
        "kms_key_id": "k",
        "config": {},
    }
    a = StartRequest(domain_id="A" * 22, **common)
    b = StartRequest(domain_id="B" * 22, **common)
    assert a.hash != b.hash


def test_api_params_carry_token_name_and_resolved_watchlist(tmp_path: Path) -> None:
    """The boto3 Start parameters carry our token and name and only the set optional fields."""
    spec = _load(tmp_path, yaml.safe_dump(BASE))
    request = start_request(spec.document, Resolution(DOMAIN, "W" * 22))
    params = request.api_params(client_token="t", job_name="n")
    assert params == {
        "ClientToken": "t",
        "JobName": "n",
        "DomainId": DOMAIN,
        "DataAccessRoleArn": "arn:aws:iam::123456789012:role/VoiceIdBatchAccess",
        "InputDataConfig": {"S3Uri": "s3://bucket/manifests/emea.json"},
        "OutputDataConfig": {
            "S3Uri": "s3://bucket/voiceid-output/",
            "KmsKeyId": "alias/voiceid-output",
        },
        "EnrollmentConfig": {
            "ExistingEnrollmentAction": "SKIP",
            "FraudDetectionConfig": {
                "FraudDetectionAction": "FAIL",
                "RiskThreshold": 50,
                "WatchlistIds": ["W" * 22],
            },
        },
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("emea-" + GOLDEN_HASH[:32], ("emea", GOLDEN_HASH[:32], 1)),
        ("emea-x-" + GOLDEN_HASH[:32] + "-7", ("emea-x", GOLDEN_HASH[:32], 7)),
        ("someone-elses-job", None),
        ("EMEA-" + GOLDEN_HASH[:32], None),
        ("emea-" + GOLDEN_HASH[:31], None),
        ("emea-" + GOLDEN_HASH[:32] + "-0", None),
        (None, None),
    ],
)
def test_parse_job_name(value: str | None, expected: tuple[str, str, int] | None) -> None:
    """Our JobNames are recognised (name, hash prefix, attempt); anybody else's are not."""
    parts = parse_job_name(value)
    assert (None if parts is None else (parts.name, parts.hash_prefix, parts.attempt)) == expected


def test_job_name_round_trips() -> None:
    """parse_job_name inverts job_name for every attempt."""
    for attempt in (1, 2, 10, 999):
        parts = parse_job_name(job_name("a-b-c", GOLDEN_HASH, attempt))
        assert parts is not None
        assert (parts.name, parts.hash_prefix, parts.attempt) == (
            "a-b-c",
            GOLDEN_HASH[:32],
            attempt,
        )


def _shuffled(data: Any, draw: st.DrawFn) -> Any:
    if isinstance(data, dict):
        keys = draw(st.permutations(sorted(data)))
        return {k: _shuffled(data[k], draw) for k in keys}
    return data


@st.composite
def _reordered(draw: st.DrawFn) -> tuple[dict[str, Any], str | None, bool]:
    return (
        _shuffled(BASE, draw),
        draw(st.sampled_from(["'", '"', None])),
        draw(st.booleans()),
    )


@settings(max_examples=150, deadline=None)
@given(_reordered())
def test_any_key_order_and_style_gives_the_same_hash(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[dict[str, Any], str | None, bool]
) -> None:
    """Re-serialising the spec in any key order and style gives the same hash."""
    document, quote, flow = case
    text = yaml.safe_dump(document, sort_keys=False, default_style=quote, default_flow_style=flow)
    tmp = tmp_path_factory.mktemp("order")
    assert _hash_text(tmp, text) == GOLDEN_HASH


def _hash_text(tmp_path: Path, text: str) -> str:
    spec = _load(tmp_path, text)
    return start_request(spec.document, Resolution(DOMAIN)).hash


_TEXT = st.text(st.characters(codec="utf-8"), max_size=30)  # control characters and quotes too
_MAYBE_INT = st.none() | st.integers(min_value=-(2**70), max_value=2**70)


@st.composite
def _requests(draw: st.DrawFn) -> StartRequest:
    kind = draw(st.sampled_from(["SpeakerEnrollmentJob", "FraudsterRegistrationJob"]))
    maybe_text = st.none() | _TEXT
    config: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {
                "existingEnrollmentAction": maybe_text,
                "fraudDetection": st.fixed_dictionaries(
                    {"action": maybe_text, "riskThreshold": _MAYBE_INT, "watchlistId": maybe_text}
                ),
            }
        )
        if kind == "SpeakerEnrollmentJob"
        else st.fixed_dictionaries(
            {
                "duplicateRegistrationAction": maybe_text,
                "fraudsterSimilarityThreshold": _MAYBE_INT,
                "watchlistId": maybe_text,
            }
        )
    )
    if draw(st.booleans()):  # one of the shared configurations, as start_request makes them
        settings, watchlist_id = (
            (
                (config["existingEnrollmentAction"], *list(config["fraudDetection"].values())[:2]),
                config["fraudDetection"]["watchlistId"],
            )
            if kind == "SpeakerEnrollmentJob"
            else (tuple(config.values())[:2], config["watchlistId"])
        )
        config = identity._config(jobkinds.of(kind).config, settings, watchlist_id)
    return StartRequest(
        kind=kind,
        domain_id=draw(_TEXT),
        data_access_role_arn=draw(_TEXT),
        input_s3_uri=draw(_TEXT),
        output_s3_uri=draw(_TEXT),
        kms_key_id=draw(_TEXT),
        config=config,
        revision=draw(st.integers(min_value=-(2**70), max_value=2**70)),
        manifest_digest=draw(maybe_text),
    )


@settings(max_examples=400, deadline=None)
@given(_requests())
def test_the_canonical_text_is_exactly_what_json_dumps_writes(request: StartRequest) -> None:
    """The canonical text is written out by hand for speed: byte for byte json.dumps's."""
    assert request.canonical == identity._dumped_essence(request)


def test_a_request_of_other_types_is_canonical_through_json_dumps() -> None:
    request = StartRequest(
        kind="SpeakerEnrollmentJob",
        domain_id=DOMAIN,
        data_access_role_arn="arn",
        input_s3_uri="s3://b/m.json",
        output_s3_uri="s3://b/out/",
        kms_key_id="k",
        config={"a": 1},
        revision=True,  # a bool is no int to the hand-written text
    )
    assert request.canonical == identity._dumped_essence(request)
    assert '"revision":true' in request.canonical
