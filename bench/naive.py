"""The naive baseline, for comparison only: what a script or a Terraform-style refresh does.

Every run, it lists every job of every domain (all pages, both kinds, holding the summaries as
a refresh holds its resources), then Describes each job that a spec refers to (its JobName
carries the spec's ``metadata.name``). It keeps no state between runs, so every run costs the
same, and it starts nothing: its calls are only the refresh, which makes the comparison
conservative (the reconciler's Start calls are counted, the baseline has none).

``python -m bench.naive SPECS_DIR`` runs it with a boto3 client built from the standard AWS
settings (the benchmark points them at the sandbox) and prints one JSON line of what it saw.
The benchmark counts its calls with the sandbox's counter, not with anything printed here.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.config import Config

from reconciler.core.identity import parse_job_name

OPERATIONS = {
    "SpeakerEnrollmentJob": ("list_speaker_enrollment_jobs", "describe_speaker_enrollment_job"),
    "FraudsterRegistrationJob": (
        "list_fraudster_registration_jobs",
        "describe_fraudster_registration_job",
    ),
}


def spec_names(directory: Path) -> dict[str, set[str]]:
    """``metadata.name`` of every spec under ``directory``, per kind (PyYAML's C loader)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    names: dict[str, set[str]] = defaultdict(set)
    for path in sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml")):
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader):
            if isinstance(doc, dict):
                names[str(doc.get("kind"))].add(str((doc.get("metadata") or {}).get("name")))
    return names


def _pages(method: Any, **params: Any) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        page: dict[str, Any] = method(**params, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken")
        if not token:
            return


def refresh(client: Any, directory: Path) -> dict[str, int]:
    """List everything, then Describe every job a spec refers to; return what was seen."""
    wanted = spec_names(directory)
    domains = [
        domain["DomainId"]
        for page in _pages(client.list_domains, MaxResults=10)
        for domain in page["DomainSummaries"]
    ]
    listed: list[tuple[str, str, dict[str, Any]]] = []
    for domain_id in domains:
        for kind, (list_op, _) in OPERATIONS.items():
            for page in _pages(getattr(client, list_op), DomainId=domain_id, MaxResults=100):
                listed.extend((kind, domain_id, summary) for summary in page["JobSummaries"])
    described: list[dict[str, Any]] = []
    for kind, domain_id, summary in listed:
        parts = parse_job_name(summary.get("JobName"))
        if parts is not None and parts.name in wanted.get(kind, ()):
            describe = getattr(client, OPERATIONS[kind][1])
            described.append(describe(DomainId=domain_id, JobId=summary["JobId"])["Job"])
    return {"domains": len(domains), "listed": len(listed), "described": len(described)}


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        raise SystemExit("usage: python -m bench.naive SPECS_DIR")
    client = boto3.client("voice-id", config=Config(retries={"total_max_attempts": 1}))
    try:
        print(json.dumps(refresh(client, Path(args[0])), sort_keys=True))
    finally:
        client.close()


if __name__ == "__main__":
    main()
