"""The shipped IAM policy of the reconciler, enforced on every request a whole apply makes.

The sandbox enforces no IAM, so this test does what AWS would: it runs a whole ``apply --wait``
(manifest specs, enough in one directory to be listed rather than HEADed, an inline roster
that is staged with SSE-KMS, the results of every job read back, the state on S3), takes the
requests the sandbox logged (S3 method, path, query and KMS key; Voice ID operation, DomainId
and the role a Start passes), turns each into the IAM actions AWS authorizes for it, and
evaluates them against ``deploy/iam/reconciler-policy.json`` with moto's IAM policy evaluator
(``moto.iam.access_control.IAMPolicy``, the one moto's access control uses). Every request must
be allowed; and without any one statement, some request must be denied — so every statement is
needed, and none is there for nothing.

The authorization rules applied, as AWS documents them: HeadObject is ``s3:GetObject``; a
404 on a GET or HEAD needs ``s3:ListBucket`` too (without it S3 answers 403); ListObjectsV2 is
``s3:ListBucket`` on the bucket with ``s3:prefix``; a PutObject with SSE-KMS needs
``kms:GenerateDataKey``, a GetObject of an SSE-KMS object ``kms:Decrypt``, both on the key's
ARN and through S3 (``kms:ViaService``); a Start passes its data access role
(``iam:PassRole``, ``iam:PassedToService``). moto's evaluator checks actions, resources and
``StringEquals`` conditions; it does not evaluate ``StringLike`` (the ``s3:prefix`` bounds),
which ``tests/test_deploy.py`` pins by value instead.

The same for ``deploy/iam/data-access-role-policy.json``: the sandbox's job runner logs what
each job accessed as its data access role (the manifest and every audio file it reads, the
output file it writes, and the KMS key of each), and the manifests of this run are SSE-KMS
encrypted with an input key of their own, as a real input bucket may be.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from reconciler.adapters.objects import LIST_THRESHOLD
from reconciler.cli import main
from reconciler.sandbox import Sandbox
from tests.support import World, build_world, write_specs

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "deploy" / "iam" / "reconciler-policy.json"
ROLE_POLICY = ROOT / "deploy" / "iam" / "data-access-role-policy.json"
BUCKETS = {"state": "acme-voiceid-state", "staging": "acme-voiceid-staging", "output": "acme-out"}
STATE, STAGING, OUTPUT = BUCKETS["state"], BUCKETS["staging"], BUCKETS["output"]
"""The input bucket (manifests, audio) is the demo world's."""
TOPIC = "acme-voiceid-events"
"""The SNS topic the run notifies (``--notify sns://...``)."""
INPUT_KEY_ALIAS = "alias/acme-voiceid-input"
"""The KMS key the manifests of the input bucket are encrypted with."""


@dataclass(frozen=True)
class Request:
    """One authorization AWS makes for a request."""

    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    what: str = ""


def _kms_key_arn(sandbox: Sandbox, key: str) -> str:
    kms = sandbox.client("kms")
    try:
        return str(kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"])
    finally:
        kms.close()


def _s3_requests(sandbox: Sandbox, region: str) -> list[Request]:
    out: list[Request] = []
    via_s3 = {"kms:ViaService": f"s3.{region}.amazonaws.com"}
    for logged in sandbox.s3_requests():
        method, path, outcome = logged["method"], logged["path"], logged["outcome"]
        bucket, _, key = path.lstrip("/").partition("/")
        what = f"{method} {path}?{logged['query']} -> {outcome}"
        query = parse_qs(logged["query"])
        if not key:
            assert method in ("GET", "HEAD"), f"unmapped S3 request {what}"
            prefix = query.get("prefix", [""])[0]
            out.append(
                Request("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": prefix}, what)
            )
            continue
        assert not query, f"unmapped S3 request {what}"
        action = {
            "GET": "s3:GetObject",
            "HEAD": "s3:GetObject",
            "PUT": "s3:PutObject",
            "DELETE": "s3:DeleteObject",
        }[method]
        out.append(Request(action, f"arn:aws:s3:::{bucket}/{key}", {}, what))
        if outcome == "404":  # without s3:ListBucket, S3 says 403 instead
            out.append(Request("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": key}, what))
        if logged["kms_key"] and method in ("PUT", "GET"):
            kms_action = "kms:GenerateDataKey" if method == "PUT" else "kms:Decrypt"
            arn = _kms_key_arn(sandbox, logged["kms_key"])
            out.append(Request(kms_action, arn, via_s3, what))
    return out


def _voiceid_requests(sandbox: Sandbox, region: str, account: str) -> list[Request]:
    out: list[Request] = []
    for logged in sandbox.voiceid_requests():
        operation, domain = logged["operation"], logged["domain_id"]
        resource = (
            "*"
            if operation == "ListDomains"
            else (f"arn:aws:voiceid:{region}:{account}:domain/{domain}")
        )
        out.append(Request(f"voiceid:{operation}", resource, {}, operation))
        if logged["role_arn"]:
            out.append(
                Request(
                    "iam:PassRole",
                    logged["role_arn"],
                    {"iam:PassedToService": "voiceid.amazonaws.com"},
                    operation,
                )
            )
    return out


def _role_requests(sandbox: Sandbox, region: str, role_arn: str) -> list[Request]:
    out: list[Request] = []
    via_s3 = {"kms:ViaService": f"s3.{region}.amazonaws.com"}
    for logged in sandbox.role_accesses():
        assert logged["role_arn"] == role_arn, "a job ran as a role the specs do not name"
        action, uri = logged["action"], logged["uri"]
        what = f"{action} {uri}"
        out.append(Request(action, f"arn:aws:s3:::{uri.removeprefix('s3://')}", {}, what))
        if logged["kms_key"]:
            kms_action = "kms:GenerateDataKey" if action == "s3:PutObject" else "kms:Decrypt"
            arn = _kms_key_arn(sandbox, logged["kms_key"])
            out.append(Request(kms_action, arn, via_s3, what))
    return out


def _sns_requests(sandbox: Sandbox) -> list[Request]:
    out = []
    for logged in sandbox.sns_requests():
        action, topic = logged["action"], logged["topic_arn"]
        if action == "CreateTopic":  # the test's own set-up below
            continue
        out.append(Request(f"sns:{action}", str(topic), {}, f"SNS {action}"))
    return out


def _policy(world: World, region: str, account: str, path: Path = POLICY) -> dict[str, Any]:
    key_arn = _kms_key_arn(world.sandbox, world.kms_alias)
    values = {
        "REGION": region,
        "ACCOUNT_ID": account,
        "STATE_BUCKET": STATE,
        "STAGING_BUCKET": STAGING,
        "INPUT_BUCKET": world.bucket,
        "OUTPUT_BUCKET": OUTPUT,
        "MANIFEST_PREFIX": "manifests/",
        "OUTPUT_PREFIX": "output/",
        "OUTPUT_KMS_KEY_ID": key_arn.rsplit("/", 1)[1],
        "INPUT_KMS_KEY_ID": _kms_key_arn(world.sandbox, INPUT_KEY_ALIAS).rsplit("/", 1)[1],
        "DATA_ACCESS_ROLE_NAME": world.role_arn.rsplit("/", 1)[1],
        "NOTIFY_TOPIC_NAME": TOPIC,
    }
    text = path.read_text()
    for name, value in values.items():
        text = text.replace(f"${{{name}}}", value)
    assert "${" not in text, "a placeholder the test does not fill"
    document: dict[str, Any] = json.loads(text)
    return document


def _denied(policy: dict[str, Any], requests: list[Request]) -> list[Request]:
    evaluator = IAMPolicy(json.dumps(policy))
    return [
        r
        for r in requests
        if evaluator.is_action_permitted(r.action, r.resource, None, r.context)
        is not PermissionResult.PERMITTED
    ]


@dataclass(frozen=True)
class WholeApply:
    """A whole apply's world and the authorizations its requests needed: the reconciler's
    (``requests``) and those of the jobs' data access role (``role``)."""

    world: World
    requests: list[Request]
    role: list[Request]


def _encrypt_manifests(s3: Any, sandbox: Sandbox, bucket: str) -> None:
    kms = sandbox.client("kms")
    try:
        key_id = kms.create_key(Description="the input bucket's key")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=INPUT_KEY_ALIAS, TargetKeyId=key_id)
    finally:
        kms.close()
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="manifests/")
    for item in listing["Contents"]:  # rewritten in place, SSE-KMS with the input key
        s3.copy_object(
            Bucket=bucket,
            Key=item["Key"],
            CopySource={"Bucket": bucket, "Key": item["Key"]},
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=key_id,
        )


@pytest.fixture
def whole_apply(voiceid_env: Sandbox, tmp_path: Path) -> WholeApply:
    """A whole apply against the sandbox, and the authorizations its requests needed."""
    world = build_world(voiceid_env)
    s3 = voiceid_env.client("s3")
    for bucket in BUCKETS.values():  # each grant on its own bucket, as in a real account
        s3.create_bucket(Bucket=bucket)
    specs = tmp_path / "specs"
    count = LIST_THRESHOLD + 1  # one directory of manifests, listed rather than HEADed
    write_specs(world, specs, count)
    for path in specs.glob("*.yaml"):
        path.write_text(
            path.read_text().replace(f"s3://{world.bucket}/output/", f"s3://{OUTPUT}/output/")
        )
    single = specs / "spec-0000.yaml"  # and one manifest alone in its directory: HEADed
    s3.copy_object(
        Bucket=world.bucket,
        Key="manifests/alone/spec-0000.json",
        CopySource={"Bucket": world.bucket, "Key": "manifests/spec-0000.json"},
    )
    _encrypt_manifests(s3, voiceid_env, world.bucket)
    s3.close()
    single.write_text(
        single.read_text().replace("manifests/spec-0000", "manifests/alone/spec-0000")
    )
    (specs / "roster.yaml").write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
        "metadata: {name: roster}\n"
        f"spec:\n  domain: voiceid-sandbox-demo\n  dataAccessRoleArn: {world.role_arn}\n"
        f"  input:\n    speakers: [{{speakerId: s-1, audio: ['{world.audio[0]}']}}]\n"
        f"    stagingUri: s3://{STAGING}/voiceid-staging/\n"
        f"  output: {{s3Uri: 's3://{OUTPUT}/output/', kmsKeyId: {world.kms_alias}}}\n"
    )
    voiceid_env.configure(max_active_jobs=count + 1)
    sns = voiceid_env.client("sns")
    topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
    sns.close()
    voiceid_env.reset_calls()
    state = f"s3://{STATE}/voiceid/state.json"
    argv = ["apply", str(specs), "--state", state, "--tps", "0", "--log-format", "json"]
    argv += ["--notify", f"sns://{topic_arn}", "--notify-on", "all", "--notify-interval", "0"]
    wait = ["--wait", "--poll-interval", "0.05", "--max-active", str(count + 1)]
    assert main([*argv, *wait]) == 0
    assert main(argv) == 0  # the results of the last jobs to end
    region, account = voiceid_env.region, voiceid_env.account_id
    requests = _s3_requests(voiceid_env, region) + _voiceid_requests(voiceid_env, region, account)
    requests += _sns_requests(voiceid_env)
    role = _role_requests(voiceid_env, region, world.role_arn)
    return WholeApply(world, requests, role)


def _report(denied: list[Request]) -> str:
    return "denied:\n" + "\n".join(f"{r.action} {r.resource} ({r.what})" for r in denied)


def _unneeded(policy: dict[str, Any], requests: list[Request]) -> list[str]:
    """The statements without which no request of ``requests`` is denied."""
    unneeded = []
    for statement in policy["Statement"]:
        without = {**policy, "Statement": [s for s in policy["Statement"] if s is not statement]}
        if not _denied(without, requests):
            unneeded.append(str(statement["Sid"]))
    return unneeded


def test_a_whole_apply_needs_nothing_the_policy_does_not_allow(whole_apply: WholeApply) -> None:
    world, requests = whole_apply.world, whole_apply.requests
    actions = {r.action for r in requests}
    assert {  # the run exercised every kind of access the policy is about
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "iam:PassRole",
        "voiceid:StartSpeakerEnrollmentJob",
        "voiceid:StartFraudsterRegistrationJob",
        "sns:Publish",
    } <= actions
    region, account = world.sandbox.region, world.sandbox.account_id
    denied = _denied(_policy(world, region, account), requests)
    assert not denied, _report(denied)


def test_every_statement_is_needed(whole_apply: WholeApply) -> None:
    """Without any one statement, some request of the run is denied."""
    world = whole_apply.world
    policy = _policy(world, world.sandbox.region, world.sandbox.account_id)
    unneeded = _unneeded(policy, whole_apply.requests)
    assert not unneeded, f"statements no request of the run needs: {unneeded}"


def test_the_jobs_need_nothing_the_data_access_role_does_not_allow(
    whole_apply: WholeApply,
) -> None:
    """Every access of every job, as its data access role, is allowed; each statement needed."""
    world, role = whole_apply.world, whole_apply.role
    actions = {r.action for r in role}
    assert {"s3:GetObject", "s3:PutObject", "kms:GenerateDataKey", "kms:Decrypt"} <= actions
    staged = [r for r in role if r.resource.startswith(f"arn:aws:s3:::{STAGING}/")]
    assert staged, "no job read a staged roster"
    region, account = world.sandbox.region, world.sandbox.account_id
    policy = _policy(world, region, account, ROLE_POLICY)
    denied = _denied(policy, role)
    assert not denied, _report(denied)
    unneeded = _unneeded(policy, role)
    assert not unneeded, f"statements no access of the jobs needs: {unneeded}"
