"""The exit codes of ``voiceid-reconciler`` (documented in the README and in ``--help``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.core.errors import (
    PlanChecksumMismatch,
    ReconcilerError,
    StateLockedError,
    UnsafePlanError,
)

if TYPE_CHECKING:
    from reconciler.runner.context import ApplyReport

EXIT_OK = 0
EXIT_ERROR = 1
# 2 for pending changes, as terraform plan -detailed-exitcode says it: CI scripts written for
# Terraform read it unchanged.
EXIT_PENDING = 2
"""``plan --detailed-exitcode``: starts are pending."""
EXIT_TIMEOUT = 3
"""``apply --wait --timeout --fail-on-timeout``: the timeout passed before every job ended
(without ``--fail-on-timeout`` that is a success: the jobs progress, the next run continues)."""
EXIT_LOCKED = 4
"""Another run holds the state lock for longer than ``--lock-timeout``."""
EXIT_JOB_FAILED = 5
"""A managed job ended FAILED with no attempts left."""
EXIT_PLAN_CHANGED = 6
"""``apply --plan-checksum`` or ``apply PLAN.json``: the plan is not the reviewed one."""
EXIT_UNSAFE = 7
"""The plan starts more jobs than ``--start-limit`` allows (use ``--force``)."""
EXIT_COMPLETED_WITH_ERRORS = 8
"""A managed job ended COMPLETED_WITH_ERRORS (some requests failed: ``status --details``)."""
EXIT_FAIL_ON = 9
"""``--fail-on``: the plan holds an action of a class it names (blocked, failed, ...)."""
# 128 + SIGINT, as a shell reports a command stopped by Ctrl-C; SIGTERM (a pod stopped) exits
# the same way, since the run stopped as cleanly.
EXIT_INTERRUPTED = 130
"""Ctrl-C or SIGTERM: the state was saved; a re-run continues."""
EXIT_OUTPUT_CLOSED = 141
"""stdout or stderr was closed before the command finished writing (``| head -1``) and the
command had no other failure: 128 + SIGPIPE, what a shell reports for git or terraform in the
same pipe (they are killed by the signal; this process finishes its work first)."""

EXIT_CODES_HELP = """exit codes:
  0    success: converged, or progressing normally
  1    an error (bad flags or specs, unreadable state, Voice ID refused, ...): one line each
  2    plan --detailed-exitcode: starts are pending
  3    apply --wait --timeout --fail-on-timeout: jobs still running when the wait ended
  4    another run holds the state lock for longer than --lock-timeout
  5    a managed job ended FAILED during this run, with no attempts left
  6    apply --plan-checksum / PLAN.json: the reviewed plan does not cover what awaits review
  7    the plan would start more jobs than --start-limit without --force
  8    a managed job ended COMPLETED_WITH_ERRORS during this run (status --details)
  9    --fail-on: the plan holds a blocked spec, a failed job, ... of a class it names
  130  interrupted (SIGINT / SIGTERM): the state was saved; run again to continue
  141  the reader of stdout or stderr left early (| head): the command still finished"""

RETRIED_BY_KUBERNETES = frozenset({EXIT_LOCKED, EXIT_INTERRUPTED})
"""Exits after which a retry of the pod can help (the lock frees up, the run continues); every
other non-zero exit is a verdict that a retry would only hide (it would exit 0: the error
counts only during the run that met it). The Kubernetes manifests' ``podFailurePolicy`` fails
the Job at once on exactly the others (``tests/test_deploy.py`` checks it)."""
VERDICTS = frozenset(
    {
        EXIT_ERROR,
        EXIT_PENDING,
        EXIT_TIMEOUT,
        EXIT_JOB_FAILED,
        EXIT_PLAN_CHANGED,
        EXIT_UNSAFE,
        EXIT_COMPLETED_WITH_ERRORS,
        EXIT_FAIL_ON,
    }
)


def verdict(report: ApplyReport, *, fail_on_timeout: bool = False) -> int:
    """The exit status of an apply run that finished: the first of timed out (only with
    ``--fail-on-timeout``: by default a run that leaves jobs progressing succeeded), a job
    FAILED, a job COMPLETED_WITH_ERRORS; else success. The metrics' ``run_success`` is this
    being 0."""
    if report.timed_out and fail_on_timeout:
        return EXIT_TIMEOUT
    if report.failed:
        return EXIT_JOB_FAILED
    if report.with_errors:
        return EXIT_COMPLETED_WITH_ERRORS
    return EXIT_OK


_BY_ERROR: dict[type[ReconcilerError], int] = {
    StateLockedError: EXIT_LOCKED,
    PlanChecksumMismatch: EXIT_PLAN_CHANGED,
    UnsafePlanError: EXIT_UNSAFE,
}


def exit_code(err: ReconcilerError) -> int:
    """The exit status for an error the CLI reports."""
    return _BY_ERROR.get(type(err), EXIT_ERROR)
