"""`voiceid-reconciler validate` and `schema`: one line per problem, exit codes, no tracebacks."""

from __future__ import annotations

import json
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
    assert out == "OK: 5 specs in 3 file(s) are valid\n"
    assert err == ""


def test_validate_with_selectors(capsys: pytest.CaptureFixture[str]) -> None:
    """--selector narrows the counted specs; repeated selectors must all match."""
    assert main(["validate", str(GOOD), "-l", "team=fraud-ops", "--selector", "region=amer"]) == 0
    assert capsys.readouterr().out == "OK: 2 specs in 3 file(s) are valid\n"


def test_validate_defaults_to_specs_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a path, validate reads ./specs."""
    shutil.copytree(GOOD, tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == EXIT_OK
    assert capsys.readouterr().out == "OK: 5 specs in 3 file(s) are valid\n"


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
        assert proc.stdout == "OK: 5 specs in 3 file(s) are valid\n"
        assert proc.stderr == ""
    else:
        expected = _expected_error_lines(path)
        assert proc.stdout == ""
        assert proc.stderr.splitlines() == [
            *expected,
            f"voiceid-reconciler: {len(expected)} errors in the specs",
        ]
