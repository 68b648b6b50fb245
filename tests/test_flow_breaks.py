"""The smaller breaks of the everyday flow (issue 29, item 9): a reader that leaves early, the
paths problems are named by, the demo inside a spec repository, a tree whose specs were all
removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.cli import EXIT_ERROR, EXIT_OK, EXIT_OUTPUT_CLOSED, main
from reconciler.core.errors import SpecErrors
from reconciler.core.loading import check, load_specs
from reconciler.sandbox import Sandbox
from tests.support import WAIT_FAST, build_world, check_invariants, run_cli, write_specs

STARTS = ("StartSpeakerEnrollmentJob", "StartFraudsterRegistrationJob")


def _starts(sandbox: Sandbox) -> int:
    calls = sandbox.calls()
    return sum(calls.get(op, 0) for op in STARTS)


def _into_a_closed_pipe(
    *args: str, env: dict[str, str], stderr_too: bool = False, buffered: bool = False
) -> tuple[int, str]:
    """The real CLI with its stdout (and ``stderr_too``: its stderr) a pipe whose reader has
    already gone: every write meets EPIPE, as the writes after ``| head -1`` do. ``buffered``:
    without PYTHONUNBUFFERED (the output leaves at the end, when the process flushes it).
    Returns the exit status and stderr (when it is not the closed pipe)."""
    read, write = os.pipe()
    os.close(read)
    environment = {**os.environ, **env}
    if buffered:
        environment.pop("PYTHONUNBUFFERED", None)
    else:
        environment["PYTHONUNBUFFERED"] = "1"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            env=environment,
            stdout=write,
            stderr=write if stderr_too else subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    return done.returncode, done.stderr or ""


# --- 1. a reader that leaves early -------------------------------------------------------------


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
@pytest.mark.parametrize(
    "command", ["plan", "plan --offline", "status", "state show", "validate", "--help"]
)
def test_a_command_whose_reader_left_ends_quietly_with_141(
    voiceid_sandbox: Sandbox, tmp_path: Path, command: str, buffered: bool
) -> None:
    """plan | head -1 and the like: no traceback, nothing on stderr about the pipe, exit 141
    (128 + SIGPIPE, what the shell reports for git or terraform in the same pipe) — whether the
    output leaves as it is written or in one flush at the end."""
    world = build_world(voiceid_sandbox)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    env = voiceid_sandbox.env()
    assert run_cli("apply", str(specs), "--state", str(state), *WAIT_FAST, env=env).returncode == 0
    words = command.split()
    argv = {
        "plan": [*words, str(specs), "--state", str(state), "--tps", "0"],
        "status": [*words, str(specs), "--state", str(state)],
        "state": [*words, "--state", str(state)],
        "validate": [*words, str(specs)],
        "--help": words,
    }[words[0]]
    code, err = _into_a_closed_pipe(*argv, env=env, buffered=buffered)
    assert code == EXIT_OUTPUT_CLOSED, err
    assert "Traceback" not in err
    assert "Broken pipe" not in err
    assert "Exception ignored" not in err


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
def test_an_apply_whose_reader_left_finishes_its_work_and_saves_its_state(
    voiceid_sandbox: Sandbox, tmp_path: Path, buffered: bool
) -> None:
    """apply | head -1: the apply does what it would have done (its starts, the state with
    every JobId, the lock released), writes nothing more, and exits 141 without a traceback;
    the next run starts nothing."""
    world = build_world(voiceid_sandbox)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    env = voiceid_sandbox.env()
    code, err = _into_a_closed_pipe(
        "apply", str(specs), "--state", str(state), "--tps", "0", env=env, buffered=buffered
    )
    assert code == EXIT_OUTPUT_CLOSED, err
    assert "Traceback" not in err
    assert _starts(voiceid_sandbox) == 2
    jobs, recorded = check_invariants(world, state)
    assert len(jobs) == 2
    assert all(entry.jobs and entry.jobs[-1].job_id for entry in recorded.specs.values())
    again = run_cli(
        "apply", str(specs), "--state", str(state), "--tps", "0", "--lock-timeout", "0", env=env
    )
    assert again.returncode == EXIT_OK, again.stderr  # the lock was released
    assert _starts(voiceid_sandbox) == 2


def test_an_apply_whose_stdout_and_stderr_both_closed_still_records_every_start(
    voiceid_sandbox: Sandbox, tmp_path: Path
) -> None:
    """apply --wait 2>&1 | head -1: the log events written between a Start and the record of
    its JobId meet the closed pipe too; the run still records every job, waits for them to
    end, saves the state and exits 141."""
    world = build_world(voiceid_sandbox, domains=2)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 6)
    env = voiceid_sandbox.env()
    code, _ = _into_a_closed_pipe(
        "apply", str(specs), "--state", str(state), *WAIT_FAST, env=env, stderr_too=True
    )
    assert code == EXIT_OUTPUT_CLOSED
    assert _starts(voiceid_sandbox) == 6
    jobs, recorded = check_invariants(world, state)
    assert len(jobs) == 6
    assert all(
        entry.jobs and entry.jobs[-1].job_id and entry.jobs[-1].status == "COMPLETED"
        for entry in recorded.specs.values()
    )


def test_a_command_that_failed_keeps_its_own_exit_status_when_its_reader_left(
    voiceid_sandbox: Sandbox, tmp_path: Path
) -> None:
    """A status of the command's own (here 2, plan --detailed-exitcode: starts pending) is
    not hidden by the closed pipe."""
    world = build_world(voiceid_sandbox)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    argv = ("plan", str(specs), "--state", str(state), "--tps", "0", "--detailed-exitcode")
    code, err = _into_a_closed_pipe(*argv, env=voiceid_sandbox.env())
    assert code == 2, err
    assert "Traceback" not in err


def test_plan_into_head_in_a_real_pipeline(tmp_path: Path) -> None:
    """`plan --offline | head -1` under `set -o pipefail`, with a plan longer than the pipe
    holds: head prints the first line, the plan exits 141, stderr says nothing of it."""
    world_free = tmp_path / "specs"
    world_free.mkdir()
    for i in range(1500):
        (world_free / f"s{i:04d}.yaml").write_text(
            "apiVersion: voiceid-reconciler/v1\nkind: FraudsterRegistrationJob\n"
            f"metadata: {{name: s{i:04d}}}\nspec:\n  domain: d\n"
            "  dataAccessRoleArn: arn:aws:iam::123456789012:role/R\n"
            "  input: {manifest: 's3://bucket/m.json'}\n"
            "  output: {s3Uri: 's3://bucket/out/', kmsKeyId: alias/k}\n"
        )
    command = (
        f"{sys.executable} -m reconciler plan --offline {world_free} "
        f"--state {tmp_path / 'state.json'} | head -1"
    )
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_OUTPUT_CLOSED, done.stderr
    assert len(done.stdout.splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert "Broken pipe" not in done.stderr


def test_output_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """A full disk under the output (/dev/full) is not a success: one line, exit 1."""
    with Path("/dev/full").open("w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "schema"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == EXIT_ERROR
    assert done.stderr.splitlines() == [
        "voiceid-reconciler: the output could not be written: [Errno 28] No space left on device"
    ]


def test_a_process_started_without_stdout_or_stderr_says_so_without_a_traceback() -> None:
    """Started with stdout closed (`>&-`), a command that prints is one line and exit 1 (its
    output went nowhere); with stderr closed, it runs as usual and says nothing."""
    command = f"{sys.executable} -m reconciler"
    no_stdout = subprocess.run(
        ["bash", "-c", f"{command} schema >&-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert no_stdout.returncode == EXIT_ERROR
    assert no_stdout.stderr == (
        "voiceid-reconciler: the output could not be written: [Errno 9] stdout is closed\n"
    )
    no_stderr = subprocess.run(
        ["bash", "-c", f"{command} validate /nonexistent 2>&-; echo $?"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert no_stderr.stdout == "1\n"
    assert no_stderr.stderr == ""


# --- 2. problems named relative to the working directory ---------------------------------------

_ROLE = "arn:aws:iam::123456789012:role/R"


def _roster_repository(root: Path) -> Path:
    """A spec repository (a .git directory) with two specs whose roster files are broken: a
    CSV row with no S3 URI (line 3), and a YAML entry with a bad channel (line 4)."""
    specs = root / "specs"
    (specs / "rosters").mkdir(parents=True)
    (root / ".git").mkdir()
    for name, kind, field in (
        ("amer", "SpeakerEnrollmentJob", "speakersFile: rosters/amer.csv"),
        ("known", "FraudsterRegistrationJob", "fraudstersFile: rosters/known.yaml"),
    ):
        (specs / f"{name}.yaml").write_text(
            f"apiVersion: voiceid-reconciler/v1\nkind: {kind}\nmetadata: {{name: {name}}}\n"
            f"spec:\n  domain: d\n  dataAccessRoleArn: {_ROLE}\n"
            f"  input: {{{field}, stagingUri: 's3://bucket/staging/'}}\n"
            "  output: {s3Uri: 's3://bucket/out/', kmsKeyId: alias/k}\n"
        )
    (specs / "rosters" / "amer.csv").write_text(
        "speakerId,audio\ncaller-1,s3://bucket/a.wav\ncaller-2,not-a-uri\n"
    )
    (specs / "rosters" / "known.yaml").write_text(
        "- audio: ['s3://bucket/f.wav']\n- audio:\n    - uri: 's3://bucket/g.wav'\n"
        "      channel: 7\n"
    )
    return specs


def test_roster_problems_are_named_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate run at the repository's root (as the example workflow runs it) names a broken
    roster's file as the specs are named — specs/rosters/amer.csv, not an absolute path — in
    the text, the JSON and the GitHub annotations, and so does plan."""
    _roster_repository(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.splitlines()[:2] == [
        "specs/rosters/amer.csv:3:1: audio: must be S3 URIs such as s3://bucket/key",
        "specs/rosters/known.yaml:4:16: [1].audio[0].channel: must be 0 or 1",
    ]
    assert main(["validate", "--format", "json"]) == EXIT_ERROR
    document = json.loads(capsys.readouterr().out)
    assert [e["file"] for e in document["errors"]] == [
        "specs/rosters/amer.csv",
        "specs/rosters/known.yaml",
    ]
    assert main(["validate", "--format", "github"]) == EXIT_ERROR
    annotations = capsys.readouterr().out.splitlines()
    assert annotations[0].startswith("::error file=specs/rosters/amer.csv,line=3,col=1,")
    assert annotations[1].startswith("::error file=specs/rosters/known.yaml,line=4,col=16,")
    state = tmp_path / "elsewhere" / "state.json"
    state.parent.mkdir()
    assert main(["plan", "--offline", "--state", str(state)]) == EXIT_ERROR
    assert "specs/rosters/amer.csv:3:1: audio" in capsys.readouterr().err
    assert str(tmp_path) not in err


def test_a_roster_outside_the_working_directory_keeps_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from elsewhere, a roster is named by its absolute path (never ../..), like the
    spec given by an absolute PATH; a symlinked roster by the file it resolves to."""
    specs = _roster_repository(tmp_path / "repo")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _, errors = check([specs])
    assert [str(e.location) for e in errors] == [
        f"{specs.resolve()}/rosters/amer.csv:3:1",
        f"{specs.resolve()}/rosters/known.yaml:4:16",
    ]
    real = tmp_path / "repo" / "shared" / "amer.csv"
    real.parent.mkdir()
    (specs / "rosters" / "amer.csv").rename(real)
    (specs / "rosters" / "amer.csv").symlink_to(real)
    monkeypatch.chdir(tmp_path / "repo")
    _, errors = check([Path("specs")])
    assert str(errors[0].location) == "shared/amer.csv:3:1"


# --- 3. the demo inside a spec repository ------------------------------------------------------


def test_the_demo_inside_a_spec_repository_runs_its_own_examples_and_writes_nothing_there(
    tmp_path: Path,
) -> None:
    """voiceid-reconciler demo run at the root of a spec repository — whose specs/ holds a
    broken spec — runs its own examples, and leaves the repository as it was."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "broken.yaml").write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
        "metadata: {name: broken}\nspec: {bogus: 1}\n"
    )
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VOICEID_RECONCILER_"))}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo", "--job-duration", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "== voiceid-reconciler apply again (nothing to do)" in done.stdout
    assert "OK: 3 specs in 2 files are valid" in done.stdout
    assert "broken" not in done.stdout + done.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# --- 4. a tree whose specs were all removed ----------------------------------------------------


def test_a_directory_without_specs_is_an_empty_set_of_desired_jobs(tmp_path: Path) -> None:
    """An existing directory that holds no spec loads as no spec, not an error; a PATH that
    does not exist is still one error naming it."""
    (tmp_path / "notes.txt").write_text("kind: x\n")
    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    assert load_specs([tmp_path]) == []
    assert check([tmp_path]) == ([], [])
    missing = tmp_path / "nope"
    with pytest.raises(SpecErrors) as info:
        load_specs([tmp_path, missing])
    assert [str(e) for e in info.value.errors] == [f"{missing}: no such file or directory"]


def test_a_tree_whose_specs_were_all_removed_plans_their_removal(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every spec file deleted: plan (online and offline) shows each job of the state as a
    removed spec's — retired, as they ended — and exits 0; validate says the tree is valid
    with 0 specs; a path that does not exist is still exit 1 with one line."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    keys = write_specs(world, specs, 2)
    assert main(["apply", str(specs), "--state", str(state), *WAIT_FAST]) == EXIT_OK
    for spec in specs.iterdir():
        spec.unlink()
    capsys.readouterr()
    for offline in ([], ["--offline"]):
        argv = ["plan", str(specs), "--state", str(state), "--tps", "0", *offline]
        assert main([*argv, "--format", "json"]) == EXIT_OK
        document = json.loads(capsys.readouterr().out)
        actions = document["actions"]
        assert sorted((f"{a['kind']}/{a['name']}", a["action"]) for a in actions) == [
            (key, "retired") for key in sorted(keys)
        ]
    assert main(["validate", str(specs)]) == EXIT_OK
    assert capsys.readouterr().out == "OK: 0 specs in 0 files are valid\n"
    missing = tmp_path / "nope"
    assert main(["plan", str(missing), "--state", str(state), "--tps", "0"]) == EXIT_ERROR
    assert capsys.readouterr().err == f"{missing}: no such file or directory\n"
    assert len(LocalStateStore(state).read().specs) == 2  # a plan changes nothing
