"""The status page (``status --format html``) of a large state, against ``status --format json``
of the same state, and the whole command in its own process. Target: a 1,000-job world renders
in under a second.

``python -m bench.status_page [--jobs N] [--repeat R]`` prints ``label : value`` lines (as
``python -m bench`` does); the ratio is the page's render time over the JSON status's, both
measured in this process on the same state, best of R. The exit status is 0 either way.

The worlds are also the tests' and the README screenshot's (``tests/test_status_page.py``):
:func:`large_state` (N jobs over 3 domains and both kinds, every status, results, failures,
approvals not started yet, blocked specs) and :func:`realistic_state` (a week of two contact
centres: waves of enrollment, fraudster registrations, a retry in flight, a failure, a block).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.adapters.localstore import LocalStateStore
from reconciler.cli.render_status import Scope, status_json
from reconciler.cli.statuspage import status_page
from reconciler.core.jobs import Failure
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.loading import load_specs
from reconciler.core.state import Approval, BlockedSince, JobRecord, SpecEntry, State
from reconciler.core.times import epoch, iso

TARGET_S = 1.0
OBSERVED_AT = "2026-12-07T14:20:00Z"
DOMAINS = {
    "contact-center-prod": "Wp4yC3c7Q2aL0d9mXk1bZe",
    "contact-center-eu": "Eu7Hq2Lm9Xc4Vb1Nz8Ka3d",
    "contact-center-staging": "St5Gh8Jk2Lq6Wp0Zx3Cv9b",
}
KINDS = (JobKind.ENROLLMENT, JobKind.REGISTRATION)


def job(
    name: str,
    kind: JobKind,
    domain_id: str,
    status: JobStatus | None,
    *,
    created: str,
    hours: float | None = None,
    attempt: int = 1,
    version: int = 0,
    percent: int | None = None,
    results: dict[str, int] | None = None,
    failure: tuple[int, str] | None = None,
) -> JobRecord:
    """A job record as a run writes it: ``hours`` after ``created`` it ended (None: in flight).
    The attempts of one ``version`` of a spec share its hash."""
    digest = hashlib.sha256(f"{kind}/{name}/{version}".encode()).hexdigest()
    job_id = hashlib.sha256(f"{digest}-{attempt}".encode()).hexdigest()[:22]
    ended = iso(epoch(created) + hours * 3600) if hours is not None else None
    return JobRecord(
        attempt=attempt,
        client_token=f"{digest[:56]}-{attempt}",
        created_at=created,
        domain_id=domain_id,
        ended_at=ended,
        failure=Failure(status_code=failure[0], message=failure[1]) if failure else None,
        hash=digest,
        intent_at=created,
        job_id=job_id,
        job_name=f"{name}-{digest[:32]}" + (f"-{attempt}" if attempt > 1 else ""),
        kind=kind,
        percent_complete=percent if percent is not None else (100 if hours else None),
        results=results,
        status=status,
    )


def entry(
    name: str, jobs: list[JobRecord], history: list[JobRecord] | None = None
) -> tuple[str, SpecEntry]:
    """A spec's entry: its attempts of the current version, and superseded jobs."""
    last = jobs[-1]
    return f"{last.kind}/{name}", SpecEntry(
        domain_id=last.domain_id,
        hash=last.hash,
        history=history or [],
        jobs=jobs,
        kind=last.kind,
        name=name,
    )


def realistic_state() -> State:
    """A week of two contact centres, as the README's screenshot shows it."""
    prod, eu, staging = DOMAINS.values()
    enrol, fraud = JobKind.ENROLLMENT, JobKind.REGISTRATION
    done, errors = JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS
    failed, running = JobStatus.FAILED, JobStatus.IN_PROGRESS
    registered = {"NEW_REGISTRATION": 41, "DUPLICATE_SKIPPED": 17}
    state = State(serial=412, observed_at=OBSERVED_AT, domains=dict(DOMAINS))
    specs = [
        entry(
            "known-fraudsters",
            [
                job(
                    "known-fraudsters",
                    fraud,
                    prod,
                    done,
                    created="2026-12-03T07:00:00Z",
                    hours=1.2,
                    version=1,
                    results=registered,
                )
            ],
            history=[
                job(
                    "known-fraudsters",
                    fraud,
                    prod,
                    done,
                    created="2026-11-30T08:00:00Z",
                    hours=2.1,
                    results={"NEW_REGISTRATION": 38, "DUPLICATE_SKIPPED": 2},
                ),
            ],
        ),
        entry(
            "fraud-ring-2026",
            [
                job(
                    "fraud-ring-2026",
                    fraud,
                    prod,
                    failed,
                    created="2026-12-06T22:00:00Z",
                    hours=0.07,
                    failure=(
                        400,
                        "Voice ID could not read the input manifest: Access Denied (s3:GetObject)",
                    ),
                ),
                job(
                    "fraud-ring-2026",
                    fraud,
                    prod,
                    running,
                    created="2026-12-07T12:05:00Z",
                    attempt=2,
                    percent=62,
                ),
            ],
        ),
        entry(
            "emea-callers-wave-1",
            [
                job(
                    "emea-callers-wave-1",
                    enrol,
                    prod,
                    done,
                    created="2026-12-02T06:00:00Z",
                    hours=14.5,
                    results={"NEW_ENROLLMENT": 12480, "DUPLICATE_SKIPPED": 312},
                ),
            ],
        ),
        entry(
            "emea-callers-wave-2",
            [
                job(
                    "emea-callers-wave-2",
                    enrol,
                    prod,
                    errors,
                    created="2026-12-04T09:30:00Z",
                    hours=19.6,
                    results={
                        "NEW_ENROLLMENT": 11902,
                        "DUPLICATE_SKIPPED": 88,
                        "error:400": 41,
                        "error:402": 3,
                    },
                ),
            ],
        ),
        entry(
            "emea-callers-wave-3",
            [
                job(
                    "emea-callers-wave-3",
                    enrol,
                    prod,
                    running,
                    created="2026-12-06T09:15:00Z",
                    percent=71,
                ),
            ],
        ),
        entry(
            "dach-callers",
            [
                job(
                    "dach-callers",
                    enrol,
                    eu,
                    done,
                    created="2026-12-01T05:00:00Z",
                    hours=22.0,
                    results={
                        "NEW_ENROLLMENT": 20113,
                        "DUPLICATE_SKIPPED": 1270,
                        "ENROLLMENT_OVERWRITE": 4,
                    },
                ),
            ],
        ),
        entry(
            "nordics-callers",
            [
                job(
                    "nordics-callers",
                    enrol,
                    eu,
                    done,
                    created="2026-12-03T04:00:00Z",
                    hours=9.3,
                    results={"NEW_ENROLLMENT": 6540, "DUPLICATE_SKIPPED": 17},
                ),
            ],
        ),
        entry(
            "benelux-callers",
            [
                job(
                    "benelux-callers",
                    enrol,
                    eu,
                    failed,
                    created="2026-12-05T11:00:00Z",
                    hours=0.4,
                    failure=(400, "The data access role cannot be assumed by Voice ID"),
                ),
            ],
        ),
        entry(
            "eu-fraudsters",
            [
                job(
                    "eu-fraudsters",
                    fraud,
                    eu,
                    done,
                    created="2026-12-02T13:00:00Z",
                    hours=0.8,
                    results={"NEW_REGISTRATION": 12},
                ),
            ],
        ),
    ]
    state.specs.update(specs)
    review = "3f2a9c41d0e8b7a6"
    for n, at in ((4, "2026-12-06T16:02:11Z"), (5, "2026-12-06T16:02:12Z")):
        state.approvals[f"{enrol}/emea-callers-wave-{n}"] = Approval(
            hash=str(n) * 64, max_attempts=1, review=review, at=at
        )
    state.approvals[f"{fraud}/fraud-ring-2026"] = Approval(
        hash=state.specs[f"{fraud}/fraud-ring-2026"].hash,
        max_attempts=2,
        review="9c0d51e7a2b4f318",
        at="2026-12-06T21:58:40Z",
    )
    state.blocked[f"{enrol}/staging-smoke-test"] = BlockedSince(
        since="2026-12-07T10:00:00Z",
        domain_id=staging,
        reason="domain contact-center-staging is SUSPENDED, not ACTIVE",
    )
    return state


REALISTIC_SPECS = {
    "SpeakerEnrollmentJob/emea-callers-wave-4": "contact-center-prod",
    "SpeakerEnrollmentJob/emea-callers-wave-5": "contact-center-prod",
    "SpeakerEnrollmentJob/vip-callers": "contact-center-prod",
}
"""The specs of :func:`realistic_state`'s repository that have no job yet, by domain: two
waves approved and queued, and one that no review approved (``vip-callers``)."""


def spec_files(state: State, directory: Path, *, extra: dict[str, str] | None = None) -> None:
    """One spec file per spec of ``state``, its approvals and its blocked specs (in the domain
    of its job or block, else the first of the state's), and ``extra``: ``{key: domain name}``
    (a spec the state never saw, or one to place in another domain)."""
    names = {v: k for k, v in state.domains.items()}
    keys = {k: names[e.domain_id] for k, e in state.specs.items()}
    for key, blocked in state.blocked.items():
        keys.setdefault(key, names.get(blocked.domain_id or "", sorted(state.domains)[0]))
    for key in state.approvals:
        keys.setdefault(key, sorted(state.domains)[0])
    keys.update(extra or {})
    directory.mkdir(parents=True, exist_ok=True)
    for key, domain in keys.items():
        kind, name = key.split("/")
        section = (
            "  enrollment: {existingEnrollmentAction: SKIP}\n"
            if kind == JobKind.ENROLLMENT
            else "  registration: {duplicateRegistrationAction: SKIP}\n"
        )
        (directory / f"{kind}-{name}.yaml").write_text(
            f"apiVersion: voiceid-reconciler/v1\nkind: {kind}\nmetadata: {{name: {name}}}\n"
            f"spec:\n  domain: {domain}\n"
            "  dataAccessRoleArn: arn:aws:iam::123456789012:role/VoiceIdBatchAccess\n"
            f"  input: {{manifest: 's3://acme-voiceid-input/manifests/{name}.json'}}\n"
            "  output: {s3Uri: 's3://acme-voiceid-output/', kmsKeyId: alias/acme-voiceid}\n"
            f"{section}",
            encoding="utf-8",
        )


def large_state(jobs: int) -> State:
    """``jobs`` job records over 3 domains and both kinds: most specs with one job, one in
    seven with a superseded job beside it, one in eleven a failed attempt then another; ended
    jobs of every status with results, the last jobs in flight; and approvals not started yet
    and blocked specs (a tenth of the specs each, beyond the jobs)."""
    state = State(serial=jobs, observed_at=OBSERVED_AT, domains=dict(DOMAINS))
    ids = list(DOMAINS.values())
    start = epoch(OBSERVED_AT) - jobs * 1800  # about one job every half hour
    statuses = (JobStatus.COMPLETED,) * 6 + (JobStatus.COMPLETED_WITH_ERRORS, JobStatus.FAILED)
    made = spec = 0
    while made < jobs:
        kind, domain_id, name = KINDS[spec % 2], ids[(spec // 2) % 3], f"wave-{spec:05d}"
        two = (spec % 7 == 0 or spec % 11 == 0) and made + 2 <= jobs
        records = []
        for n in range(2 if two else 1):
            status = statuses[(spec + n) % len(statuses)]
            if made >= jobs - 6:  # the last few are in flight
                status = JobStatus.IN_PROGRESS
            superseding = spec % 7 == 0
            records.append(
                job(
                    name,
                    kind,
                    domain_id,
                    status,
                    created=iso(start + made * 1800),
                    hours=None if status == JobStatus.IN_PROGRESS else 0.3 + (spec % 5) * 0.1,
                    attempt=1 if superseding else 1 + n,
                    version=n if superseding else 0,
                    percent=40 if status == JobStatus.IN_PROGRESS else None,
                    results=_results(spec, status),
                    failure=(400, "The input manifest could not be read")
                    if status == JobStatus.FAILED
                    else None,
                )
            )
            made += 1
        if two and spec % 7 == 0:
            state.specs.update([entry(name, records[1:], history=records[:1])])
        else:
            state.specs.update([entry(name, records)])
        spec += 1
    for n in range(max(1, spec // 10)):
        kind = KINDS[n % 2]
        state.approvals[f"{kind}/next-{n:05d}"] = Approval(
            hash=f"{n:064x}",
            max_attempts=1,
            review="3f2a9c41d0e8b7a6",
            at=iso(epoch(OBSERVED_AT) - 3600 + n),
        )
        state.blocked[f"{kind}/held-{n:05d}"] = BlockedSince(
            since=OBSERVED_AT, domain_id=ids[n % 3], reason="watchlist 'fraud-ring' not found"
        )
    return state


def _results(spec: int, status: JobStatus) -> dict[str, int] | None:
    if status in (JobStatus.FAILED, JobStatus.IN_PROGRESS):
        return None
    counts = {"NEW_ENROLLMENT": 100 + spec, "DUPLICATE_SKIPPED": spec % 13}
    if status == JobStatus.COMPLETED_WITH_ERRORS:
        counts["error:400"] = 3
    return counts


def _best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def measure(jobs: int, repeat: int) -> list[tuple[str, str]]:
    """The figures, as ``(label, value)`` rows."""
    state = large_state(jobs)
    page_s = _best_of(repeat, lambda: status_page(state, rendered_at=OBSERVED_AT))
    json_s = _best_of(repeat, lambda: status_json(state))
    size = len(status_page(state, rendered_at=OBSERVED_AT).encode())
    with tempfile.TemporaryDirectory(prefix="voiceid-bench-page-") as tmp:
        path = Path(tmp) / "state.json"
        LocalStateStore(path).write(state)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                "status",
                "--state",
                str(path),
                "--format",
                "html",
                "--out",
                str(Path(tmp) / "status.html"),
                "--quiet",
            ],
            check=True,
            capture_output=True,
            cwd=tmp,
            timeout=120,
        )
        command_s = time.perf_counter() - started
    verdict = "PASS" if page_s < TARGET_S else "FAIL"
    return [
        ("status-page jobs", f"{sum(1 for _ in state.all_jobs())}"),
        ("status-page html bytes", f"{size}"),
        ("status-page render s", f"{page_s:.4f}"),
        ("status-page status-json render s", f"{json_s:.4f}"),
        ("status-page command wall s", f"{command_s:.3f}"),
        ("status-page ratio html/json", f"{page_s / json_s:.2f}"),
        (f"target status-page render < {TARGET_S:g} s", verdict),
    ]


def example_page(out: Path) -> None:
    """The page of :func:`realistic_state` with its specs, as ``status specs --format html``
    writes it a minute after the observation (docs/images/status-page.png is its screenshot)."""
    state = realistic_state()
    with tempfile.TemporaryDirectory(prefix="voiceid-example-") as tmp:
        spec_files(state, Path(tmp), extra=REALISTIC_SPECS)
        specs = load_specs([Path(tmp)])
    keys = frozenset(spec.key for spec in specs)
    page = status_page(
        state, scope=Scope(keys, keys), specs=specs, rendered_at=iso(epoch(OBSERVED_AT) + 67)
    )
    out.write_text(page, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.status_page")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs in the world (1000)")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many (5)")
    parser.add_argument(
        "--example",
        type=Path,
        metavar="FILE",
        help="write the page of the README's example world to FILE instead, and measure nothing",
    )
    args = parser.parse_args(argv)
    if args.example:
        example_page(args.example)
        print(f"Wrote the example page to {args.example}.")
        return
    rows = measure(args.jobs, args.repeat)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}} : {value}")


if __name__ == "__main__":
    main()
