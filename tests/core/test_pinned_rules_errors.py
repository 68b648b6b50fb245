"""Rules of the error values: locations, spec errors in order, redacted world text
(reconciler.core.errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core import errors
from reconciler.core.errors import (
    Location,
    SpecError,
    SpecErrors,
    StorageError,
    VoiceIdError,
)


def test_a_location_without_line_is_its_path() -> None:
    """Line and column default to 0 (unknown), and a location without a line shows its path."""
    where = Location("specs/a.yaml")
    assert (where.line, where.column) == (0, 0)
    assert str(where) == "specs/a.yaml"
    assert str(Location("specs/a.yaml", 3)) == "specs/a.yaml:3:0"
    assert str(Location(Path("specs/a.yaml"), 3, 7)) == "specs/a.yaml:3:7"
    of_text = Location.of_text("specs/a.yaml")
    assert (of_text.line, of_text.column) == (0, 0)
    assert str(of_text) == "specs/a.yaml"


def test_a_location_gives_its_path_as_a_path() -> None:
    """The path is kept as text, given as a Path; a str is normalised, of_text's text is not."""
    assert Location("specs/./a.yaml", 1, 1).path == Path("specs/a.yaml")
    assert str(Location("specs//a.yaml", 1, 1)) == "specs/a.yaml:1:1"
    assert str(Location.of_text("specs//a.yaml", 2, 3)) == "specs//a.yaml:2:3"
    assert Location.of_text("specs/a.yaml", 2, 3) == Location(Path("specs/a.yaml"), 2, 3)


def test_locations_are_values() -> None:
    """Equal path, line and column are equal and hash alike; any other difference is not."""
    a = Location("a.yaml", 1, 2)
    assert a == Location(Path("a.yaml"), 1, 2)
    assert hash(a) == hash(Location("a.yaml", 1, 2))
    assert len({a, Location("a.yaml", 1, 2)}) == 1
    assert a != Location("a.yaml", 1, 3)
    assert a != Location("a.yaml", 2, 2)
    assert a != Location("b.yaml", 1, 2)
    assert (a == "a.yaml:1:2") is False
    assert (a != "a.yaml:1:2") is True
    assert repr(a) == f"Location(path={Path('a.yaml')!r}, line=1, column=2)"


def test_a_spec_error_names_its_place() -> None:
    """A spec error reads 'file:line:column: message' and keeps both parts."""
    where = Location("a.yaml", 4, 2)
    error = SpecError(where, "spec.domain: required")
    assert str(error) == "a.yaml:4:2: spec.domain: required"
    assert error.location == where
    assert error.message == "spec.domain: required"
    assert error.sort_key() == ("a.yaml", 4, 2, "spec.domain: required")


def test_spec_errors_in_file_and_line_order() -> None:
    """Every problem of a pass, sorted by file, line, column then message; counted in words."""
    found = [
        SpecError(Location("b.yaml", 1, 1), "x"),
        SpecError(Location("a.yaml", 10, 1), "y"),
        SpecError(Location("a.yaml", 9, 5), "z"),
        SpecError(Location("a.yaml", 9, 2), "w"),
        SpecError(Location("a.yaml", 9, 2), "v"),
    ]
    many = SpecErrors(found)
    assert [(e.location.line, e.message) for e in many.errors] == [
        (9, "v"),
        (9, "w"),
        (9, "z"),
        (10, "y"),
        (1, "x"),
    ]
    assert str(many) == "5 errors in the specs"
    assert str(SpecErrors(found[:1])) == "1 error in the specs"
    assert str(SpecErrors([])) == "0 errors in the specs"


@pytest.mark.parametrize("make", [StorageError, VoiceIdError, errors.NotFoundError])
def test_world_text_is_redacted_and_codes_kept(make: type[StorageError | VoiceIdError]) -> None:
    """An error's message from S3 or Voice ID loses S3 keys; its code is kept as it is."""
    error = make("denied reading s3://bucket/audio/jo.wav now", code="AccessDenied")
    assert str(error) == "denied reading s3://bucket/<key> now"
    assert error.code == "AccessDenied"
    assert make("x").code == ""


def test_a_voice_id_error_keeps_its_resource_type() -> None:
    """A Voice ID error names the resource type it is about (a missing domain, job, ...)."""
    error = errors.NotFoundError(
        "no such domain", code="ResourceNotFoundException", resource_type="DOMAIN"
    )
    assert (str(error), error.resource_type) == ("no such domain", "DOMAIN")
    assert VoiceIdError("x").resource_type == ""


def test_the_hierarchy() -> None:
    """Every error is a ReconcilerError; the lock, checksum and limit errors are of their family."""
    assert issubclass(errors.StateLockedError, errors.StateError)
    assert issubclass(errors.PlanChecksumMismatch, errors.PlanError)
    assert issubclass(errors.UnsafePlanError, errors.PlanError)
    for sub in (
        errors.RetryableError,
        errors.AccessDeniedError,
        errors.NotFoundError,
        errors.ConflictError,
        errors.QuotaExceededError,
        errors.InvalidRequestError,
    ):
        assert issubclass(sub, VoiceIdError)
    for top in (
        SpecError,
        SpecErrors,
        errors.SelectorError,
        errors.StateError,
        StorageError,
        errors.PlanError,
        VoiceIdError,
    ):
        assert issubclass(top, errors.ReconcilerError)
