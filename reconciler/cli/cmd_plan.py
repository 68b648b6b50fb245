"""``plan``: compare the specs with Voice ID (or, ``--offline``, the state) and show the plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from reconciler.cli import args as shared
from reconciler.cli import flags, plancomment, render, values
from reconciler.cli import saved as saved_plans
from reconciler.cli.exits import EXIT_OK, EXIT_PENDING
from reconciler.cli.session import Session
from reconciler.core.errors import ReconcilerError, SpecErrors
from reconciler.core.plan import DEFAULT_MAX_ACTIVE


def register(sub: Any, parents: shared.Parents) -> None:
    plan = shared.add_command(
        sub,
        "plan",
        parents=parents.online(),
        help="show what apply would do",
        description="Compare the specs with Voice ID and show what apply would do.",
    )
    plan.add_argument(
        "--offline",
        action="store_true",
        help="plan from the specs and the state file alone (no credentials, no API calls)",
    )
    shared.add_owner(plan)
    shared.add_fail_on(plan)
    plan.add_argument(
        "--max-active",
        type=values.count(1),
        default=DEFAULT_MAX_ACTIVE,
        metavar="N",
        help="active jobs allowed per domain and kind (Voice ID's quota; default: "
        f"{DEFAULT_MAX_ACTIVE})",
    )
    output = plan.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="text for people, json for tools, markdown for a pull-request comment (default: text)",
    )
    shared.add_show_unchanged(output)
    output.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="also write the plan to this JSON file: a saved plan, for 'apply FILE'",
    )
    output.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when starts are pending, 0 when none are, 1 on error",
    )
    plan.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Plan; with ``--format markdown``, a plan that fails still gives a comment (Atlantis
    comments the error): the marker, ``❌ Plan failed`` and the error lines the CLI prints on
    stderr, on stdout; the error is raised again, so the exit code is the CLI's (1)."""
    try:
        return _plan(args)
    except SpecErrors as err:
        if args.format == "markdown":
            lines = [str(e) for e in err.errors]
            _failed_comment([*lines, str(err)] if len(lines) > 1 else lines)
        raise
    except ReconcilerError as err:
        if args.format == "markdown":
            _failed_comment([str(err)])
        raise


def _failed_comment(errors: list[str]) -> None:
    sys.stdout.write(plancomment.plan_failed_markdown(errors))
    sys.stdout.flush()


def _plan(args: argparse.Namespace) -> int:
    options = flags.run_options(
        max_active=args.max_active,
        shard=flags.shard(args),
        list_lag_horizon=flags.list_lag_horizon(args),
        token_lifetime=flags.token_lifetime(args),
        owner=flags.owner(args),
    )
    result = Session(flags.settings(args, options)).plan(offline=args.offline)
    if args.out:
        saved = render.plan_json(
            result.plan,
            offline=result.offline,
            observed_at=result.observed_at,
            inputs=saved_plans.inputs(args),
        )
        try:
            args.out.write_text(saved, encoding="utf-8")
        except OSError as err:
            raise ReconcilerError(
                f"--out {args.out}: cannot write the plan: {err.strerror or err}"
            ) from None
    if args.format == "json":  # made only when asked for: a plan of 10,000 specs takes a second
        sys.stdout.write(
            render.plan_json(result.plan, offline=result.offline, observed_at=result.observed_at)
        )
    elif args.format == "markdown":
        sys.stdout.write(
            plancomment.plan_markdown(
                result.plan, offline=result.offline, observed_at=result.observed_at
            )
        )
    else:
        sys.stdout.writelines(
            render.plan_lines(
                result.plan,
                offline=result.offline,
                observed_at=result.observed_at,
                colour=render.use_colour(sys.stdout),
                unchanged=args.show_unchanged,
            )
        )
    failing = flags.fail_on(args, result.plan)
    if failing:
        return failing
    if args.detailed_exitcode and result.plan.pending:
        return EXIT_PENDING
    return EXIT_OK
