"""A third kind of job is one module and one registration line (issue 32, item 1: the proof).

The toy below, ``VoiceprintAuditJob``, is written as a kind's module would be (its spec section
models, its own facts and configuration, its Start parameter, its risks, its manifest and
output names: one :class:`KindDef`) and registered for each test by one line,
``jobkinds.registered(TOY)``, which takes it out again after the test, whatever happened. It
then goes through what the product does with a spec without a line of the product changed:

* **load**: the file is found, validated by the toy's document model (errors with file:line;
  its section in another kind's spec named as the toy's, a misspelt field of it given a "did
  you mean"), its facts read (its own settings among them), kept in the spec cache and read
  back from it; ``validate``'s JSON schema has it; an inline roster under the toy's own member
  (``voices``) is read and rendered as the toy's manifest, and its data is kept out of
  messages as a speaker roster's is;
* **hash**: the spec resolves (``desire``) into a Start request whose canonical JSON holds the
  toy's configuration, and whose hash is pinned below;
* **plan**: a plan starts it, with the toy's risk notes; an offline plan gets them from the
  facts alone; the plan's text counts its roster in the toy's word (``2 voices``) and the
  plan comment shows its request with its settings as the toy's own section (``audit {``);
* **start**: the Start call's parameters are exactly Voice ID's form (ClientToken, JobName, the
  common members and the toy's own ``AuditConfig``); its output file is counted by the toy's
  members.

**Where it stops: the sandbox.** The sandbox stands alone (it imports nothing of the product)
and answers only what botocore's Voice ID model holds: ``StartVoiceprintAuditJob`` is refused
as an unknown operation before any job model is reached (the last test). For a third kind the
sandbox needs, in ``reconciler/sandbox``:

1. the kind's operations in the service model it validates with (``model.operation_model``,
   botocore's ``voice-id`` model): a model file of the kind's Start/Describe/List shapes loaded
   beside botocore's. The product's boto3 client needs the same model, or it has no method to
   call (the adapter calls ``getattr(client, snake(operation))``);
2. a member of its own ``state.JobKind`` (the stem of the operation names) and its three names
   there (``config_member``, ``manifest_key``, ``max_requests_knob``, each an if on the kind);
3. three handlers in ``service.VoiceIdService._handlers`` (Start, Describe, List), and the
   kind's branches in ``_start_job`` (the quota's message) and ``_check_watchlists``;
4. in ``jobs``: what a request of the kind must hold (``_parse_request``, ``_check_request``),
   what becomes of it (a function beside ``_enroll`` and ``_register``) and the output list it
   is written to (``SuccessfulEnrollments`` / ``SuccessfulRegistrations`` is an if);
5. a ``max_<kind>_per_job`` knob in ``config``, and in ``seed``/``world`` seeded jobs of it.

And in the product, beyond the registry: the kind's member of ``core.kinds.JobKind`` (the toy
brings a ``StrEnum`` of its own, all the code asks of a kind at run time; the state's job
records are typed ``JobKind``, so a toy job could not be recorded, listed or drawn on the
status page), its answers in ``adapters.shapes.ANSWERS``, its actions in the IAM policy
(``deploy/``), the strict model of its Describe answer's config in ``adapters.adoption``
(what ``import`` reads), and the one place that still names the two kinds: ``specsections``'
dependency pattern and ``Dependency.kind`` (no spec can depend on a toy spec, nor a toy spec
on another). ``import`` reads and writes a kind's settings as its ``KindDef`` says
(``described``, ``section``), and rebuild and import list the registry's kinds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field

from reconciler.cli.markdown import request_details
from reconciler.cli.render import plan_text
from reconciler.core import jobkinds
from reconciler.core.desired import NameResolver, desire
from reconciler.core.identity import client_token, configuration, job_name
from reconciler.core.jobkinds import KindDef
from reconciler.core.jobkinds.base import OwnFacts, Risk, Settings, given, watchlist_ids
from reconciler.core.jobs import check_output, result_counts
from reconciler.core.kinds import ActionKind
from reconciler.core.loading import check, load
from reconciler.core.plan import Plan, facts_risks
from reconciler.core.planner import build_plan
from reconciler.core.roster import Request
from reconciler.core.spec import MODELS, json_schema
from reconciler.core.speccache import SpecCache
from reconciler.core.specsections import (
    Document,
    JobSpec,
    RosterInput,
    RosterPath,
    Score,
    Speaker,
    StrictModel,
    VoiceIdName,
)
from reconciler.core.state import State
from reconciler.core.yamlpos import field_names, inline_rosters
from reconciler.sandbox import Sandbox
from reconciler.sandbox.errors import VoiceIdError

# --- the toy kind, as its module would be -------------------------------------------------------


class ToyKind(StrEnum):
    """The toy's wire string (a real kind's is a member of core.kinds.JobKind)."""

    AUDIT = "VoiceprintAuditJob"


class AuditInput(RosterInput):
    """Where the audit requests come from: exactly one of the three sources."""

    voices: Annotated[list[Speaker], Field(min_length=1)] | None = None
    voices_file: RosterPath | None = None
    _sources = ("voices", "voices_file", "voicesFile")


class Audit(StrictModel):
    """AuditConfig of StartVoiceprintAuditJob."""

    sensitivity: Literal["LOW", "HIGH"] = "LOW"
    min_score: Score | None = None
    watchlist: VoiceIdName | None = None


class AuditSpec(JobSpec):
    """The ``spec`` of a VoiceprintAuditJob."""

    input: AuditInput
    audit: Audit = Field(default_factory=Audit)


class VoiceprintAuditJob(Document):
    """A voiceprint audit batch job that should exist."""

    kind: Literal["VoiceprintAuditJob"]
    spec: AuditSpec


def _own_facts(spec: Mapping[str, Any]) -> OwnFacts:
    audit = spec["audit"]
    return OwnFacts(audit["watchlist"], (audit["sensitivity"], audit["minScore"]))


def _config(settings: Settings, watchlist_id: str | None) -> dict[str, Any]:
    sensitivity, min_score = settings
    return {"sensitivity": sensitivity, "minScore": min_score, "watchlistId": watchlist_id}


def _start_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "Sensitivity": config["sensitivity"],
        **given(MinScore=config["minScore"], WatchlistIds=watchlist_ids(config["watchlistId"])),
    }


TOY = KindDef(
    kind=ToyKind.AUDIT,
    section="audit",
    title="Voiceprint audit",
    list_operation="ListVoiceprintAuditJobs",
    describe_operation="DescribeVoiceprintAuditJob",
    start_operation="StartVoiceprintAuditJob",
    manifest_key="VoiceprintAuditRequests",
    per_job=100,
    speaker_ids=True,
    document=VoiceprintAuditJob,
    roster=AuditInput.roster_members(),
    own_facts=_own_facts,
    setting_types=((str,), (int, type(None))),
    config=_config,
    config_member="AuditConfig",
    start_config=_start_config,
    risks=(Risk(("sensitivity",), "HIGH", "sensitivity HIGH: flags callers on a weak match"),),
    output_list="AuditedVoices",
    output_status="AuditStatus",
    outcomes=frozenset({"MATCHED", "NOT_MATCHED"}),
)


@pytest.fixture
def toy() -> Iterator[KindDef]:
    with jobkinds.registered(TOY):  # the one registration line
        yield TOY


# --- the spec ----------------------------------------------------------------------------------

SPEC = """\
apiVersion: voiceid-reconciler/v1
kind: VoiceprintAuditJob
metadata: {name: audit-q4, labels: {team: fraud-ops}}
spec:
  domain: contact-center-prod
  dataAccessRoleArn: arn:aws:iam::123456789012:role/VoiceIdBatchAccess
  input: {manifest: s3://bucket/manifests/audit.json}
  output: {s3Uri: s3://bucket/voiceid-output/, kmsKeyId: alias/voiceid-output}
  audit: {sensitivity: HIGH, minScore: 70, watchlist: ring}
"""
TOY_HASH = "629fbc14b7192fb6f63f6e2858c50e117b07a4d996084c1af037edef06c92f38"
"""The toy spec's hash: the SHA-256 of its essence (asserted below) as canonical JSON."""


def _write(tmp_path: Path, text: str = SPEC) -> Path:
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    (specs / "audit.yaml").write_text(text)
    return specs


# --- the tests ---------------------------------------------------------------------------------


def test_registration_lasts_the_block_and_no_longer() -> None:
    """A kind registered for a test is known inside the block only, even one that raised (its
    model, its schema, its section, its fields' names, its inline roster, its output list gone
    after it); the registry refuses a kind twice."""
    before = dict(jobkinds.KINDS)

    def fails_inside() -> None:
        with jobkinds.registered(TOY):
            assert jobkinds.of("VoiceprintAuditJob") is TOY
            assert MODELS["VoiceprintAuditJob"] is VoiceprintAuditJob
            assert jobkinds.with_section("audit") is TOY
            assert "sensitivity" in field_names()
            assert ("spec", "input", "voices") in inline_rosters()
            with pytest.raises(ValueError, match="registered already"):
                jobkinds.registered(TOY).__enter__()
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fails_inside()
    assert dict(jobkinds.KINDS) == before
    assert "VoiceprintAuditJob" not in MODELS
    assert jobkinds.with_section("audit") is None
    assert "sensitivity" not in field_names()
    assert ("spec", "input", "voices") not in inline_rosters()
    assert "VoiceprintAuditJob" not in json_schema()["discriminator"]["mapping"]
    assert result_counts({"AuditedVoices": [{"AuditStatus": "MATCHED"}]}) == {}  # not read
    with pytest.raises(ValueError, match="not a registered kind"):
        jobkinds.of("VoiceprintAuditJob")


def test_a_toy_spec_loads_and_its_facts_survive_the_cache(toy: KindDef, tmp_path: Path) -> None:
    """Loaded by the toy's model, its own settings in its facts, kept in the spec cache and
    read back from it as they were; the JSON schema knows the kind."""
    specs = _write(tmp_path)
    cold = SpecCache()
    (spec,) = load([specs], cache=cold)
    assert isinstance(spec.document, VoiceprintAuditJob)
    kind: object = spec.kind  # typed JobKind by the product: the toy's is its own (docstring)
    assert kind is ToyKind.AUDIT
    assert spec.key == "VoiceprintAuditJob/audit-q4"
    assert (spec.facts.watchlist, spec.facts.settings) == ("ring", ("HIGH", 70))
    warm, why = SpecCache.from_bytes(cold.to_bytes())
    assert why is None
    (cached,) = load([specs], cache=warm)
    assert warm.hits == 1
    assert cached.facts == spec.facts
    assert cached.document == spec.document
    assert "VoiceprintAuditJob" in json_schema()["discriminator"]["mapping"]


def test_a_toy_spec_is_checked_by_its_own_model(toy: KindDef, tmp_path: Path) -> None:
    """Another kind's section in a toy spec is refused with its place, as for any kind."""
    specs = _write(tmp_path, SPEC.replace("  audit: {", "  enrollment: {"))
    loaded, (error,) = check([specs])
    assert not loaded
    assert (error.location.line, error.location.column) == (9, 3)
    assert (
        error.message == "'enrollment' belongs to SpeakerEnrollmentJob, not to VoiceprintAuditJob"
    )


def test_a_toy_spec_hashes_plans_and_starts(toy: KindDef, tmp_path: Path) -> None:
    """desire -> a Start request with the toy's configuration and its pinned hash; the plan
    starts it with the toy's risk note (an offline plan too, from the facts); the Start call's
    parameters carry the toy's own AuditConfig."""
    (spec,) = load([_write(tmp_path)])
    (job,) = desire([spec], NameResolver())
    request = job.request
    assert request is not None
    assert request.essence() == {
        "config": {"minScore": 70, "sensitivity": "HIGH", "watchlistId": "ring"},
        "dataAccessRoleArn": "arn:aws:iam::123456789012:role/VoiceIdBatchAccess",
        "domainId": "contact-center-prod",
        "identity": 1,
        "input": {
            "manifestDigest": "etag:uri:s3://bucket/manifests/audit.json",
            "s3Uri": "s3://bucket/manifests/audit.json",
        },
        "kind": "VoiceprintAuditJob",
        "output": {"kmsKeyId": "alias/voiceid-output", "s3Uri": "s3://bucket/voiceid-output/"},
        "revision": 0,
    }
    canonical = json.dumps(request.essence(), sort_keys=True, separators=(",", ":"))
    assert request.hash == hashlib.sha256(canonical.encode()).hexdigest() == TOY_HASH
    assert configuration(spec.facts) == {"minScore": 70, "sensitivity": "HIGH", "watchlistId": None}

    (action,) = build_plan([job], State()).actions
    assert (action.kind, action.key, action.hash) == (ActionKind.START, job.key, TOY_HASH)
    assert action.risks == ("sensitivity HIGH: flags callers on a weak match",)
    assert facts_risks(job) == action.risks

    params = request.api_params(
        client_token=client_token(TOY_HASH), job_name=job_name(spec.name, TOY_HASH)
    )
    assert params == {
        "ClientToken": f"{TOY_HASH[:56]}-1",
        "JobName": f"audit-q4-{TOY_HASH[:32]}",
        "DomainId": "contact-center-prod",
        "DataAccessRoleArn": "arn:aws:iam::123456789012:role/VoiceIdBatchAccess",
        "InputDataConfig": {"S3Uri": "s3://bucket/manifests/audit.json"},
        "OutputDataConfig": {
            "S3Uri": "s3://bucket/voiceid-output/",
            "KmsKeyId": "alias/voiceid-output",
        },
        "AuditConfig": {"Sensitivity": "HIGH", "MinScore": 70, "WatchlistIds": ["ring"]},
    }


def test_a_toy_manifest_and_output_file_are_the_kinds_own(toy: KindDef) -> None:
    """The manifest is written with the toy's list; its output file is counted by its own
    members."""
    requests = [Request(f"c-{i}", ((f"s3://b/{i}.wav", 0),)) for i in range(2)]
    manifest = json.loads(toy.manifest(requests))
    assert [r["SpeakerId"] for r in manifest["VoiceprintAuditRequests"]] == ["c-0", "c-1"]
    output = {"AuditedVoices": [{"AuditStatus": "MATCHED"}, {"AuditStatus": "NEW_ENROLLMENT"}]}
    assert result_counts(output) == {"MATCHED": 1, "NEW_ENROLLMENT": 1}
    with pytest.raises(ValueError, match=r"^AuditedVoices must be a list$"):
        check_output({"AuditedVoices": {}})


def test_the_sandbox_refuses_the_toys_operations(toy: KindDef, voiceid_sandbox: Sandbox) -> None:
    """Where the toy stops: the sandbox answers only what Voice ID's model holds, and a third
    kind's Start is no operation of it (what it needs: the module's docstring)."""
    with pytest.raises(VoiceIdError) as refused:
        voiceid_sandbox.service.invoke(toy.start_operation, {"DomainId": "D" * 22})
    assert refused.value.code == "UnknownOperationException"
    assert refused.value.message == f"Unknown operation {toy.start_operation}"


# --- the toy with a roster of its own ------------------------------------------------------------

ROSTER_SPEC = SPEC.replace(
    "  input: {manifest: s3://bucket/manifests/audit.json}\n",
    "  input:\n"
    "    stagingUri: s3://bucket/staging/\n"
    "    voices:\n"
    "      - {speakerId: caller-1, audio: [s3://bucket/calls/1.wav]}\n"
    "      - {speakerId: caller-2, audio: [{uri: s3://bucket/calls/2.wav, channel: 1}]}\n",
)


def test_a_toy_roster_is_read_by_the_members_the_toy_names(toy: KindDef, tmp_path: Path) -> None:
    """An inline roster under the toy's own member (``voices``) is read, rendered as the toy's
    manifest and staged; the plan's text and the comment count it in the toy's word and show
    its settings as its own spec section."""
    (spec,) = load([_write(tmp_path, ROSTER_SPEC)])
    assert spec.roster == (
        Request("caller-1", (("s3://bucket/calls/1.wav", 0),)),
        Request("caller-2", (("s3://bucket/calls/2.wav", 1),)),
    )
    (job,) = desire([spec], NameResolver())
    assert job.manifest is not None
    assert list(json.loads(job.manifest)) == ["Version", "VoiceprintAuditRequests"]
    assert job.request is not None
    assert job.request.input_s3_uri.startswith("s3://bucket/staging/")

    (action,) = build_plan([job], State()).actions
    digest = job.request.hash
    text = plan_text(Plan((action,)), offline=False, observed_at=None)
    assert text.splitlines()[:2] == [
        "  + start      VoiceprintAuditJob/audit-q4  domain contact-center-prod; 2 voices; "
        f"hash {digest[:12]}; no job for this spec hash",
        "      ⚠ sensitivity HIGH: flags callers on a weak match",
    ]
    details = request_details(action).splitlines()
    assert details[0] == (
        "<details><summary>🟢 start ⚠️ <code>audit-q4</code> · audit · contact-center-prod"
        " · attempt 1</summary>"
    )
    assert details[3:-3] == [
        '+ VoiceprintAuditJob "audit-q4" {',
        '+     domain            = "contact-center-prod"',
        '+     dataAccessRoleArn = "arn:aws:iam::123456789012:role/VoiceIdBatchAccess"',
        "+     revision          = 0",
        "+     input {",
        '+         roster = (2 voices, staged under "s3://bucket/staging/")',
        "+     }",
        "+     output {",
        '+         s3Uri    = "s3://bucket/voiceid-output/"',
        '+         kmsKeyId = "alias/voiceid-output"',
        "+     }",
        "+     audit {",
        '+         sensitivity = "HIGH"  # ⚠ flags callers on a weak match',
        "+         minScore    = 70",
        '+         watchlist   = "ring"',
        "+     }",
        "+     attempt     = 1",
        f'+     JobName     = "audit-q4-{digest[:32]}"',
        f'+     ClientToken = "{digest[:16]}…-1"',
        "+ }",
    ]


def test_a_toy_rosters_data_stays_out_of_messages(toy: KindDef, tmp_path: Path) -> None:
    """A key of the toy's inline roster may be a speaker id: an unknown field there, and a key
    given twice, are named by their place only, as in the product's own kinds."""
    unknown = ROSTER_SPEC.replace("{speakerId: caller-1,", "{caller-1-secret: x, speakerId: c1,")
    _, (error,) = check([_write(tmp_path, unknown)])
    assert error.message == "spec.input.voices[0]: unknown field in a roster (not shown)"
    assert "secret" not in str(error)
    twice = ROSTER_SPEC.replace("{speakerId: caller-1,", "{caller-1-secret: x, caller-1-secret: y,")
    _, (error,) = check([_write(tmp_path, twice)])
    assert error.message == "YAML: duplicate key in a roster (not shown)"
    assert "secret" not in str(error)


def test_the_toys_section_and_fields_are_known_to_the_checks(toy: KindDef, tmp_path: Path) -> None:
    """The toy's section in another kind's spec is named as the toy's; a misspelt field of the
    toy's section gets a "did you mean" from the toy's own fields."""
    enrollment = SPEC.replace("kind: VoiceprintAuditJob", "kind: SpeakerEnrollmentJob")
    _, (error,) = check([_write(tmp_path, enrollment)])
    assert error.message == "'audit' belongs to VoiceprintAuditJob, not to SpeakerEnrollmentJob"
    misspelt = SPEC.replace("sensitivity: HIGH", "sensitivty: HIGH")
    _, (error,) = check([_write(tmp_path, misspelt)])
    assert error.message == "unknown field 'spec.audit.sensitivty'; did you mean 'sensitivity'?"
