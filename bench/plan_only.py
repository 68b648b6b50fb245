"""Plan only (no network): load + validate + resolve + plan N specs, against merely parsing
the same files with PyYAML's C loader. Target: at most 2x.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from reconciler.engine import load, plan_offline
from reconciler.state import State

DOMAINS = ("contact-center-prod", "contact-center-emea", "contact-center-apac")

TEMPLATE = """\
# Generated benchmark spec {i}
apiVersion: voiceid-reconciler/v1
kind: {kind}
metadata:
  name: bench-{i:05d}
  labels: {{team: fraud-ops, batch: "{batch}"}}
spec:
  domain: {domain}
  dataAccessRoleArn: arn:aws:iam::123456789012:role/VoiceIdBatchAccess
  input:
    manifest: s3://voiceid-bench/manifests/bench-{i:05d}.json
  output:
    s3Uri: s3://voiceid-bench/voiceid-output/
    kmsKeyId: alias/voiceid-output
{section}  priority: {priority}
"""
ENROLLMENT = """\
  enrollment:
    existingEnrollmentAction: SKIP
    fraudDetection: {action: FAIL, riskThreshold: 50, watchlist: default}
"""
REGISTRATION = """\
  registration:
    duplicateRegistrationAction: SKIP
    fraudsterSimilarityThreshold: 70
"""


def write_specs(directory: Path, count: int, per_file: int = 1) -> None:
    """``count`` specs over three domains and both kinds, ``per_file`` documents a file."""
    docs = []
    for i in range(count):
        enrol = i % 4 != 0
        docs.append(
            TEMPLATE.format(
                i=i,
                kind="SpeakerEnrollmentJob" if enrol else "FraudsterRegistrationJob",
                batch=i // 100,
                domain=DOMAINS[i % len(DOMAINS)],
                section=ENROLLMENT if enrol else REGISTRATION,
                priority=i % 7,
            )
        )
    for start in range(0, count, per_file):
        sub = directory / f"batch-{start // 1000:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"specs-{start:05d}.yaml").write_text("---\n".join(docs[start : start + per_file]))


def _best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def run(count: int, repeat: int = 3) -> list[tuple[str, str]]:
    """Measure and return (label, value) rows; the last row is the headline ratio."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_specs(root, count)
        files = sorted(root.rglob("*.yaml"))
        state = State(domains={d: (d.replace("-", "")[:10] * 3)[:22] for d in DOMAINS})

        def parse_only() -> None:
            for path in files:
                list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader))

        def ours() -> None:
            specs = load([root])
            result = plan_offline(specs, state.model_copy(deep=True))
            assert len(result.plan.actions) == count

        baseline = _best_of(repeat, parse_only)
        measured = _best_of(repeat, ours)
    return [
        ("plan-only specs", f"{count}"),
        ("plan-only pyyaml C-loader parse s", f"{baseline:.3f}"),
        ("plan-only load+validate+plan s", f"{measured:.3f}"),
        ("plan-only ratio (target <= 2.00)", f"{measured / baseline:.2f}"),
    ]
