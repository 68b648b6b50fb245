"""Rules of the job kinds' modules that the mutation run (python -m tools.mutate) showed
unpinned."""

from __future__ import annotations

import json
import sys

import pytest

from reconciler.core import jobkinds
from reconciler.core.jobkinds.base import given, watchlist_ids
from reconciler.core.kinds import JobKind


def test_each_kinds_requests_per_job_is_voice_ids_quota() -> None:
    """Voice ID takes at most 10,000 speakers in an enrollment job and 500 fraudsters in a
    registration job: a roster larger than that is chunked into parts."""
    assert jobkinds.of(JobKind.ENROLLMENT).per_job == 10_000
    assert jobkinds.of(JobKind.REGISTRATION).per_job == 500


def test_a_kinds_settings_from_a_cache_row_are_checked_and_interned() -> None:
    """Each setting of its type, as many as the kind has (a bool is no int); the words read
    from JSON become the interned ones."""
    enrollment = jobkinds.of(JobKind.ENROLLMENT)
    read = json.loads('["OVERWRITE"]')[0]
    assert read is not sys.intern("OVERWRITE")  # a text of its own, as a cache row's are
    settings = enrollment.settings_from([read, "FAIL", None])
    assert settings == ("OVERWRITE", "FAIL", None)
    assert settings[0] is sys.intern("OVERWRITE")
    assert enrollment.settings_from(["SKIP", "FAIL", 40]) == ("SKIP", "FAIL", 40)
    for bad in (
        ["SKIP", "FAIL"],
        ["SKIP", "FAIL", 1, 2],
        ["SKIP", None, 1],
        ["SKIP", "FAIL", True],
    ):
        with pytest.raises(TypeError, match="not the settings of a SpeakerEnrollmentJob"):
            enrollment.settings_from(bad)


def test_a_risky_setting_is_read_only_where_it_is() -> None:
    """A risk's setting absent, or under a member that is no mapping, is no risk."""
    enrollment = jobkinds.of(JobKind.ENROLLMENT)
    assert enrollment.risk_notes({"fraudDetection": "IGNORE"}) == ()
    assert enrollment.risk_notes({"fraudDetection": None, "action": "IGNORE"}) == ()
    assert enrollment.risk_notes({"fraudDetection": {"action": "IGNORE"}}) == (
        "fraud detection IGNORE: enrolls callers even when they match a fraudster",
    )


def test_a_start_parameter_leaves_out_only_what_has_no_value() -> None:
    """None is left out (Voice ID's default); 0 and an empty text are values."""
    assert given(A=None, B=0, C="", D=[]) == {"B": 0, "C": "", "D": []}
    assert watchlist_ids(None) is None
    assert watchlist_ids("") == [""]


def test_an_unknown_kind_is_a_value_error() -> None:
    """Whatever is asked for (a text, a number, a list), a kind not registered is a
    ValueError, as JobKind(...) would say."""
    for kind in ("NotAKind", 1, ["SpeakerEnrollmentJob"], None):
        with pytest.raises(ValueError, match="not a registered kind"):
            jobkinds.of(kind)  # type: ignore[arg-type]
