"""Generated spec files for the benchmarks: one document a file, several domains, both kinds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ENROLLMENT = "SpeakerEnrollmentJob"
REGISTRATION = "FraudsterRegistrationJob"
KINDS = (ENROLLMENT, REGISTRATION)

TEMPLATE = """\
# Generated benchmark spec {i}
apiVersion: voiceid-reconciler/v1
kind: {kind}
metadata:
  name: {name}
  labels: {{team: fraud-ops, batch: "{batch}"}}
spec:
  domain: {domain}
  dataAccessRoleArn: {role_arn}
  input:
    manifest: s3://{bucket}/manifests/{name}.json
  output:
    s3Uri: s3://{bucket}/voiceid-output/
    kmsKeyId: {kms_key}
{section}  priority: {priority}
"""
ENROLLMENT_SECTION = """\
  enrollment:
    existingEnrollmentAction: SKIP
    fraudDetection: {action: FAIL, riskThreshold: 50, watchlist: default}
"""
REGISTRATION_SECTION = """\
  registration:
    duplicateRegistrationAction: SKIP
    fraudsterSimilarityThreshold: 70
"""


@dataclass(frozen=True)
class SpecTarget:
    """Where generated specs point: domain names, the role, the bucket and the output key."""

    domains: tuple[str, ...] = (
        "contact-center-prod",
        "contact-center-emea",
        "contact-center-apac",
    )
    role_arn: str = "arn:aws:iam::123456789012:role/VoiceIdBatchAccess"
    bucket: str = "voiceid-bench"
    kms_key: str = "alias/voiceid-output"


def spec_kind(i: int) -> str:
    """Three enrollments for every registration."""
    return REGISTRATION if i % 4 == 0 else ENROLLMENT


def spec_name(i: int, prefix: str = "bench") -> str:
    return f"{prefix}-{i:05d}"


def manifest_uri(name: str, target: SpecTarget) -> str:
    """The manifest a generated spec points at."""
    return f"s3://{target.bucket}/manifests/{name}.json"


def render_spec(
    i: int, target: SpecTarget, *, prefix: str = "bench", kind: str | None = None
) -> str:
    """The text of spec number ``i``: name ``<prefix>-<i:05d>``, domain ``i mod domains``."""
    kind = kind or spec_kind(i)
    return TEMPLATE.format(
        i=i,
        kind=kind,
        name=spec_name(i, prefix),
        batch=i // 100,
        domain=target.domains[i % len(target.domains)],
        role_arn=target.role_arn,
        bucket=target.bucket,
        kms_key=target.kms_key,
        section=ENROLLMENT_SECTION if kind == ENROLLMENT else REGISTRATION_SECTION,
        priority=i % 7,
    )


def write_specs(
    directory: Path,
    count: int,
    target: SpecTarget | None = None,
    *,
    prefix: str = "bench",
    per_file: int = 1,
) -> None:
    """``count`` specs over the target's domains and both kinds, ``per_file`` documents a file,
    a thousand files a sub-directory."""
    target = target or SpecTarget()
    docs = [render_spec(i, target, prefix=prefix) for i in range(count)]
    write_documents(directory, docs, prefix=prefix, per_file=per_file)


def write_documents(
    directory: Path, docs: Sequence[str], *, prefix: str = "bench", per_file: int = 1
) -> None:
    """Spec documents into files ``<prefix>-<batch>/specs-<n>.yaml`` under ``directory``."""
    for start in range(0, len(docs), per_file):
        sub = directory / f"{prefix}-{start // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"specs-{start:05d}.yaml").write_text("---\n".join(docs[start : start + per_file]))
