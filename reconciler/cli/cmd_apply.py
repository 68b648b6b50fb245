"""``apply``: plan, then start only the missing jobs; report, metrics and the exit code."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.cli import args as shared
from reconciler.cli import collector, flags, render, values
from reconciler.cli import saved as saved_plans
from reconciler.cli.exits import verdict as verdict_of
from reconciler.cli.progress import Progress
from reconciler.cli.session import Session
from reconciler.core.plan import DEFAULT_MAX_ACTIVE, DEFAULT_START_LIMIT, Plan
from reconciler.core.state import State
from reconciler.runner.context import DEFAULT_POLL_INTERVAL, ApplyReport, RunOptions

REQUIRE_APPROVAL_ENV = "VOICEID_RECONCILER_REQUIRE_APPROVAL"


def register(sub: Any, parents: shared.Parents) -> None:
    apply = shared.add_command(
        sub,
        "apply",
        parents=parents.online(),
        help="start the jobs that are missing",
        description="Plan, then start only the missing jobs (at most --max-active per domain "
        "and kind; the rest are queued for a later run or for --wait). Given a saved plan "
        "(plan --out PLAN.json) as its one PATH, plan again from that plan's inputs and act "
        "only if it is the reviewed one (else exit 6, naming the specs that differ).",
    )
    shared.add_owner(apply)
    shared.add_fail_on(apply)
    shared.add_notify(apply)
    apply.add_argument(
        "--max-active",
        type=values.count(1),
        default=DEFAULT_MAX_ACTIVE,
        metavar="N",
        help=f"active jobs per domain and kind (Voice ID's quota; default: {DEFAULT_MAX_ACTIVE})",
    )
    waiting = apply.add_argument_group("waiting")
    waiting.add_argument(
        "--wait",
        action="store_true",
        help="keep going until every job has ended, starting queued jobs as slots free up",
    )
    waiting.add_argument(
        "--timeout",
        type=values.duration(),
        metavar="SECONDS",
        help="with --wait: stop waiting after this long; jobs still running go on and the "
        "next run continues (exit 0; see --fail-on-timeout) (default: wait until done)",
    )
    waiting.add_argument(
        "--fail-on-timeout",
        action="store_true",
        help="with --timeout: exit 3 when jobs are still running as the wait ends (for CI "
        "that must block until the jobs ended)",
    )
    waiting.add_argument(
        "--poll-interval",
        type=values.duration(),
        default=DEFAULT_POLL_INTERVAL,
        metavar="SECONDS",
        help=f"with --wait: time between polls (default: {DEFAULT_POLL_INTERVAL:g})",
    )
    shared.add_show_unchanged(apply.add_argument_group("output"))
    safety = apply.add_argument_group("safety")
    safety.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    safety.add_argument(
        "--auto-approve",
        action="store_true",
        help="do not ask for 'yes' before starting jobs (the question is only asked when "
        "stdin is a terminal)",
    )
    safety.add_argument(
        "--plan-checksum",
        metavar="CHECKSUM",
        help="the reviewed plan's checksum: approve its intents if it covers what awaits "
        "review now (else exit 6), then start only approved intents",
    )
    safety.add_argument(
        "--require-approval",
        action="store_true",
        default=None,
        help="start only intents a reviewed plan approved; hold the others as "
        f"awaiting-review (default: ${REQUIRE_APPROVAL_ENV}, else off)",
    )
    safety.add_argument(
        "--start-limit",
        type=values.count(0),
        default=DEFAULT_START_LIMIT,
        metavar="N",
        help="refuse a plan with more pending starts than this, exit 7 (default: "
        f"{DEFAULT_START_LIMIT})",
    )
    safety.add_argument("--force", action="store_true", help="lift the --start-limit safety limit")
    safety.add_argument(
        "--max-starts",
        type=values.count(0),
        metavar="N",
        help="start at most this many jobs in this run (default: no limit)",
    )
    output = apply.add_argument_group("metrics")
    output.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="write Prometheus metrics in the node-exporter textfile format",
    )
    output.add_argument(
        "--pushgateway", metavar="URL", help="push Prometheus metrics to this Pushgateway"
    )
    apply.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    reviewed = None
    plan_file = saved_plans.given(args)
    if plan_file is not None:
        saved = saved_plans.load(plan_file)
        saved_plans.adopt(args, saved)
        reviewed = saved.intent
    if args.fail_on_timeout and args.timeout is None:
        raise shared.UsageError("--fail-on-timeout applies only with --wait --timeout")
    options = flags.run_options(
        max_active=args.max_active,
        dry_run=args.dry_run,
        max_starts=args.max_starts,
        wait=args.wait,
        timeout=args.timeout,
        poll_interval=args.poll_interval,
        plan_checksum=args.plan_checksum,
        reviewed=reviewed,
        require_approval=_require_approval(args),
        fail_on_timeout=args.fail_on_timeout,
        shard=flags.shard(args),
        list_lag_horizon=flags.list_lag_horizon(args),
        token_lifetime=flags.token_lifetime(args),
        start_limit=None if args.force else args.start_limit,
        owner=flags.owner(args),
    )
    settings = replace(flags.settings(args, options), clock=collector.WaitingClock())
    colour = render.use_colour(sys.stdout)

    def show_plan(plan: Plan, state: State) -> None:  # before anything starts, as Terraform
        sys.stdout.writelines(
            render.plan_lines(
                plan,
                offline=False,
                observed_at=state.observed_at,
                colour=colour,
                unchanged=args.show_unchanged,
            )
        )
        sys.stdout.write("\n")
        sys.stdout.flush()

    def verdict(report: ApplyReport) -> int:
        return verdict_of(report, fail_on_timeout=args.fail_on_timeout) or flags.fail_on(
            args, report.plan
        )

    progress = Progress(sys.stderr, quiet=args.quiet)
    try:
        applied = Session(settings).apply(
            verdict=verdict,
            show_plan=show_plan,
            progress=progress if args.wait else None,
            ask=_ask if _asks(args, options) else None,
        )
    finally:
        progress.close()
    if applied.report is None:
        sys.stdout.write("Apply cancelled: nothing was started.\n")
        return EXIT_CANCELLED
    sys.stdout.write(render.apply_text(applied.report, dry_run=args.dry_run))
    for warning in applied.warnings:
        print(f"voiceid-reconciler: warning: {warning}", file=sys.stderr)
    assert applied.code is not None
    return applied.code


EXIT_CANCELLED = 1
"""The answer to the question was not ``yes`` (as Terraform, which also exits 1)."""


def _require_approval(args: argparse.Namespace) -> bool:
    """``--require-approval``, else ``$VOICEID_RECONCILER_REQUIRE_APPROVAL`` (true/false)."""
    if args.require_approval is not None:
        return bool(args.require_approval)
    text = os.environ.get(REQUIRE_APPROVAL_ENV, "")
    try:
        return values.parse_bool(text)
    except ValueError as err:
        raise shared.UsageError(f"${REQUIRE_APPROVAL_ENV}={text!r}: {err}") from None


def _asks(args: argparse.Namespace, options: RunOptions) -> bool:
    """Whether to ask for ``yes``: a person at a terminal, an apply that no review gates,
    not a dry run, not ``--auto-approve``."""
    if args.auto_approve or options.dry_run or options.gated:
        return False
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced stdin: nobody to ask
        return False


def _ask(plan: Plan) -> bool:
    """The question, after the plan was shown: only ``yes`` starts the jobs."""
    del plan  # shown already, above the question
    sys.stdout.write(
        "Do you want to start these jobs? voiceid-reconciler will start the jobs described "
        "above (batch jobs cannot be stopped once started).\n"
        "  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    )
    sys.stdout.flush()
    answer = sys.stdin.readline()
    sys.stdout.write("\n")
    return answer.strip() == "yes"
