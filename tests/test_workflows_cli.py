"""The deployment files against the real command line: every ``voiceid-reconciler`` command
that the example GitHub workflows, the Kubernetes manifests and the operating docs run.

Each command line is taken out of its file (a workflow step's ``run`` script, a container's
``args``, a ``sh`` block of a doc) and parsed by the CLI's own parser
(:func:`reconciler.cli.app.parser`): every flag must exist for that command, spelled out (not
an abbreviation argparse would accept today and refuse once another flag shares the prefix),
and every value must parse. Every exit code a file acts on — a ``podFailurePolicy``'s values,
a step condition on a step's ``exit-code`` output, a shell test of one — must be one the CLI
defines (:mod:`reconciler.cli.exits`), and one that the command of that step can exit with.
Last, the commands are checked against the operating model (docs/operating.md): every
unattended apply is gated by a review, nothing waits without a bound, a blocked spec fails.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cli import exits
from reconciler.cli.app import parser

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / "examples" / "github").glob("*.yml"))
WORKLOADS = [
    ROOT / "deploy" / "kubernetes" / "cronjob.yaml",
    ROOT / "deploy" / "kubernetes" / "sharded" / "job.yaml",
]
DOCS = [ROOT / "docs" / "operating.md", ROOT / "docs" / "deployment.md"]
PROGRAM = "voiceid-reconciler"

SAMPLES = {
    # what the shell or Kubernetes puts in place of a variable a command line uses
    "CHECKSUM": "0123456789abcdef",
    "REPOSITORY": "example-org/voiceid-specs",
    "VOICEID_RECONCILER_STATE_PREFIX": "s3://example-state/voiceid/",
}
"""A value for each variable a command line may use; a variable not listed fails the test
(say what it holds here, so that its value is parsed as the CLI would get it)."""

DEFINED_EXITS = {
    value
    for name, value in vars(exits).items()
    if name.startswith("EXIT_") and isinstance(value, int)
}
COMMAND_PREFIXES = {"if", "then", "else", "elif", "do", "!", "exec", "time"}
CONTROL = {";", "&&", "||", "|", "&", "(", ")", ";;"}
REDIRECTS = {">", ">>", "<", ">&", "<&", ">|"}
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|\((\w+)\)|(\w+))")


@dataclass(frozen=True)
class Command:
    """One voiceid-reconciler command line found in a file."""

    where: str
    argv: tuple[str, ...]
    step: str | None = None
    """The workflow step's id, when it has one (its ``exit-code`` output is this command's)."""

    def option(self, flag: str) -> str | None:
        """The value given to ``flag`` (the last one), or None."""
        value = None
        for i, token in enumerate(self.argv):
            if token == flag and i + 1 < len(self.argv):
                value = self.argv[i + 1]
            elif token.startswith(flag + "="):
                value = token.split("=", 1)[1]
        return value

    def has(self, flag: str) -> bool:
        return any(t == flag or t.startswith(flag + "=") for t in self.argv)


# -- taking the command lines out of the files --------------------------------------------------


def _substitute(token: str, where: str) -> str:
    """``token`` with each ``$NAME``, ``${NAME}`` (shell) or ``$(NAME)`` (Kubernetes) replaced
    by its sample value."""
    assert "${{" not in token, (
        f"{where}: a GitHub expression in a command line ({token!r}): pass it through env "
        "(an expression is pasted into the script before the shell reads it)"
    )

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        assert name in SAMPLES, f"{where}: ${name} has no sample value in SAMPLES"
        return SAMPLES[name]

    return VARIABLE.sub(value, token)


def _shell_lines(script: str) -> Iterator[list[str]]:
    """The tokens of each line of a shell script: line continuations joined, and a quoted
    string that spans lines read whole."""
    pending = ""
    for line in script.replace("\\\n", " ").splitlines():
        pending = f"{pending} {line}" if pending else line
        lexer = shlex.shlex(pending, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # "No closing quotation": the string goes on on the next line
            continue
        pending = ""
        yield tokens
    assert not pending, f"an unclosed quotation: {pending!r}"


def commands_in_script(script: str, where: str, step: str | None = None) -> list[Command]:
    """The voiceid-reconciler commands of a shell script."""
    found = []
    for tokens in _shell_lines(script):
        segment: list[str] = []
        for token in [*tokens, ";"]:
            if token not in CONTROL:
                segment.append(token)
                continue
            command = _command_of(segment, where)
            if command is not None:
                found.append(Command(where, command, step))
            segment = []
    return found


def _command_of(segment: list[str], where: str) -> tuple[str, ...] | None:
    """The arguments of voiceid-reconciler when ``segment`` (one simple command) runs it."""
    rest = list(segment)
    while rest and (rest[0] in COMMAND_PREFIXES or re.fullmatch(r"\w+=.*", rest[0])):
        rest.pop(0)
    if not rest or rest[0] != PROGRAM:
        return None
    argv = []
    for token in rest[1:]:
        if token in REDIRECTS:
            break
        argv.append(_substitute(token, where))
    return tuple(argv)


def _workflow(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def _steps(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_id, job in _workflow(path)["jobs"].items():
        for number, step in enumerate(job.get("steps", []), 1):
            yield f"{path.name}: job {job_id}, step {step.get('name', number)}", step


def commands_in_workflow(path: Path) -> list[Command]:
    return [
        command
        for where, step in _steps(path)
        if "run" in step
        for command in commands_in_script(step["run"], where, step.get("id"))
    ]


def _pod(document: dict[str, Any]) -> dict[str, Any]:
    spec = document["spec"]
    job = spec["jobTemplate"]["spec"] if document["kind"] == "CronJob" else spec
    pod: dict[str, Any] = job["template"]["spec"]
    return pod


def _reconciler(path: Path) -> dict[str, Any]:
    [container] = _pod(yaml.safe_load(path.read_text()))["containers"]
    assert container["name"] == "reconciler"
    return container


def commands_in_workload(path: Path) -> list[Command]:
    """The container's args: the image's entry point is voiceid-reconciler (the Dockerfile)."""
    container = _reconciler(path)
    assert "command" not in container, f"{path.name}: the entry point is the image's"
    where = f"{path.relative_to(ROOT)}: container reconciler"
    defined = {e["name"] for e in container.get("env", [])}
    for arg in container["args"]:  # Kubernetes leaves a $(NAME) it cannot resolve as it is
        for match in re.finditer(r"\$\((\w+)\)", arg):
            assert match.group(1) in defined, f"{where}: $({match.group(1)}) is not in env"
    return [Command(where, tuple(_substitute(a, where) for a in container["args"]))]


def commands_in_doc(path: Path) -> list[Command]:
    """The commands of the doc's ``sh`` blocks (a ``$ `` prompt is taken off)."""
    text = path.read_text()
    found = []
    for block in re.finditer(r"^```(?:sh|shell|console|bash)\n(.*?)^```", text, re.M | re.S):
        line_no = text.count("\n", 0, block.start()) + 1
        body = "\n".join(line.removeprefix("$ ") for line in block.group(1).splitlines())
        found.extend(commands_in_script(body, f"{path.relative_to(ROOT)}:{line_no}"))
    return found


def all_commands() -> list[Command]:
    return [
        *(c for path in WORKFLOWS for c in commands_in_workflow(path)),
        *(c for path in WORKLOADS for c in commands_in_workload(path)),
        *(c for path in DOCS if path.exists() for c in commands_in_doc(path)),
    ]


# -- the CLI ------------------------------------------------------------------------------------


def _subparsers(command_parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in command_parser._actions:  # argparse keeps its subparsers here
        if isinstance(action, argparse._SubParsersAction):
            choices: dict[str, argparse.ArgumentParser] = action.choices
            return choices
    return {}


def _options(command_parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in command_parser._actions for flag in action.option_strings}


def check_command(command: Command) -> argparse.Namespace:
    """Parse ``command`` with the real parser; every flag spelled out in full."""
    top = parser()
    try:
        parsed = top.parse_args(list(command.argv))
    except Exception as err:  # noqa: BLE001 - the parser's one-line error is the finding
        pytest.fail(f"{command.where}: {PROGRAM} {' '.join(command.argv)}: {err}")
    target = top
    for word in command.argv:  # the (sub)command the flags belong to: `state rm` is two words
        sub = _subparsers(target).get(word)
        if sub is None:
            if not word.startswith("-"):
                break
            continue
        target = sub
    known = _options(target) | _options(top)
    for token in command.argv:
        if token.startswith("--"):
            flag = token.split("=", 1)[0]
            assert flag in known, (
                f"{command.where}: {flag} is not an option of '{target.prog}' (an abbreviation?)"
            )
    return parsed


def possible_exits(command: Command) -> set[int]:
    """The exits ``command`` can end with, by its flags (README, "Exit codes")."""
    name = command.argv[0]
    codes = {exits.EXIT_OK, exits.EXIT_ERROR, exits.EXIT_INTERRUPTED}
    if name in {"plan", "apply", "status", "state"}:
        codes.add(exits.EXIT_LOCKED)
    if command.has("--fail-on"):
        codes.add(exits.EXIT_FAIL_ON)
    if name == "plan" and command.has("--detailed-exitcode"):
        codes.add(exits.EXIT_PENDING)
    if name == "apply":
        codes |= {exits.EXIT_JOB_FAILED, exits.EXIT_COMPLETED_WITH_ERRORS}
        if not command.has("--force"):
            codes.add(exits.EXIT_UNSAFE)
        saved_plan = any(a.endswith(".json") for a in command.argv[1:] if not a.startswith("-"))
        if command.has("--plan-checksum") or saved_plan:
            codes.add(exits.EXIT_PLAN_CHANGED)
        if command.has("--fail-on-timeout"):
            codes.add(exits.EXIT_TIMEOUT)
    return codes


# -- the tests ----------------------------------------------------------------------------------

COMMANDS = all_commands()


def test_the_files_hold_the_commands_of_the_operating_model() -> None:
    """The extraction finds what the files run: a validate and plans in the plan workflow, an
    apply with the reviewed checksum and one that requires approval on merge, the schedule's
    apply, and the schedule's apply in each workload (the comment workflow runs none)."""
    by_file = {
        path.name: {(c.argv[0], c.has("--plan-checksum"), c.has("--require-approval")) for c in cs}
        for path in WORKFLOWS
        if (cs := commands_in_workflow(path)) or path.name != "voiceid-plan-comment.yml"
    }
    assert by_file == {
        "voiceid-plan.yml": {("validate", False, False), ("plan", False, False)},
        "voiceid-apply.yml": {("apply", True, False), ("apply", False, True)},
        "voiceid-schedule.yml": {("apply", False, True), ("status", False, False)},
    }
    for path in WORKLOADS:
        [command] = commands_in_workload(path)
        assert command.argv[:3] == ("apply", "/specs/specs", "--require-approval")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.where} {c.argv[0]}")
def test_every_command_line_parses_with_the_real_cli(command: Command) -> None:
    """Every flag exists for its command, spelled out, and every value parses."""
    check_command(command)


def test_a_command_line_the_cli_refuses_is_found() -> None:
    """The check is not vacuous: an unknown flag, an abbreviation, a bad value, an unknown
    variable and a GitHub expression in a script are each reported."""
    for argv in (
        "apply specs --no-such-flag",
        "apply specs --plan-check 0123",  # an abbreviation of --plan-checksum
        "apply specs --fail-on bloked",
        "apply specs --timeout soon",
    ):
        [command] = commands_in_script(f"{PROGRAM} {argv}", "test")
        with pytest.raises((pytest.fail.Exception, AssertionError)):
            check_command(command)
    with pytest.raises(AssertionError, match=r"\$UNKNOWN has no sample value"):
        commands_in_script(f'{PROGRAM} apply specs --plan-checksum "$UNKNOWN"', "test")
    with pytest.raises(AssertionError, match="GitHub expression"):
        commands_in_script(f"{PROGRAM} apply --plan-checksum ${{{{ inputs.c }}}} x", "test")
    found = commands_in_script(
        'set +e\nif [ -n "$CHECKSUM" ]; then\n  voiceid-reconciler apply specs \\\n'
        '    --plan-checksum "$CHECKSUM" > out.txt; fi\necho "voiceid-reconciler plan"',
        "test",
    )
    assert [c.argv for c in found] == [("apply", "specs", "--plan-checksum", "0123456789abcdef")]


def _exit_conditions(path: Path) -> list[tuple[str, str, int]]:
    """(where, step id, exit code) for each test of a step's exit code in a workflow: a
    condition on ``steps.<id>.outputs.exit-code``, or a shell test of an env variable that
    holds it."""
    found = []
    for where, step in _steps(path):
        condition = str(step.get("if", ""))
        for match in re.finditer(
            r"steps\.([\w-]+)\.outputs\.exit-code\s*(?:==|!=)\s*'(\d+)'", condition
        ):
            found.append((where, match.group(1), int(match.group(2))))
        holders = {
            name: m.group(1)
            for name, value in (step.get("env") or {}).items()
            if (
                m := re.fullmatch(
                    r"\$\{\{\s*steps\.([\w-]+)\.outputs\.exit-code\s*\}\}", str(value)
                )
            )
        }
        for name, step_id in holders.items():
            pattern = rf'"?\$\{{?{name}\}}?"?\s*(?:=|==|!=|-eq|-ne)\s*"?(\d+)"?'
            for match in re.finditer(pattern, step.get("run", "")):
                found.append((where, step_id, int(match.group(1))))
    return found


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_exit_code_a_workflow_acts_on_is_one_its_command_can_exit_with(
    path: Path,
) -> None:
    """A condition on an exit code names a step whose script records its command's exit code
    (``exit-code=$?``), and a code the CLI defines that this command can end with."""
    steps = {step["id"]: step for _, step in _steps(path) if "id" in step}
    for where, step_id, code in _exit_conditions(path):
        assert code in DEFINED_EXITS, f"{where}: exit {code} is not one the CLI defines"
        assert step_id in steps, f"{where}: no step {step_id}"
        script = steps[step_id].get("run", "")
        assert "code=$?" in script, f"{where}: step {step_id} does not keep its exit code"
        assert "exit-code=$code" in script, f"{where}: step {step_id} does not output it"
        commands = commands_in_script(script, where, step_id)
        assert commands, f"{where}: step {step_id} runs no {PROGRAM}"
        assert any(code in possible_exits(c) for c in commands), (
            f"{where}: step {step_id}'s command cannot exit {code}"
        )


def test_the_workflows_act_on_exit_codes() -> None:
    """The apply on merge tells a refused review (6) apart, and the re-plan tells a blocked
    plan (9) from a failed one: the conditions above are really checked."""
    conditions = {(p.name, code) for p in WORKFLOWS for _, _, code in _exit_conditions(p)}
    assert ("voiceid-apply.yml", exits.EXIT_PLAN_CHANGED) in conditions
    assert ("voiceid-plan.yml", exits.EXIT_FAIL_ON) in conditions


@pytest.mark.parametrize("path", WORKLOADS, ids=lambda p: p.name)
def test_every_exit_code_of_a_pod_failure_policy_is_defined(path: Path) -> None:
    """podFailurePolicy's exit codes are the CLI's: verdicts fail the Job, nothing else."""
    document = yaml.safe_load(path.read_text())
    spec = document["spec"]
    job = spec["jobTemplate"]["spec"] if document["kind"] == "CronJob" else spec
    codes = [
        code
        for rule in job["podFailurePolicy"]["rules"]
        for code in rule.get("onExitCodes", {}).get("values", [])
    ]
    assert codes
    assert set(codes) <= DEFINED_EXITS
    assert set(codes) == exits.VERDICTS
    assert not set(codes) & exits.RETRIED_BY_KUBERNETES


# -- the operating model (docs/operating.md) ------------------------------------------------------


def _unattended_applies() -> list[Command]:
    """The applies that run without a person: every workflow's and every workload's."""
    return [
        c
        for c in COMMANDS
        if c.argv[0] == "apply"
        and not c.where.startswith(tuple(str(p.relative_to(ROOT)) for p in DOCS))
    ]


def test_every_unattended_apply_is_gated_by_a_review() -> None:
    """Each apply of a workflow or a workload either applies a reviewed checksum or requires
    approval: none starts what nobody reviewed, and none would ask for 'yes'."""
    applies = _unattended_applies()
    assert applies
    for command in applies:
        gated = [command.has("--plan-checksum"), command.has("--require-approval")]
        assert sum(gated) == 1, f"{command.where}: {' '.join(command.argv)}"
        assert not command.has("--auto-approve"), f"{command.where}: gated, it never asks"
        assert not command.has("--force"), f"{command.where}: the start limit stays"


def test_nothing_unattended_waits_without_a_bound_or_fails_on_progress() -> None:
    """An apply that waits has a --timeout, and none turns a timeout with jobs still running
    into a failure (--fail-on-timeout is for CI that must block, not for these)."""
    for command in _unattended_applies():
        if command.has("--wait"):
            assert command.has("--timeout"), f"{command.where}: --wait without --timeout"
        assert not command.has("--fail-on-timeout"), command.where


def test_a_blocked_spec_fails_and_awaiting_review_fails_only_an_unreviewed_merge() -> None:
    """Every plan and apply of the files fails on a blocked spec (a mistyped domain is not
    green forever); awaiting-review fails only the merge apply of a push nobody reviewed —
    never a pull request's plan, never the schedule."""
    for command in COMMANDS:
        if command.argv[0] not in {"plan", "apply"} or command.where.startswith("docs/"):
            continue
        classes = (command.option("--fail-on") or "").split(",")
        assert "blocked" in classes, f"{command.where}: {' '.join(command.argv)}"
        if "awaiting-review" in classes:
            assert command.argv[0] == "apply"
            assert command.has("--require-approval")
            assert command.where.startswith("voiceid-apply.yml")
