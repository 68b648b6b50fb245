"""``state show`` lists the names ``state rm`` and ``state mv`` take; their ``--dry-run`` writes
nothing and waits for no lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import JobRecord, SpecEntry, State

DOMAIN = "D" * 22


def _record(name: str, hash_: str, status: JobStatus | None, *, attempt: int = 1) -> JobRecord:
    return JobRecord(
        hash=hash_,
        attempt=attempt,
        job_name=f"{name}-{hash_[:32]}" + (f"-{attempt}" if attempt > 1 else ""),
        domain_id=DOMAIN,
        kind=JobKind.ENROLLMENT,
        job_id=None if status is None else f"job-{name}-{attempt}",
        status=status,
    )


def _state_file(tmp_path: Path) -> Path:
    """A state of three entries — one with an older job superseded, one whose start is not
    confirmed yet — and an unclaimed job of our naming."""
    state = State()
    old, new = "1" * 64, "2" * 64
    entries = {
        "retired-spec": [_record("retired-spec", old, JobStatus.COMPLETED)],
        "changed-spec": [_record("changed-spec", new, JobStatus.IN_PROGRESS)],
        "new-spec": [_record("new-spec", "3" * 64, None)],
    }
    for name, jobs in entries.items():
        state.specs[f"SpeakerEnrollmentJob/{name}"] = SpecEntry(
            kind=JobKind.ENROLLMENT,
            name=name,
            hash=jobs[-1].hash,
            domain_id=DOMAIN,
            jobs=jobs,
        )
    state.specs["SpeakerEnrollmentJob/changed-spec"].history.append(
        _record("changed-spec", old, JobStatus.COMPLETED)
    )
    state.orphans.append(_record("someone-else", "4" * 64, JobStatus.FAILED))
    path = tmp_path / "state.json"
    LocalStateStore(path).write(state)
    return path


def test_state_show_lists_every_spec_entry_with_its_status_and_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After the summary (kept as it was), one line per spec entry — the KIND/NAME state rm
    takes, its latest job's status, the jobs it recorded — then the unclaimed jobs by the spec
    name their JobName carries."""
    path = _state_file(tmp_path)
    assert main(["state", "show", "--state", str(path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "3 spec(s), 5 job(s), 1 unclaimed, 0 removed" in out
    table = out.split("\n\n", 1)[1].splitlines()
    assert table == [
        "SPEC                               STATUS              JOBS",
        "SpeakerEnrollmentJob/changed-spec  IN_PROGRESS         2",
        "SpeakerEnrollmentJob/new-spec      STARTING            1",
        "SpeakerEnrollmentJob/retired-spec  COMPLETED           1",
        "SpeakerEnrollmentJob/someone-else  FAILED (unclaimed)  1",
    ]


def test_state_show_names_is_one_name_a_line_and_json_is_the_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--names prints only the KIND/NAMEs (for a script that feeds state rm); --format json is
    still the state itself; the two do not go together."""
    path = _state_file(tmp_path)
    assert main(["state", "show", "--names", "--state", str(path)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        "SpeakerEnrollmentJob/changed-spec",
        "SpeakerEnrollmentJob/new-spec",
        "SpeakerEnrollmentJob/retired-spec",
        "SpeakerEnrollmentJob/someone-else",
    ]
    assert main(["state", "show", "--format", "json", "--state", str(path)]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == json.loads(path.read_text())
    assert main(["state", "show", "--names", "--format", "json", "--state", str(path)]) == 1
    assert "not allowed with argument" in capsys.readouterr().err


def test_an_empty_state_shows_its_summary_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No entry: no table header; --names prints nothing."""
    path = tmp_path / "state.json"
    LocalStateStore(path).write(State())
    assert main(["state", "show", "--state", str(path)]) == EXIT_OK
    assert "SPEC" not in capsys.readouterr().out
    assert main(["state", "show", "--names", "--state", str(path)]) == EXIT_OK
    assert capsys.readouterr().out == ""


def _files(tmp_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.is_file()}


def test_state_rm_dry_run_says_what_it_would_forget_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """state rm --dry-run names each entry (with its jobs) and orphan it would forget, and
    leaves every file as it was, while another run holds the lock; without --dry-run the same
    names are forgotten."""
    path = _state_file(tmp_path)
    argv = ["state", "rm", "retired-spec", "someone-else", "--state", str(path)]
    with LocalStateStore(path).locked():  # another run's lock: the dry run does not wait
        before = _files(tmp_path)
        assert main([*argv, "--dry-run", "--lock-timeout", "0"]) == EXIT_OK
        assert _files(tmp_path) == before
    assert capsys.readouterr().out.splitlines() == [
        "Would remove SpeakerEnrollmentJob/retired-spec: 1 job(s), latest COMPLETED "
        "(kept as a tombstone)",
        f"Would remove orphan/someone-else-{'4' * 32} (kept as a tombstone)",
        "Dry run: the state was not changed.",
    ]
    assert main(argv) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        "Removed SpeakerEnrollmentJob/retired-spec (kept as a tombstone)",
        f"Removed orphan/someone-else-{'4' * 32} (kept as a tombstone)",
    ]
    state = LocalStateStore(path).read()
    assert "SpeakerEnrollmentJob/retired-spec" not in state.specs
    assert state.orphans == []


def test_state_rm_dry_run_of_a_name_not_in_the_state_is_the_same_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run refuses what the real run refuses: one line, exit 1."""
    path = _state_file(tmp_path)
    assert main(["state", "rm", "nothing", "--dry-run", "--state", str(path)]) == EXIT_ERROR
    assert capsys.readouterr().err == (
        "voiceid-reconciler: state rm: no spec 'nothing' in the state (see 'state show')\n"
    )


def test_state_mv_dry_run_says_what_it_would_move_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """state mv --dry-run names the move, changes no file and waits for no lock; a move the
    real run would refuse is refused alike."""
    path = _state_file(tmp_path)
    with LocalStateStore(path).locked():
        before = _files(tmp_path)
        argv = ["state", "mv", "changed-spec", "renamed", "--state", str(path), "--dry-run"]
        assert main([*argv, "--lock-timeout", "0"]) == EXIT_OK
        assert _files(tmp_path) == before
    assert capsys.readouterr().out.splitlines() == [
        "Would move SpeakerEnrollmentJob/changed-spec to SpeakerEnrollmentJob/renamed",
        "Dry run: the state was not changed.",
    ]
    refused = ["state", "mv", "changed-spec", "new-spec", "--state", str(path), "--dry-run"]
    assert main(refused) == EXIT_ERROR
    assert "SpeakerEnrollmentJob/new-spec is already in the state" in capsys.readouterr().err
