"""status: scoped by PATHs and selectors, removed specs marked, every status aligned, and
--refresh reading the results of jobs it finds ended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.cli import EXIT_OK, main
from reconciler.cli.render_status import status_text
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import JobRecord, SpecEntry, State
from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs

STATE_ARGS = ("--tps", "0", "--log-format", "json")


def _apply(specs: Path, state: Path, *extra: str) -> int:
    return main(["apply", str(specs), "--state", str(state), *STATE_ARGS, *extra])


def _status_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, object]]:
    capsys.readouterr()
    assert main(["status", *argv, "--format", "json"]) == EXIT_OK
    return {row["spec"]: row for row in json.loads(capsys.readouterr().out)["specs"]}


def test_status_marks_removed_specs_and_narrows_by_selector(
    voiceid_env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given the specs, a record whose spec file is gone is marked removed; a selector shows
    only the specs it chooses."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    keys = write_specs(world, specs, 3)
    first = specs / "spec-0000.yaml"
    first.write_text(
        first.read_text().replace(
            "metadata: {name: spec-0000}",
            "metadata: {name: spec-0000, labels: {team: fraud-ops}}",
        )
    )
    assert _apply(specs, state, "--max-active", "3", "--wait", "--poll-interval", "0.05") == 0
    (specs / "spec-0002.yaml").unlink()
    rows = _status_json(capsys, str(specs), "--state", str(state))
    assert [rows[k]["removed"] for k in keys] == [False, False, True]
    assert main(["status", str(specs), "--state", str(state)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if "(spec removed)" in line] == [
        next(line for line in lines if keys[2] in line)
    ]
    chosen = _status_json(capsys, str(specs), "--state", str(state), "-l", "team=fraud-ops")
    assert list(chosen) == [keys[0]]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    unscoped = _status_json(capsys, "--state", str(state))  # no PATH, no specs/ here
    assert sorted(unscoped) == sorted(keys)
    assert not any(row["removed"] for row in unscoped.values())


def test_status_refresh_reads_the_results_of_jobs_it_finds_ended(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job started by one apply and found ended by status --refresh gets its result counts
    (one Describe, one GetObject), without another apply."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    (key,) = write_specs(world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    assert _apply(specs, state) == EXIT_OK
    voiceid_env.advance_clock(60)
    voiceid_env.advance()
    assert main(["status", "--state", str(state), "--refresh", *STATE_ARGS]) == EXIT_OK
    (record,) = LocalStateStore(state).read().specs[key].jobs
    assert record.status == JobStatus.COMPLETED
    assert record.results
    assert sum(record.results.values()) == 1


def test_every_status_is_aligned() -> None:
    """The job column starts at the same place whatever the status (COMPLETED_WITH_ERRORS is
    the longest), with colours on too."""
    state = State()
    for i, status in enumerate(
        [JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS, JobStatus.IN_PROGRESS, None]
    ):
        name = f"spec-{i}"
        record = JobRecord(
            hash=f"{i:064x}",
            attempt=1,
            job_name=f"{name}-{i:032x}",
            domain_id="D" * 22,
            kind=JobKind.ENROLLMENT,
            job_id=f"job{i}",
            status=status,
            percent_complete=40 if status == JobStatus.IN_PROGRESS else None,
        )
        state.specs[f"{JobKind.ENROLLMENT}/{name}"] = SpecEntry(
            kind=JobKind.ENROLLMENT, name=name, hash=record.hash, domain_id="D" * 22, jobs=[record]
        )
    for colour in (False, True):
        text = status_text(state, colour=colour)
        plain = text.replace("\x1b[32m", "").replace("\x1b[33m", "").replace("\x1b[0m", "")
        columns = {line.index(" job ") for line in plain.splitlines() if " job " in line}
        assert len(columns) == 1, plain


def test_the_demo_runs_from_an_empty_directory(tmp_path: Path) -> None:
    """voiceid-reconciler demo needs no checkout: the example specs come with the package."""
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
    assert list(tmp_path.iterdir()) == []  # it leaves nothing behind


def test_status_json_with_details_is_one_json_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--details beside --format json: stdout parses as JSON; the notice goes to stderr."""
    state = tmp_path / "state.json"
    LocalStateStore(state).write(State())
    argv = ["status", "--state", str(state), "--format", "json", "--details", "--tps", "0"]
    assert main([*argv, "--log-format", "json"]) == EXIT_OK
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert "details are shown on a terminal only" in captured.err


@pytest.mark.parametrize("where", ["missing-dir/plan.json", "."])
def test_plan_out_to_a_path_it_cannot_write_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """plan --out into a missing directory, or onto a directory: one line naming --out."""
    specs = Path(__file__).parent / "fixtures" / "specs" / "good"
    target = tmp_path / where
    argv = ["plan", str(specs), "--offline", "--state", str(tmp_path / "s.json")]
    assert main([*argv, "--out", str(target)]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"voiceid-reconciler: --out {target}: cannot write the plan: ")


def test_status_watch_redraws_until_every_job_ended(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status --watch: a view per refresh (one line per job, a bar while in flight), ending
    by itself once no job is in flight; --format json is refused (a view for people)."""
    from tests.support import build_world, write_specs

    world = build_world(voiceid_env)
    voiceid_env.configure(job_duration=0.6, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 3)
    argv = ["--state", str(state), "--tps", "0"]
    assert main(["apply", str(specs), *argv, "--max-active", "5", "--log-format", "json"]) == 0
    capsys.readouterr()
    assert main(["status", str(specs), *argv, "--watch", "--interval", "0.1"]) == 0
    views = capsys.readouterr().out.split("voiceid-reconciler status --watch")[1:]
    assert len(views) >= 2  # at least one view while the jobs ran, then the last
    assert "] " in views[0]
    assert "%" in views[0]  # a progress bar
    assert views[-1].rstrip().endswith("0 in flight, 3 ended — all ended")
    assert views[-1].count(" done") == 3
    assert main(["status", *argv, "--watch", "--format", "json"]) == 1
