"""``import``: write specs of jobs started without the reconciler and record them as theirs
(dry-run unless ``--write``; docs/import.md)."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.cli import args as shared
from reconciler.cli import flags
from reconciler.cli.exits import EXIT_OK
from reconciler.cli.session import Session
from reconciler.core import jobkinds
from reconciler.core.adoption import kinds_of
from reconciler.core.foreignjob import Proof
from reconciler.runner.adopt_values import ImportOptions, ImportReport, Item, Outcome

_AGE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd])\s*$")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_JOB_ID = re.compile(r"^[a-zA-Z0-9]{22}$")


def register(sub: Any, parents: shared.Parents) -> None:
    command = shared.add_command(
        sub,
        "import",
        parents=[parents.common, parents.state, parents.aws, parents.voiceid],
        help="write specs of jobs started by hand, and record the jobs as theirs",
        description="For every job of a domain that is not of the reconciler's naming (ended "
        "or running), write a spec of what it was started with into --out and record the job "
        "in the state as that spec's job (approved, review 'import'): the next plan shows it "
        "in sync and starts nothing. A job whose manifest is gone is written as a record "
        "(every line a comment), not as a spec. Prints what it would write; --write writes "
        "the files and the state. Jobs imported before are skipped (docs/import.md).",
    )
    command.add_argument(
        "--domain", required=True, metavar="DOMAIN", help="the domain: its name or DomainId"
    )
    command.add_argument(
        "--kind",
        choices=[str(kind) for kind in jobkinds.KINDS],
        help="only jobs of this kind (default: both)",
    )
    command.add_argument(
        "--job-id",
        action="append",
        default=[],
        type=_job_id,
        metavar="ID",
        help="only this job (repeatable; described directly, the domain is not listed)",
    )
    command.add_argument(
        "--since",
        type=_since,
        metavar="TIME|AGE",
        help="only jobs created at or after TIME (2026-01-31, 2026-01-31T09:00:00Z) or within "
        "AGE (12h, 30d) of now",
    )
    command.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="where the specs go, one file per job (e.g. specs/imported/)",
    )
    command.add_argument(
        "--write",
        action="store_true",
        help="write the files and record the jobs in the state (without it: print what would "
        "be written, change nothing)",
    )
    command.set_defaults(handler=run)


def _job_id(text: str) -> str:
    if not _JOB_ID.match(text):
        raise argparse.ArgumentTypeError(f"expected a JobId (22 letters and digits), not {text!r}")
    return text


def _since(text: str) -> tuple[float | None, float | None]:
    """``(time, None)`` for a time, ``(None, seconds)`` for an age."""
    age = _AGE.match(text)
    if age is not None:
        return None, float(age[1]) * _AGE_UNITS[age[2]]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a time (2026-01-31, 2026-01-31T09:00:00Z) or an age (90m, 12h, 30d), "
            f"not {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp(), None


def run(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.out.is_dir():
        raise shared.UsageError(f"--out {args.out}: not a directory")
    since, age = args.since or (None, None)
    options = ImportOptions(
        domain=args.domain,
        out=args.out,
        kinds=kinds_of(args.kind),
        job_ids=tuple(args.job_id),
        since=since,
        since_age=age,
        write=args.write,
        shard=flags.shard(args),
    )
    report = Session(flags.settings(args)).import_jobs(options)
    sys.stdout.write(report_text(report, options.out))
    return EXIT_OK


_MARKS = {
    "imported": "+",
    "re-recorded": "+",
    "record-only": "#",
    "already-imported": "=",
    "not-importable": "!",
    "ours": "=",
}


def report_text(report: ImportReport, out: Path) -> str:
    """What an import did (or would do): a heading, one line per job, a closing line. Never a
    URI or a speaker id: file names, spec names, JobNames, JobIds, statuses."""
    where = f"{report.domain_name} ({report.domain_id})" if report.domain_name else report.domain_id
    head = f"Import from domain {where}"
    if report.listed:
        head += f": {report.listed} job(s) listed"
        if report.ours:
            head += f", {report.ours} of our naming (already the reconciler's: not offered)"
    if report.left_out:
        head += f"; {report.left_out} created before --since left out"
    lines = [f"{head}.", *(_line(item) for item in report.items)]
    specs = report.count(Outcome.IMPORTED)
    records = report.count(Outcome.RECORD_ONLY)
    recorded = report.count(Outcome.IMPORTED, Outcome.RERECORDED)
    what = (
        f"{specs} spec(s) and {records} record(s) under {out}, {recorded} job(s) recorded in "
        "the state"
    )
    if not (specs or records or recorded):
        lines.append("Nothing new to import.")
    elif report.written:
        lines.append(
            f"Import complete: {what} (approved as review 'import'). Commit the files on a "
            "branch and open a pull request: its plan shows them in sync."
        )
    else:
        lines.append(f"Dry run: nothing was written. --write writes {what}.")
    return "\n".join(lines) + "\n"


def _line(item: Item) -> str:
    job = item.job
    named = f"job {job.job_name!r} ({job.job_id})" if job.job_name else f"job {job.job_id}"
    subject = f"{named}, {job.status.value}"
    if item.path is not None and item.outcome in _WRITES:
        spec = f"  {item.key}" if item.key and item.outcome is not Outcome.RECORD_ONLY else ""
        subject = f"{item.path}{spec} <- {subject}"
    said = item.said
    if item.proof is Proof.REPLACED:
        said += "; its manifest was replaced after the job was created (see the spec's comment)"
    elif item.proof is Proof.UNKNOWN:
        said += "; whether its manifest changed since the job ran cannot be told (see the comment)"
    return f"  {_MARKS[item.outcome.value]} {subject}: {said}"


_WRITES = frozenset({"imported", "re-recorded", "record-only"})
