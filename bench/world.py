"""Benchmark worlds in the sandbox: D domains, H historical jobs (ours and others'), N specs.

Creating 100,000 historical jobs through the HTTP API would take longer than the benchmark
itself, and the sandbox has no bulk-insert hook, so :func:`seed_history` writes ended jobs
straight into the sandbox's in-process Voice ID state (``VoiceIdService._domains[...].jobs``,
``_next_seq`` and ``_lock``; see ``reconciler/sandbox/state.py``). Those jobs look exactly as if
they had been started and had ended: List* and Describe* serve them like any other job, newest
first by ``seq``.

For the same reason the S3 objects (one manifest per spec, one output file per job of ours)
are written straight into moto's S3 backend, which the sandbox serves on its port: through
HTTP, moto takes about 8 ms an object.

Our jobs in the history carry ``JobName = <metadata.name>-<hash[:32]>`` of a spec of the world,
computed with the reconciler's own identity code (domain names resolved, manifest ETags
known), so the reconciler recognises them; the others carry names of other tools (or none)
and must be ignored.
"""

from __future__ import annotations

import json
import random
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.specs import (
    ENROLLMENT,
    KINDS,
    SpecTarget,
    manifest_uri,
    render_spec,
    spec_kind,
    spec_name,
    write_documents,
)
from reconciler.core.desired import DesiredJob, OfflineResolver, desire
from reconciler.core.identity import job_name
from reconciler.core.loading import load
from reconciler.core.state import State
from reconciler.sandbox import Sandbox
from reconciler.sandbox.state import Job, JobKind

JOB_DURATION = 86_400.0
"""Seconds a job started during a benchmark runs: in-flight jobs stay in flight."""
HISTORY_SPACING = 60.0
"""Seconds between the creation of two historical jobs."""
PAGE_SIZE = 100
"""MaxResults of the reconciler's and the baseline's List* calls (the model's maximum)."""

_SANDBOX_KIND = {ENROLLMENT: JobKind.ENROLLMENT, "FraudsterRegistrationJob": JobKind.REGISTRATION}
_KIND_OF = {v: k for k, v in _SANDBOX_KIND.items()}
_ID_ALPHABET = string.ascii_letters + string.digits
_FOREIGN_OUTCOMES = (
    ("COMPLETED", None),
    ("COMPLETED", None),
    ("COMPLETED_WITH_ERRORS", None),
    ("FAILED", {"StatusCode": 400, "Message": "The manifest could not be read"}),
)


@dataclass(frozen=True)
class World:
    """A seeded sandbox account and a directory holding its specs and state file."""

    sandbox: Sandbox
    root: Path
    domains: dict[str, str]
    """Domain name -> DomainId, in creation order."""
    target: SpecTarget
    manifests: dict[str, str] = field(default_factory=dict)
    """Manifest URI -> ETag, of every manifest written so far."""

    @property
    def specs_dir(self) -> Path:
        return self.root / "specs"

    @property
    def state_path(self) -> Path:
        return self.root / "voiceid-state.json"

    def add_specs(self, count: int, *, prefix: str = "bench", kind: str | None = None) -> None:
        """``count`` spec files (spec ``i`` in domain ``i mod D``) and their manifests in S3."""
        docs = [render_spec(i, self.target, prefix=prefix, kind=kind) for i in range(count)]
        write_documents(self.specs_dir, docs, prefix=prefix)
        backend = s3_backend(self.sandbox)
        for i in range(count):
            name = spec_name(i, prefix)
            uri = manifest_uri(name, self.target)
            body = _manifest(kind or spec_kind(i), name)
            key = backend.put_object(self.target.bucket, uri.split("/", 3)[3], body)
            self.manifests[uri] = str(key.etag).strip('"')

    def desired(self) -> list[DesiredJob]:
        """Every spec of the world resolved as the reconciler resolves it (hash included)."""
        state = State(domains=dict(self.domains), manifests=dict(self.manifests))
        return desire(load([self.specs_dir]), OfflineResolver(state))

    def delete_state(self) -> None:
        """Remove the state file, its backup, lock, journal and spec cache (a cold start)."""
        for suffix in ("", ".backup", ".lock", ".journal", ".cache"):
            self.state_path.with_name(self.state_path.name + suffix).unlink(missing_ok=True)


def s3_backend(sandbox: Sandbox) -> Any:
    """moto's S3 backend of the sandbox's account (the one its S3 endpoint serves)."""
    from moto.s3.models import s3_backends

    return s3_backends[sandbox.account_id]["aws"]


def build_world(sandbox: Sandbox, root: Path, domains: int) -> World:
    """A fresh sandbox with ``domains`` ACTIVE domains (the demo one first); no jobs yet.

    The sandbox is reset (S3 and KMS included) and its jobs run for :data:`JOB_DURATION`.
    Set-up goes through the emulator directly, so it is neither counted nor throttled.
    """
    sandbox.reset(aws=True)
    sandbox.configure(
        profile="fast", job_duration=JOB_DURATION, max_domains=max(3, domains), max_active_jobs=1
    )
    demo = sandbox.seed_demo_world()
    names = {demo.domain_name: demo.domain_id}
    for i in range(1, domains):
        created = sandbox.service.invoke(
            "CreateDomain",
            {
                "Name": f"bench-domain-{i}",
                "ServerSideEncryptionConfiguration": {"KmsKeyId": demo.kms_key_arn},
            },
        )["Domain"]
        names[created["Name"]] = created["DomainId"]
    root.mkdir(parents=True, exist_ok=True)
    target = SpecTarget(
        domains=tuple(names),
        role_arn=demo.role_arn,
        bucket=demo.bucket,
        kms_key=demo.kms_alias,
    )
    return World(sandbox, root, names, target)


def seed_history(
    world: World, ours: Sequence[DesiredJob], foreign: int, *, seed: int = 0
) -> Counter[tuple[str, str]]:
    """Ended jobs in the sandbox: one COMPLETED job for each of ``ours`` (named by its hash,
    with its output file in S3) and ``foreign`` jobs of other tools, spread over the domains
    and both kinds, interleaved.

    Returns the number of historical jobs per (DomainId, kind) after seeding.
    """
    rng = random.Random(seed)
    service = world.sandbox.service
    jobs: list[_Seed] = []
    for job in ours:
        request = job.request
        assert request is not None, f"{job.spec.key} is blocked: {job.blocked}"
        name = job_name(job.spec.name, request.hash)
        params = request.api_params(client_token="unused", job_name=name)
        del params["ClientToken"]
        jobs.append(_Seed(request.domain_id, job.spec.kind, params, "COMPLETED", ours=True))
    slots = [(domain_id, kind) for domain_id in world.domains.values() for kind in KINDS]
    for i in range(foreign):
        domain_id, kind = slots[i % len(slots)]
        status, failure = _FOREIGN_OUTCOMES[i % len(_FOREIGN_OUTCOMES)]
        jobs.append(_Seed(domain_id, kind, _foreign_request(world, kind, i), status, failure))
    rng.shuffle(jobs)

    backend = s3_backend(world.sandbox)
    counts: Counter[tuple[str, str]] = Counter()
    with service._lock:
        start = service.now() - HISTORY_SPACING * (len(jobs) + 10) - 3600.0
        used: set[str] = set()
        for n, item in enumerate(jobs):
            job_id = _new_id(rng, used)
            sandbox_kind = _SANDBOX_KIND[item.kind]
            service._domains[item.domain_id].jobs[sandbox_kind][job_id] = Job(
                kind=sandbox_kind,
                job_id=job_id,
                domain_id=item.domain_id,
                seq=service._next_seq(),
                created_at=start + n * HISTORY_SPACING,
                duration=1800.0,
                request=item.params,
                final_status=item.status,
                failure=item.failure,
            )
            if item.ours:
                _write_output(backend, item.kind, job_id, item.params)
        for domain_id, domain in service._domains.items():
            for sandbox_kind, held in domain.jobs.items():
                counts[(domain_id, _KIND_OF[sandbox_kind])] = len(held)
    return counts


@dataclass(frozen=True)
class _Seed:
    """One historical job to seed."""

    domain_id: str
    kind: str
    params: dict[str, Any]
    """The Start request without its ClientToken (what the sandbox keeps)."""
    status: str
    failure: dict[str, Any] | None = None
    ours: bool = False


def _write_output(backend: Any, kind: str, job_id: str, params: dict[str, Any]) -> None:
    """The output file of a COMPLETED job of ours: ``<output>/<JobId>/<input name>.out``."""
    bucket, _, prefix = params["OutputDataConfig"]["S3Uri"].removeprefix("s3://").partition("/")
    name = params["InputDataConfig"]["S3Uri"].rstrip("/").rpartition("/")[2]
    key = f"{prefix.rstrip('/')}/{job_id}/{name}.out".lstrip("/")
    if kind == ENROLLMENT:
        done: dict[str, Any] = {
            "SuccessfulEnrollments": [
                {
                    "RequestId": "r1",
                    "GeneratedSpeakerId": f"id#{job_id}",
                    "CustomerSpeakerId": f"caller-{job_id[:8]}",
                    "EnrollmentStatus": "NEW_ENROLLMENT",
                }
            ]
        }
    else:
        done = {
            "SuccessfulRegistrations": [
                {
                    "RequestId": "r1",
                    "GeneratedFraudsterId": job_id[:16],
                    "RegistrationStatus": "NEW_REGISTRATION",
                    "FraudsterSimilarityScore": 0,
                }
            ]
        }
    body = json.dumps({"Version": "1.0", "Errors": [], **done}).encode()
    backend.put_object(bucket, key, body)


def _manifest(kind: str, name: str) -> bytes:
    request: dict[str, Any] = {
        "RequestId": "r1",
        "AudioSpecifications": [{"S3Uri": f"s3://bench-audio/{name}.wav", "ChannelId": 0}],
    }
    if kind == ENROLLMENT:
        request["SpeakerId"] = f"caller-{name}"
        return json.dumps({"Version": "1.0", "SpeakerEnrollmentRequests": [request]}).encode()
    return json.dumps({"Version": "1.0", "FraudsterRegistrationRequests": [request]}).encode()


def _foreign_request(world: World, kind: str, i: int) -> dict[str, Any]:
    """A Start request of another tool: its own naming (or none), a plain configuration."""
    bucket = world.target.bucket
    params: dict[str, Any] = {
        "DataAccessRoleArn": world.target.role_arn,
        "InputDataConfig": {"S3Uri": f"s3://{bucket}/legacy/batch-{i:06d}.json"},
        "OutputDataConfig": {"S3Uri": f"s3://{bucket}/legacy-output/"},
    }
    if i % 10:  # one job in ten was started without a JobName
        params["JobName"] = f"nightly-{'enrol' if kind == ENROLLMENT else 'fraud'}-{i:06d}"
    if kind == ENROLLMENT:
        params["EnrollmentConfig"] = {"ExistingEnrollmentAction": "SKIP"}
    else:
        params["RegistrationConfig"] = {"DuplicateRegistrationAction": "SKIP"}
    return params


def _new_id(rng: random.Random, used: set[str]) -> str:
    while True:
        value = "".join(rng.choices(_ID_ALPHABET, k=22))
        if value not in used:
            used.add(value)
            return value
