"""The deployment files: the image, the Kubernetes manifests and the IAM policies.

Nothing here needs a Docker engine, a cluster or an AWS account: the Dockerfile is linted
(hadolint), the manifests are validated against the Kubernetes schemas that
kubernetes-validate ships (offline), and the IAM policies are checked against the Voice ID
operations the code really calls and against the IAM action catalogue that cfn-lint ships.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
IAM = DEPLOY / "iam"
K8S = DEPLOY / "kubernetes"
CRONJOB = K8S / "cronjob.yaml"
SHARDED_JOB = K8S / "sharded" / "job.yaml"
UID = 10001
# The oldest Kubernetes the manifests are meant for (podFailurePolicy, backoffLimitPerIndex and
# CronJob timeZone are on by default from 1.29) and the newest that kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29", "1.37")
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def _tool(name: str) -> Path:
    """A console script of this virtualenv (next to the interpreter running the tests)."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is not installed (pip install -e '.[test]' installs it)"
    return path


def _policy(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((IAM / name).read_text())
    return document


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _yaml(path: Path) -> dict[str, Any]:
    [document] = yaml.safe_load_all(path.read_text())
    assert isinstance(document, dict)
    return document


# -- IAM ----------------------------------------------------------------------------------------


def _operations_called_by_the_adapter() -> set[str]:
    """Voice ID operation names written anywhere in reconciler/adapters/voiceid.py (the one
    adapter) or in the job kinds' modules (each kind names the operations the adapter calls
    for it: reconciler/core/jobkinds)."""
    model = botocore.session.get_session().get_service_model("voice-id")
    operations = set(model.operation_names)
    sources = [ROOT / "reconciler" / "adapters" / "voiceid.py"]
    sources += sorted((ROOT / "reconciler" / "core" / "jobkinds").glob("*.py"))
    return {
        node.value
        for source in sources
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if node.value in operations
    }


def test_the_reconciler_may_call_exactly_the_voice_id_operations_it_calls() -> None:
    """The policy's voiceid: actions are the adapter's operations: none missing, none extra."""
    called = _operations_called_by_the_adapter()
    assert {"ListDomains", "ListWatchlists", "StartSpeakerEnrollmentJob"} <= called
    granted = {
        action
        for statement in _statements(_policy("reconciler-policy.json"))
        for action in _as_list(statement["Action"])
        if action.startswith("voiceid:")
    }
    assert granted == {f"voiceid:{operation}" for operation in called}


def test_voice_id_may_use_the_data_access_role_only_through_pass_role() -> None:
    """PassRole is granted on the data access role alone, and only towards Voice ID."""
    [statement] = [
        s
        for s in _statements(_policy("reconciler-policy.json"))
        if "iam:PassRole" in _as_list(s["Action"])
    ]
    assert _as_list(statement["Action"]) == ["iam:PassRole"]
    assert statement["Resource"] == "arn:aws:iam::${ACCOUNT_ID}:role/${DATA_ACCESS_ROLE_NAME}"
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "voiceid.amazonaws.com"}
    }


def test_the_state_permissions_cover_the_object_its_lock_and_its_backup() -> None:
    """Get/Put/Delete on the state prefix (state, .lock, .backup) and a prefix-bound list."""
    statements = _statements(_policy("reconciler-policy.json"))
    objects = {
        action
        for s in statements
        if s["Resource"] == "arn:aws:s3:::${STATE_BUCKET}/voiceid/*"
        for action in _as_list(s["Action"])
    }
    assert objects == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    [listing] = [
        s
        for s in statements
        if "s3:ListBucket" in _as_list(s["Action"]) and "${STATE_BUCKET}" in s["Resource"]
    ]
    assert listing["Resource"] == "arn:aws:s3:::${STATE_BUCKET}"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["voiceid/*"]}}
    configmap = _yaml(K8S / "common" / "configmap.yaml")["data"]
    assert configmap["VOICEID_RECONCILER_STATE"] == "s3://${STATE_BUCKET}/voiceid/state.json"
    assert configmap["VOICEID_RECONCILER_STATE_PREFIX"] == "s3://${STATE_BUCKET}/voiceid/"


def test_the_data_access_role_has_what_voice_id_needs_and_trusts_only_voice_id() -> None:
    """Read input, write output, the two KMS keys; assumed by voiceid with confused-deputy keys."""
    granted = {
        (action, resource)
        for s in _statements(_policy("data-access-role-policy.json"))
        for action in _as_list(s["Action"])
        for resource in _as_list(s["Resource"])
    }
    output_key = "arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/${OUTPUT_KMS_KEY_ID}"
    input_key = "arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/${INPUT_KMS_KEY_ID}"
    assert granted == {
        ("s3:GetObject", "arn:aws:s3:::${INPUT_BUCKET}/*"),
        ("s3:GetObject", "arn:aws:s3:::${STAGING_BUCKET}/voiceid-staging/*"),
        ("s3:PutObject", "arn:aws:s3:::${OUTPUT_BUCKET}/${OUTPUT_PREFIX}*"),
        ("kms:Decrypt", output_key),
        ("kms:GenerateDataKey", output_key),
        ("kms:Decrypt", input_key),
    }
    via_s3 = {"StringEquals": {"kms:ViaService": "s3.${REGION}.amazonaws.com"}}
    kms = [
        s
        for s in _statements(_policy("data-access-role-policy.json"))
        if "kms:Decrypt" in s["Action"]
    ]
    assert [s.get("Condition") for s in kms] == [via_s3, via_s3]  # the keys only through S3
    [trust] = _statements(_policy("data-access-role-trust.json"))
    assert trust["Principal"] == {"Service": "voiceid.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "${ACCOUNT_ID}"}
    assert trust["Condition"]["ArnLike"] == {
        "aws:SourceArn": "arn:aws:voiceid:${REGION}:${ACCOUNT_ID}:domain/*"
    }


def test_the_irsa_trust_admits_only_the_reconcilers_service_account() -> None:
    """sts:AssumeRoleWithWebIdentity for system:serviceaccount:<ns>:<sa> of the manifests."""
    [trust] = _statements(_policy("reconciler-trust-irsa.json"))
    account = _yaml(K8S / "common" / "serviceaccount.yaml")["metadata"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"]["StringEquals"] == {
        "${OIDC_PROVIDER}:sub": f"system:serviceaccount:{account['namespace']}:{account['name']}",
        "${OIDC_PROVIDER}:aud": "sts.amazonaws.com",
    }


@pytest.mark.parametrize("path", sorted(IAM.glob("*.json")), ids=lambda p: p.name)
def test_each_iam_file_is_a_well_formed_policy(path: Path) -> None:
    """Version 2012-10-17; Allow statements with unique Sids; trust policies name a Principal."""
    document = json.loads(path.read_text())
    assert set(document) == {"Version", "Statement"}
    assert document["Version"] == "2012-10-17"
    statements = _statements(document)
    assert statements
    sids = [s["Sid"] for s in statements]
    assert len(sids) == len(set(sids))
    trust = "trust" in path.stem
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", a) for a in _as_list(statement["Action"]))
        assert ("Principal" in statement) is trust
        assert ("Resource" in statement) is not trust


def _iam_catalogue() -> dict[str, Any]:
    """cfn-lint's copy of the Service Authorization Reference (actions and ARN formats)."""
    from importlib.resources import files

    catalogue: dict[str, Any] = json.loads(
        files("cfnlint").joinpath("data/AdditionalSpecs/Policies.json").read_text()
    )
    return catalogue


def _arn_pattern(arn_format: str) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[^}]+\}|\.\*)", arn_format)
    regex = "".join(
        "[^:]*" if p.startswith("${") else ".*" if p == ".*" else re.escape(p) for p in parts
    )
    return re.compile(regex)


@pytest.mark.parametrize("path", sorted(IAM.glob("*policy.json")), ids=lambda p: p.name)
def test_every_action_exists_and_every_resource_has_its_type(path: Path) -> None:
    """Each action is a real IAM action; each Resource fits the action's ARN formats ("*" only
    for actions that take no resource)."""
    catalogue = _iam_catalogue()
    for statement in _statements(_policy(path.name)):
        for action in _as_list(statement["Action"]):
            service, name = action.split(":")
            entry = catalogue[service]["Actions"].get(name.lower())
            assert entry is not None, f"{action} is not an IAM action"
            types = entry.get("Resources", [])
            for resource in _as_list(statement["Resource"]):
                if not types:
                    assert resource == "*", f"{action} takes no resource: use *"
                    continue
                formats = [
                    f for t in types for f in catalogue[service]["Resources"][t]["ARNFormats"]
                ]
                assert any(_arn_pattern(f).fullmatch(resource) for f in formats), (
                    f"{resource} is not a resource of {action}"
                )


def test_every_placeholder_is_documented() -> None:
    """Each ${NAME} in deploy/ appears in docs/deployment.md, which says how to fill it."""
    used = {
        name
        for path in DEPLOY.rglob("*")
        if path.suffix in {".json", ".yaml"}
        for name in PLACEHOLDER.findall(path.read_text())
    }
    documented = set(PLACEHOLDER.findall((ROOT / "docs" / "deployment.md").read_text()))
    assert used
    assert used <= documented, f"undocumented: {sorted(used - documented)}"


# -- the image ----------------------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    """hadolint (every rule, down to style) reports no finding."""
    result = subprocess.run(
        [str(_tool("hadolint")), "--no-color", "--failure-threshold", "style", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_image_is_pinned_unprivileged_and_runs_the_reconciler() -> None:
    """Exact Python patch base, numeric non-root USER, the entry point and default command."""
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm$", text, re.M)
    froms = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.M)
    assert froms == [("${PYTHON_IMAGE}", "build"), ("${PYTHON_IMAGE}", "runtime")]
    assert re.findall(r"^USER (.+)$", text, re.M) == [f"{UID}:{UID}"]
    assert "WORKDIR /work" in text
    assert 'ENTRYPOINT ["voiceid-reconciler"]' in text
    assert 'CMD ["apply", "/specs"]' in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert "PYTHONUNBUFFERED=1" in text
    assert all("--no-cache-dir" in line for line in re.findall(r"pip (?:install|wheel).*", text))


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    """.dockerignore starts from nothing (no .venv, .git, caches) and lets in each COPY source."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    included = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    copied = {
        source.rstrip("/")
        for line in re.findall(r"^COPY (?!--from)(.+)$", (ROOT / "Dockerfile").read_text(), re.M)
        for source in line.split()[:-1]
    }
    assert copied == included
    assert all((ROOT / source).exists() for source in copied)


def _locked() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as ``{normalized name: (version, [sha256 hashes])}``."""
    pins: dict[str, tuple[str, list[str]]] = {}
    text = (ROOT / "requirements.lock").read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split(" --hash=")
        pin, _, marker = requirement.partition(";")
        name, _, version = pin.strip().partition("==")
        assert version, f"requirements.lock: {requirement!r} is not pinned with =="
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue  # another platform's (tzdata on Windows): the lock is universal
        pins[canonicalize_name(name)] = (version, [o.strip() for o in options])
    return pins


def test_the_image_lock_pins_every_runtime_dependency_with_hashes() -> None:
    """The image installs from requirements.lock with --require-hashes: it pins exactly the
    runtime closure of pyproject.toml's dependencies and its notify extra (no test or sandbox
    extra), each at a
    version pyproject.toml allows, each with its files' sha256 hashes. (That the build
    installs from it is .ci/image's to show; refreshing it: docs/deployment.md.)"""
    pins = _locked()
    assert all(
        hashes and all(h.startswith("sha256:") for h in hashes) for _, hashes in pins.values()
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    closure: set[str] = set()
    image = [*project["dependencies"], *project["optional-dependencies"]["notify"]]
    todo = [Requirement(r) for r in image]
    for requirement in todo:  # the versions pyproject.toml asks for
        version = pins[canonicalize_name(requirement.name)][0]
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:  # the closure, as this environment's distributions declare it (extras too)
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        wanted = (name, frozenset(requirement.extras))
        if wanted in seen:
            continue
        seen.add(wanted)
        closure.add(name)
        for text in importlib.metadata.requires(name) or ():
            child = Requirement(text)
            extras = ["", *requirement.extras]
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in extras):
                todo.append(child)
    assert closure <= set(pins), f"not in requirements.lock: {sorted(closure - set(pins))}"
    assert set(pins) <= closure, f"more than the image needs: {sorted(set(pins) - closure)}"


# -- Kubernetes ---------------------------------------------------------------------------------


def _resource_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def test_kubernetes_validate_accepts_every_manifest_offline() -> None:
    """Every resource validates strictly against the shipped schemas of the oldest and newest
    supported Kubernetes (kustomization files have no schema there and are checked below)."""
    versions = [arg for version in KUBERNETES_VERSIONS for arg in ("-k", version)]
    files = _resource_files()
    result = subprocess.run(
        [str(_tool("kubernetes-validate")), "--strict", *versions, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARN" not in result.stdout
    assert "ERROR" not in result.stdout
    passed = re.findall(r"^INFO (\S+) passed", result.stdout, re.M)
    assert sorted(set(passed)) == sorted(map(str, files))
    assert len(passed) == len(files) * len(KUBERNETES_VERSIONS)


def test_each_kustomization_lists_exactly_its_own_resources() -> None:
    """No manifest is left out of a kustomization, and none is listed that does not exist."""
    listed: set[Path] = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        document = _yaml(kustomization)
        assert document["kind"] == "Kustomization"
        for entry in document["resources"]:
            target = (kustomization.parent / entry).resolve()
            assert target.exists(), f"{kustomization}: {entry} does not exist"
            if target.is_file():
                listed.add(target)
            else:
                assert (target / "kustomization.yaml").exists()
    assert listed == {p.resolve() for p in _resource_files()}


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    job = spec["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else spec
    pod: dict[str, Any] = job["template"]["spec"]
    return pod


def _container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod["containers"] + pod["initContainers"]
    [container] = [c for c in containers if c["name"] == name]
    return container


WORKLOADS = pytest.mark.parametrize("path", [CRONJOB, SHARDED_JOB], ids=["cronjob", "sharded"])


def _period_seconds(schedule: str) -> int:
    """The shortest time between two runs of a cron schedule of the form "M1,M2,... * * * *"
    (or "M * * * *": hourly)."""
    minute, *rest = schedule.split()
    assert rest == ["*", "*", "*", "*"], f"a schedule this test does not read: {schedule}"
    minutes = sorted(int(m) for m in minute.split(","))
    gaps = [b - a for a, b in zip(minutes, [*minutes[1:], minutes[0] + 60], strict=True)]
    return min(gaps) * 60


def test_the_cronjob_never_overlaps_and_is_bounded_in_time() -> None:
    """Forbid, a starting deadline, a backoff limit; a short wait (the schedule continues what
    a run leaves running) that ends before the Job's deadline, which ends before the next
    run's slot."""
    cronjob = _yaml(CRONJOB)
    spec = cronjob["spec"]
    job = spec["jobTemplate"]["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    period = _period_seconds(spec["schedule"])
    assert 0 < spec["startingDeadlineSeconds"] < period
    assert job["backoffLimit"] >= 0
    args = _container(_pod(cronjob), "reconciler")["args"]
    assert "--wait" in args
    timeout = float(args[args.index("--timeout") + 1])
    poll = float(args[args.index("--poll-interval") + 1])
    assert poll < timeout <= period / 2  # a short wait: a few polls, not the whole period
    assert timeout < job["activeDeadlineSeconds"] < period  # the run ends before the next slot


@WORKLOADS
def test_the_schedule_starts_only_reviewed_intents_and_progress_is_not_failure(
    path: Path,
) -> None:
    """The unattended apply requires approval (a start nobody reviewed is held, not started),
    fails on a blocked spec, and exits 0 when its wait times out with jobs running (no
    --fail-on-timeout: exit 3 is not an outcome of the schedule)."""
    args = _container(_pod(_yaml(path)), "reconciler")["args"]
    assert args[0] == "apply"
    assert "--require-approval" in args
    assert "--auto-approve" not in args
    assert "--plan-checksum" not in args
    assert "--fail-on-timeout" not in args
    assert args[args.index("--fail-on") + 1].split(",") == ["blocked"]


@WORKLOADS
def test_every_container_runs_locked_down(path: Path) -> None:
    """Non-root 10001, RuntimeDefault seccomp, read-only root, no escalation, no capabilities,
    requests and limits for every container."""
    pod = _pod(_yaml(path))
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == UID
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"] + pod["initContainers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == UID
        assert security["capabilities"] == {"drop": ["ALL"]}
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind])


@WORKLOADS
def test_specs_come_from_git_and_tmp_is_an_empty_dir(path: Path) -> None:
    """git-sync (pinned v4, one-time) fills an emptyDir that the reconciler reads at
    <root>/<link>; /tmp is an emptyDir; logs are JSON; state and region come from the config."""
    pod = _pod(_yaml(path))
    volumes = {v["name"]: v for v in pod["volumes"]}
    sync = _container(pod, "git-sync")
    reconciler = _container(pod, "reconciler")
    assert re.fullmatch(r"registry\.k8s\.io/git-sync/git-sync:v4\.\d+\.\d+", sync["image"])
    options = dict(a.removeprefix("--").partition("=")[::2] for a in sync["args"])
    assert "one-time" in options
    mounts = {m["mountPath"]: m for m in reconciler["volumeMounts"]}
    specs = mounts[options["root"]]
    assert "emptyDir" in volumes[specs["name"]]
    assert specs.get("readOnly") is True
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    args = reconciler["args"]
    assert args[:2] == ["apply", f"{options['root']}/{options['link']}"]
    assert args[args.index("--log-format") + 1] == "json"
    env = {e["name"] for e in reconciler["env"]}
    assert "AWS_REGION" in env
    assert env & {"VOICEID_RECONCILER_STATE", "VOICEID_RECONCILER_STATE_PREFIX"}
    assert pod["serviceAccountName"] == "voiceid-reconciler"


def test_the_service_account_is_annotated_for_irsa() -> None:
    """eks.amazonaws.com/role-arn names the reconciler's role."""
    account = _yaml(K8S / "common" / "serviceaccount.yaml")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == (
        "arn:aws:iam::${ACCOUNT_ID}:role/voiceid-reconciler"
    )


def test_the_sharded_job_runs_one_pod_per_shard() -> None:
    """Indexed, completions = parallelism = VOICEID_RECONCILER_SHARD_COUNT = 4, one state per
    shard, and the documented command line."""
    job = _yaml(SHARDED_JOB)
    spec = job["spec"]
    reconciler = _container(_pod(job), "reconciler")
    env = {e["name"]: e.get("value") for e in reconciler["env"]}
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == int(env["VOICEID_RECONCILER_SHARD_COUNT"])
    assert spec["completions"] == 4
    args = reconciler["args"]
    cronjob_args = _container(_pod(_yaml(CRONJOB)), "reconciler")["args"]
    assert args[: args.index("--state")] == cronjob_args  # the schedule's command, sharded
    assert args[args.index("--metrics-file") + 1] == "/tmp/metrics/voiceid.prom"
    # The reconciler derives one state object per shard from --state (state.shard-I-of-N.json)
    # and its shard from JOB_COMPLETION_INDEX and VOICEID_RECONCILER_SHARD_COUNT.
    assert args[args.index("--state") + 1] == "$(VOICEID_RECONCILER_STATE_PREFIX)state.json"
    assert "--shard" not in args


@pytest.mark.parametrize("path", [CRONJOB, ROOT / "deploy/kubernetes/sharded/job.yaml"])
def test_the_pod_failure_policy_fails_at_once_on_every_verdict_exit(path: Path) -> None:
    """podFailurePolicy agrees with the exit table: every verdict (a retry would exit 0 and
    hide it, e.g. exit 8) fails the Job or index at once; a held lock and an interruption are
    retried; evictions are ignored. The codes are the README's exit table's."""
    from reconciler.cli import exits

    documented = {
        int(m.group(1))
        for m in re.finditer(r"^\| (\d+) \| ", (ROOT / "README.md").read_text(), re.MULTILINE)
    }
    assert documented == exits.VERDICTS | exits.RETRIED_BY_KUBERNETES | {exits.EXIT_OK}
    document = _yaml(path)
    spec = document["spec"]
    job = spec["jobTemplate"]["spec"] if document["kind"] == "CronJob" else spec
    (fail, ignore) = job["podFailurePolicy"]["rules"]
    assert fail["action"] in ("FailJob", "FailIndex")
    assert fail["onExitCodes"]["operator"] == "In"
    assert fail["onExitCodes"]["containerName"] == "reconciler"
    assert set(fail["onExitCodes"]["values"]) == exits.VERDICTS
    assert ignore == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
