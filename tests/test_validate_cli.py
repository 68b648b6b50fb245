"""`voiceid-reconciler validate` and `schema`: one line per problem, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.core.errors import SpecErrors
from reconciler.core.loading import load_specs

FIXTURES = Path(__file__).parent / "fixtures" / "specs"
BAD = FIXTURES / "bad"
GOOD = FIXTURES / "good"


def _expected_error_lines(path: Path) -> list[str]:
    with pytest.raises(SpecErrors) as info:
        load_specs([path])
    return [str(error) for error in info.value.errors]


def test_validate_bad_directory(capsys: pytest.CaptureFixture[str]) -> None:
    """Invalid specs: exit 1, one stderr line per error in order, then a count; no traceback."""
    expected = _expected_error_lines(BAD)
    assert main(["validate", str(BAD)]) == EXIT_ERROR
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert err.splitlines() == [
        *expected,
        f"voiceid-reconciler: {len(expected)} errors in the specs",
    ]


def test_validate_good_directory(capsys: pytest.CaptureFixture[str]) -> None:
    """Valid specs: exit 0 and one OK line on stdout counting specs and files."""
    assert main(["validate", str(GOOD)]) == EXIT_OK
    out, err = capsys.readouterr()
    assert out == "OK: 5 specs in 3 files are valid\n"
    assert err == ""


def test_validate_with_selectors(capsys: pytest.CaptureFixture[str]) -> None:
    """--selector narrows the counted specs; repeated selectors must all match."""
    assert main(["validate", str(GOOD), "-l", "team=fraud-ops", "--selector", "region=amer"]) == 0
    assert capsys.readouterr().out == "OK: 2 specs in 1 file are valid\n"


def test_validate_defaults_to_specs_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a path, validate reads ./specs."""
    shutil.copytree(GOOD, tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == EXIT_OK
    assert capsys.readouterr().out == "OK: 5 specs in 3 files are valid\n"


def test_validate_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path that does not exist is one error line, exit 1."""
    missing = tmp_path / "nope"
    assert main(["validate", str(missing)]) == EXIT_ERROR
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{missing}: no such file or directory",
    ]


def test_validate_undecodable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A binary file next to valid ones is reported on one line; the valid ones are not."""
    shutil.copytree(GOOD, tmp_path / "specs")
    (tmp_path / "specs" / "binary.yaml").write_bytes(b"\x00\xff\xfe")
    assert main(["validate", str(tmp_path / "specs")]) == EXIT_ERROR
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path / 'specs' / 'binary.yaml'}: binary file (contains NUL bytes), not YAML",
    ]


def test_validate_debug_reraises() -> None:
    """validate --debug re-raises SpecErrors instead of printing one line per error."""
    with pytest.raises(SpecErrors) as info:
        main(["validate", "--debug", str(BAD / "wrong-type.yaml")])
    assert len(info.value.errors) == 2


def test_debug_before_command_reraises() -> None:
    """--debug given before the command (as --help offers) also re-raises."""
    with pytest.raises(SpecErrors):
        main(["--debug", "validate", str(BAD / "wrong-type.yaml")])


def test_schema_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    """schema prints the JSON Schema of a spec document on stdout and exits 0."""
    assert main(["schema"]) == EXIT_OK
    out, err = capsys.readouterr()
    schema = json.loads(out)
    assert err == ""
    assert schema["discriminator"]["propertyName"] == "kind"
    assert len(schema["oneOf"]) == 2


@pytest.mark.parametrize(
    ("path", "code"),
    [(BAD, EXIT_ERROR), (GOOD, EXIT_OK)],
    ids=["bad", "good"],
)
def test_validate_subprocess(path: Path, code: int) -> None:
    """`python -m reconciler validate` behaves the same in a real process: no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    if code == EXIT_OK:
        assert proc.stdout == "OK: 5 specs in 3 files are valid\n"
        assert proc.stderr == ""
    else:
        expected = _expected_error_lines(path)
        assert proc.stdout == ""
        assert proc.stderr.splitlines() == [
            *expected,
            f"voiceid-reconciler: {len(expected)} errors in the specs",
        ]


def _repository(root: Path) -> Path:
    """A spec repository as people have one: specs beside other tools' YAML, rosters, docs."""
    (root / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: [push]\njobs: {}\n")
    (root / ".pre-commit-config.yaml").write_text(
        "repos:\n  - repo: local\n    hooks: [{id: x, name: x, entry: x, language: system}]\n"
    )
    (root / "mkdocs.yml").write_text("site_name: Voice ID\nnav:\n  - index.md\n")
    (root / "broken-other-tool.yaml").write_text("key: [unclosed\n")
    (root / "README.md").write_text("# specs\n")
    specs = root / "specs"
    (specs / "rosters").mkdir(parents=True, exist_ok=True)
    (specs / "rosters" / "emea.yaml").write_text(
        "- {speakerId: caller-1, audio: ['s3://voiceid-demo/audio/a.wav']}\n"
    )
    (specs / "rosters" / "amer.csv").write_text(
        "speakerId,audio\ncaller-2,s3://voiceid-demo/audio/c.wav\n"
    )
    for name, roster in (("emea", "emea.yaml"), ("amer", "amer.csv")):
        (specs / f"{name}.yaml").write_text(
            "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
            f"metadata: {{name: {name}}}\nspec:\n  domain: demo\n"
            "  dataAccessRoleArn: arn:aws:iam::123456789012:role/VoiceIdBatchAccess\n"
            f"  input: {{speakersFile: rosters/{roster}, stagingUri: 's3://voiceid-demo/staging/'}}\n"
            "  output: {s3Uri: 's3://voiceid-demo/out/', kmsKeyId: alias/voiceid-output}\n"
        )
    return root


def test_a_real_repository_validates_from_its_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Other tools' YAML (pre-commit, mkdocs, workflows, a broken one of theirs), a YAML and a
    CSV roster and a README beside the specs: validate on the repository's root finds the two
    specs and nothing else; a broken roster, a broken document that claims to be ours and a
    duplicate name anywhere in the tree still fail."""
    root = _repository(tmp_path)
    assert main(["validate", str(root)]) == 0
    assert "2 spec" in capsys.readouterr().out
    (root / "specs" / "rosters" / "amer.csv").write_text("speakerId,audio\ncaller-2,\n")
    assert main(["validate", str(root)]) == 1
    assert "amer.csv" in capsys.readouterr().err
    _repository(tmp_path)
    (root / "docs").mkdir()
    (root / "docs" / "claims.yml").write_text("apiVersion: voiceid-reconciler/v1\nkind: [x\n")
    assert main(["validate", str(root)]) == 1
    assert "claims.yml" in capsys.readouterr().err
    (root / "docs" / "claims.yml").unlink()
    (root / "docs" / "copy.yaml").write_text((root / "specs" / "emea.yaml").read_text())
    assert main(["validate", str(root)]) == 1
    assert "duplicate SpeakerEnrollmentJob name 'emea'" in capsys.readouterr().err
    assert main(["validate", str(root / "mkdocs.yml")]) == 1  # named: it must be a spec
    assert "missing 'kind'" in capsys.readouterr().err


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_the_pre_commit_hook_validates_the_whole_tree_once_per_commit(tmp_path: Path) -> None:
    """pre-commit for real (try-repo installs this repository's hook): a commit that changes
    only a CSV roster is checked, and so is a duplicate name in a file the commit did not
    touch; the hook runs once, over the whole spec tree."""
    repo = _repository(tmp_path / "repo")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "specs")
    here = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "PRE_COMMIT_COLOR": "never"}
    pre_commit = [sys.executable, "-m", "pre_commit", "try-repo", str(here), "voiceid-validate"]

    def hook(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*pre_commit, *extra],
            check=False,
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    passed = hook("--all-files")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    roster = repo / "specs" / "rosters" / "amer.csv"
    roster.write_text("speakerId,audio\ncaller-2,\n")
    _git(repo, "add", str(roster))
    broken = hook()  # only the roster is staged
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "amer.csv:2:1: audio" in broken.stdout
    _git(repo, "checkout", "--", ".")
    _git(repo, "reset", "-q", "--hard")
    (repo / "specs" / "copy.yaml").write_text((repo / "specs" / "emea.yaml").read_text())
    _git(repo, "add", "specs/copy.yaml")
    duplicate = hook()
    assert duplicate.returncode == 1, duplicate.stdout + duplicate.stderr
    assert "duplicate SpeakerEnrollmentJob name 'emea'" in duplicate.stdout
    assert duplicate.stdout.count("voiceid-reconciler validate") == 1  # one run, not per file


def _state_beside(repo: Path, name: str = "voiceid-state.json") -> list[Path]:
    """A local state with its three side files, as a run leaves them."""
    state = repo / name
    state.write_text('{"schemaVersion": 2}\n')
    sides = [repo / f"{name}{suffix}" for suffix in (".backup", ".lock", ".mark")]
    for side in sides:
        side.write_text("{}\n")
    return sides


def test_validate_warns_of_state_side_files_git_would_commit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed .lock and a .backup/.mark that `git add -A` would pick up are each one
    warning line (exit 0 still); a poetry.lock is not taken for a state's; once .gitignore has
    the documented lines and the lock is untracked, validate is quiet."""
    repo = _repository(tmp_path / "repo")
    monkeypatch.chdir(repo)
    _git(repo, "init", "-q")
    backup, lock, mark = _state_beside(repo)
    (repo / "poetry.lock").write_text("# not ours\n")
    _git(repo, "add", "voiceid-state.json", "voiceid-state.json.lock", "poetry.lock")
    assert main(["validate", "specs"]) == 0
    out, err = capsys.readouterr()
    assert "2 specs" in out
    hint = "add '*.lock' '*.backup' '*.mark' '*.cache' '*.journal' to .gitignore"
    assert err.splitlines() == [
        f"voiceid-reconciler: warning: {backup.name}: is not ignored by git, so `git add -A` "
        f"would commit it; {hint}",
        f"voiceid-reconciler: warning: {lock.name}: is committed to git "
        f"(git rm --cached {lock.name}); {hint}",
        f"voiceid-reconciler: warning: {mark.name}: is not ignored by git, so `git add -A` "
        f"would commit it; {hint}",
    ]
    (repo / ".gitignore").write_text("*.lock\n*.backup\n*.mark\n*.cache\n*.journal\n")
    _git(repo, "rm", "-q", "--cached", "voiceid-state.json.lock")
    assert main(["validate", "specs"]) == 0
    assert capsys.readouterr().err == ""


def test_validate_outside_a_git_work_tree_or_without_git_says_nothing_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repository(tmp_path / "repo")
    _state_beside(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert main(["validate", str(repo / "specs")]) == 0  # no work tree
    assert capsys.readouterr().err == ""
    _git(repo, "init", "-q")
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    assert main(["validate", str(repo / "specs")]) == 0  # no git
    assert capsys.readouterr().err == ""


def test_validate_speaks_plainly_and_counts_spec_files_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt field gets a did-you-mean; an empty list says so without pydantic's
    wording; the roster files a spec references are not counted as spec files."""
    root = _repository(tmp_path / "repo")
    assert main(["validate", str(root / "specs")]) == EXIT_OK
    assert capsys.readouterr().out == "OK: 2 specs in 2 files are valid\n"
    emea = root / "specs" / "emea.yaml"
    emea.write_text(emea.read_text() + "  priorty: 3\n  maxAtempts: 2\n")
    (root / "specs" / "empty.yaml").write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\nmetadata: {name: empty}\n"
        "spec:\n  domain: demo\n  dataAccessRoleArn: arn:aws:iam::123456789012:role/R\n"
        "  input: {speakers: []}\n  output: {s3Uri: 's3://b/out/', kmsKeyId: alias/k}\n"
    )
    assert main(["validate", str(root / "specs")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "unknown field 'spec.priorty'; did you mean 'priority'?" in err
    assert "unknown field 'spec.maxAtempts'; did you mean 'maxAttempts'?" in err
    assert "spec.input.speakers: must have at least 1 items" in err
    assert "should" not in err
    assert "after validation" not in err


def test_validate_catches_specs_that_differ_only_in_their_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two specs that would be one job (same everything but metadata.name) fail offline, at
    the second one's line, as they would online."""
    root = _repository(tmp_path / "repo")
    emea = root / "specs" / "emea.yaml"
    (root / "specs" / "emea-copy.yaml").write_text(
        emea.read_text().replace("name: emea}", "name: emea-copy}")
    )
    assert main(["validate", str(root / "specs")]) == EXIT_ERROR
    line = capsys.readouterr().err.splitlines()[0]
    assert line.startswith(f"{root / 'specs' / 'emea.yaml'}:1:1: SpeakerEnrollmentJob/emea ")
    assert "resolves to the same job as SpeakerEnrollmentJob/emea-copy" in line


def test_validate_formats_for_tools_and_for_github(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format json: one document on stdout (valid or not); --format github: one workflow
    command per problem, with file, line and column, escaped as GitHub asks."""
    root = _repository(tmp_path / "repo")
    specs = root / "specs"
    assert main(["validate", str(specs), "--format", "json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "formatVersion": 1,
        "valid": True,
        "specs": 2,
        "files": 2,
        "errors": [],
        "warnings": [],
    }
    emea = specs / "emea.yaml"
    emea.write_text(emea.read_text() + "  priorty: 3\n")
    assert main(["validate", str(specs), "--format", "json"]) == EXIT_ERROR
    out, err = capsys.readouterr()
    assert err == ""
    document = json.loads(out)
    assert document["valid"] is False
    assert document["errors"] == [
        {
            "file": str(emea),
            "line": 9,
            "column": 3,
            "message": "unknown field 'spec.priorty'; did you mean 'priority'?",
        }
    ]
    assert main(["validate", str(specs), "--format", "github"]) == EXIT_ERROR
    assert capsys.readouterr().out == (
        f"::error file={emea},line=9,col=3,title=voiceid-reconciler::"
        "unknown field 'spec.priorty'; did you mean 'priority'?\n"
    )


def test_validate_reports_every_problem_in_one_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken spec file, a broken roster of another spec and a duplicate name all come out
    of one run (fixing one never reveals the next)."""
    root = _repository(tmp_path / "repo")
    specs = root / "specs"
    (specs / "rosters" / "amer.csv").write_text("speakerId,audio\ncaller-2,\n")
    (specs / "broken.yaml").write_text("apiVersion: voiceid-reconciler/v1\nkind: [x\n")
    (specs / "copy.yaml").write_text((specs / "emea.yaml").read_text())
    assert main(["validate", str(specs)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "broken.yaml" in err
    assert "amer.csv:2:1: audio" in err
    assert "duplicate SpeakerEnrollmentJob name 'emea'" in err
