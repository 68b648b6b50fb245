"""Rules of rosters: reading CSV and YAML files with file:line errors, the repository
boundary, chunking into parts (reconciler.core.roster)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core import roster
from reconciler.core.errors import Location, SpecError
from reconciler.core.roster import (
    MAX_ROSTER_ENTRIES,
    Part,
    Request,
    has_roster,
    load_roster,
    outside_repository,
    part_names,
    parts,
    render_manifest,
    repository_root,
    roster_errors,
    roster_source,
    shown,
)
from reconciler.core.spec import FraudsterRegistrationJob, LoadedSpec, SpeakerEnrollmentJob

E = "SpeakerEnrollmentJob"
F = "FraudsterRegistrationJob"
A = "s3://bucket/a.wav"


def _spec(where: Path, kind: str = E, name: str = "r", **source: Any) -> LoadedSpec:
    model = SpeakerEnrollmentJob if kind == E else FraudsterRegistrationJob
    document = model.model_validate(
        {
            "apiVersion": "voiceid-reconciler/v1",
            "kind": kind,
            "metadata": {"name": name},
            "spec": {
                "domain": "prod",
                "dataAccessRoleArn": "arn:aws:iam::123456789012:role/R",
                "input": {"stagingUri": "s3://bucket/staging/", **source},
                "output": {"s3Uri": "s3://bucket/out/", "kmsKeyId": "alias/k"},
            },
        }
    )
    location = Location(where / f"{name}.yaml", 1, 1)
    return LoadedSpec.of(document, location, location)


def _file(repo: Path, name: str, text: str, kind: str = E) -> LoadedSpec:
    (repo / name).write_text(text)
    field = "speakersFile" if kind == E else "fraudstersFile"
    return _spec(repo, kind, **{field: name})


def _problems(spec: LoadedSpec) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_roster(spec)
    return [
        f"{e.location.line}:{e.location.column}: {e.message}" for e in roster_errors(caught.value)
    ]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository that is the working directory (files are named relative to it)."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- values ---------------------------------------------------------------------------------


def test_requests_and_parts_are_immutable_values() -> None:
    """A request and a part cannot be changed, and equal ones are equal and hash alike."""
    request = Request("s", ((A, 0),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.speaker_id = "t"  # type: ignore[misc]
    part = Part(None, b"{}", "d", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        part.count = 2  # type: ignore[misc]
    assert len({request, Request("s", ((A, 0),))}) == 1
    assert len({part, Part(None, b"{}", "d", 1)}) == 1


def test_a_part_is_named_by_its_index() -> None:
    """A roster in one job keeps the spec's name; a part is ``<name>-part-NNN``."""
    assert Part(None, b"", "", 0).name("r") == "r"
    assert Part(3, b"", "", 0).name("r") == "r-part-003"
    assert Part(12, b"", "", 0).name("r") == "r-part-012"


def test_the_documented_limit_of_entries() -> None:
    """A roster holds at most a million entries (the README's limit)."""
    assert MAX_ROSTER_ENTRIES == 1_000_000


# --- sources --------------------------------------------------------------------------------


def test_where_a_roster_comes_from(tmp_path: Path) -> None:
    """Inline entries or a file, per kind; a manifest input has no roster."""
    inline = _spec(tmp_path, speakers=[{"speakerId": "s1", "audio": [A]}])
    (speakers, file) = roster_source(inline)
    assert file is None
    assert speakers is not None
    assert [getattr(s, "speaker_id", None) for s in speakers] == ["s1"]
    assert has_roster(inline)
    fraud_file = _spec(tmp_path, F, fraudstersFile="f.csv")
    assert roster_source(fraud_file) == (None, "f.csv")
    assert has_roster(fraud_file)
    speaker_file = _spec(tmp_path, speakersFile="s.csv")
    assert roster_source(speaker_file) == (None, "s.csv")
    assert has_roster(speaker_file)
    manifest = dataclasses.replace(
        inline,
        facts=inline.facts._replace(inline_roster=False, roster_file=None, manifest="s3://b/m"),
    )
    assert not has_roster(manifest)


def test_inline_entries_with_channels(tmp_path: Path) -> None:
    """An inline entry's audio is a URI (channel 0) or a URI with its channel."""
    spec = _spec(
        tmp_path, F, fraudsters=[{"audio": [A, {"uri": "s3://bucket/b.wav", "channel": 1}]}]
    )
    assert load_roster(spec) == [Request(None, ((A, 0), ("s3://bucket/b.wav", 1)))]
    speakers = _spec(tmp_path, speakers=[{"speakerId": "s1", "audio": [A]}])
    assert load_roster(speakers) == [Request("s1", ((A, 0),))]


# --- CSV ------------------------------------------------------------------------------------


def test_a_csv_roster_row_by_row(repo: Path) -> None:
    """Audio split on spaces or ';', one channel for all of a row's audio, values stripped."""
    spec = _file(
        repo,
        "r.csv",
        "speakerId,audio,channel\n"
        f" s1 ,{A};s3://bucket/b.wav,1\n"
        f"s2,{A} s3://bucket/c.wav,\n"
        f"s3,{A}, 0 \n",
    )
    assert load_roster(spec) == [
        Request("s1", ((A, 1), ("s3://bucket/b.wav", 1))),
        Request("s2", ((A, 0), ("s3://bucket/c.wav", 0))),
        Request("s3", ((A, 0),)),
    ]
    assert _file(repo, "s.CSV", f"speakerId,audio\ns1,{A}\n") is not None
    assert load_roster(_spec(repo, speakersFile="s.CSV")) == [Request("s1", ((A, 0),))]


def test_a_fraudster_csv_has_no_speaker_ids(repo: Path) -> None:
    """A fraudster roster's columns are audio[,channel]; its requests carry no speaker id."""
    spec = _file(repo, "f.csv", f"audio,channel\n{A},1\n", kind=F)
    assert load_roster(spec) == [Request(None, ((A, 1),))]
    assert load_roster(_file(repo, "g.csv", f"audio\n{A}\n", kind=F)) == [Request(None, ((A, 0),))]
    wrong = _file(repo, "h.csv", f"speakerId,audio\ns1,{A}\n", kind=F)
    assert _problems(wrong) == [
        "1:1: CSV header must be audio[,channel]; got audio and 1 other field"
    ]


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("", "got nothing"),  # a blank first line
        ("audio", "got audio"),
        ("speakerId", "got speakerId"),
        ("speakerId,audio,channel,extra", "got speakerId,audio,channel and 1 other field"),
        ("speakerId,audio,x,y", "got speakerId,audio and 2 other fields"),
        (
            "s1,s3://bucket/a.wav",
            "the first line has no column name (2 fields, not shown: a roster without its "
            "header line?)",
        ),
        (
            "s1",
            "the first line has no column name (1 field, not shown: a roster without its "
            "header line?)",
        ),
    ],
)
def test_a_wrong_header_is_named_in_the_products_words(
    repo: Path, header: str, problem: str
) -> None:
    """The header must hold the kind's columns; what it holds is said without its values."""
    spec = _file(repo, "r.csv", f"{header}\nspeakerId,audio\n")
    assert _problems(spec) == [f"1:1: CSV header must be audio,speakerId[,channel]; {problem}"]


def test_every_row_problem_at_its_line(repo: Path) -> None:
    """Each bad row is reported at its line (column 1), all of them, none of their values."""
    long_uri = "s3://bucket/" + "k" * (1025 - len("s3://bucket/"))
    rows = [
        f"ok1,{A},0",  # 2
        f"bad id!,{A},0",  # 3
        "x,https://x/y.wav,0",  # 4
        f"x2,{A},2",  # 5
        "x3,,0",  # 6
        "x4," + ";".join([A] * 11) + ",0",  # 7
        f"x5,{A},0,extra",  # 8
        f"ok1,{A},0",  # 9
        f"x6,{long_uri},0",  # 10
        f",{A},0",  # 11
        f"{'s' * 257},{A},0",  # 12
        f"x7,{A} notanuri,0",  # 13
    ]
    spec = _file(repo, "r.csv", "speakerId,audio,channel\n" + "\n".join(rows) + "\n")
    speaker = (
        "speakerId: must be 1-256 letters, digits, '_' or '-', starting with a letter or digit"
    )
    assert _problems(spec) == [
        f"3:1: {speaker}",
        "4:1: audio: must be S3 URIs such as s3://bucket/key",
        "5:1: channel: must be 0 or 1",
        "6:1: audio: 0 files; 1 to 10 are allowed",
        "7:1: audio: 11 files; 1 to 10 are allowed",
        "8:1: more columns than the header",
        "9:1: same speakerId as line 2",
        "10:1: audio: must be S3 URIs such as s3://bucket/key",
        f"11:1: {speaker}",
        f"12:1: {speaker}",
        "13:1: audio: must be S3 URIs such as s3://bucket/key",
    ]
    with pytest.raises(SpecError) as caught:
        load_roster(spec)
    assert caught.value.message == speaker  # the first problem stands for them all
    assert caught.value.location == Location(Path("r.csv"), 3, 1)


def test_the_edges_of_a_rows_limits(repo: Path) -> None:
    """Ten audio files, a 1024-character URI and a 256-character speaker id are allowed."""
    uri = "s3://bucket/" + "k" * (1024 - len("s3://bucket/"))
    rows = [
        "a1," + ";".join([A] * 10) + ",1",
        f"a2,{uri},0",
        f"{'s' * 256},{A},0",
    ]
    spec = _file(repo, "r.csv", "speakerId,audio,channel\n" + "\n".join(rows) + "\n")
    loaded = load_roster(spec)
    assert [len(r.audio) for r in loaded] == [10, 1, 1]
    assert loaded[2].speaker_id == "s" * 256


def test_a_roster_above_its_entry_limit(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More entries than the limit is refused at the first line beyond it; the limit itself is
    allowed."""
    monkeypatch.setattr(roster, "MAX_ROSTER_ENTRIES", 3)
    rows = "".join(f"s{i},{A}\n" for i in range(5))
    spec = _file(repo, "r.csv", "speakerId,audio\n" + rows)
    assert _problems(spec) == ["5:1: more than 3 entries"]
    fits = _file(repo, "ok.csv", "speakerId,audio\n" + "".join(f"s{i},{A}\n" for i in range(3)))
    assert len(load_roster(fits)) == 3


def test_an_empty_roster_is_refused(repo: Path) -> None:
    """A roster file with no entry is an error, at its first line (CSV) or the file (YAML)."""
    assert _problems(_file(repo, "r.csv", "speakerId,audio\n")) == ["1:1: roster has no entries"]
    assert _problems(_file(repo, "r.yaml", "[]\n")) == ["0:0: roster has no entries"]


def test_a_csv_that_cannot_be_read_as_csv(repo: Path) -> None:
    """A CSV the csv module refuses (a field beyond its size limit) is one error naming the
    file."""
    spec = _file(repo, "r.csv", f"speakerId,audio\ns1,{'k' * 200_000}\n", kind=E)
    (problem,) = _problems(spec)
    assert problem.startswith("0:0: not a valid CSV roster: ")


# --- YAML -----------------------------------------------------------------------------------


def test_a_yaml_roster(repo: Path) -> None:
    """A YAML roster (.yaml or .yml) is a list of entries of the inline form."""
    text = f"- speakerId: s1\n  audio: [{A}, {{uri: 's3://bucket/b.wav', channel: 1}}]\n"
    assert load_roster(_file(repo, "r.yml", text)) == [
        Request("s1", ((A, 0), ("s3://bucket/b.wav", 1)))
    ]
    fraud = _file(repo, "f.yaml", f"- audio: [{A}]\n", kind=F)
    assert load_roster(fraud) == [Request(None, ((A, 0),))]


def test_a_yaml_duplicate_speaker_is_named_by_position(repo: Path) -> None:
    """The same speakerId twice is refused at the second entry's id, naming the first entry."""
    text = f"- speakerId: a\n  audio: [{A}]\n- speakerId: b\n  audio: [{A}]\n- speakerId: a\n  audio: [{A}]\n"
    assert _problems(_file(repo, "r.yaml", text)) == [
        "5:14: [2].speakerId: same speakerId as entry 1"
    ]


def test_yaml_problems_are_every_one(repo: Path) -> None:
    """Every invalid entry of a YAML roster is reported, each at its place."""
    text = f"- speakerId: a\n  audio: [nope]\n- speakerId: b\n  audio: [{A}]\n- audio: [{A}]\n"
    found = _problems(_file(repo, "r.yaml", text))
    assert len(found) == 2
    assert found[0].startswith("2:")
    assert found[1].startswith("5:")


def test_other_file_types_are_refused(repo: Path) -> None:
    """Only .csv, .yaml and .yml are rosters."""
    spec = _file(repo, "r.txt", f"speakerId,audio\ns1,{A}\n")
    assert _problems(spec) == ["1:1: roster file 'r.txt' must be .csv, .yaml or .yml"]


# --- the repository -------------------------------------------------------------------------


def test_a_roster_file_must_exist_inside_the_repository(repo: Path, tmp_path: Path) -> None:
    """Missing, a directory, outside the repository, or a symlink loop: each refused, named."""
    (repo / "dir.csv").mkdir()
    assert _problems(_spec(repo, speakersFile="none.csv")) == [
        "1:1: roster file 'none.csv' does not exist"
    ]
    assert _problems(_spec(repo, speakersFile="dir.csv")) == [
        "1:1: roster file 'dir.csv' does not exist"
    ]
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere.csv"
    elsewhere.write_text(f"speakerId,audio\ns1,{A}\n")
    (repo / "link.csv").symlink_to(elsewhere)
    assert _problems(_spec(repo, speakersFile="link.csv")) == [
        "1:1: roster file 'link.csv' is outside the repository"
    ]
    (repo / "loop.csv").symlink_to(repo / "loop.csv")
    (problem,) = _problems(_spec(repo, speakersFile="loop.csv"))
    assert problem.startswith("1:1: roster file 'loop.csv': ")


def test_a_roster_is_named_relative_to_the_working_directory(repo: Path) -> None:
    """A roster inside the working directory is named relative to it in its errors."""
    (repo / "sub").mkdir()
    spec = _spec(repo / "sub", speakersFile="r.csv")
    (repo / "sub" / "r.csv").write_text("speakerId,audio\nbad id,x\n")
    with pytest.raises(SpecError) as caught:
        load_roster(spec)
    assert caught.value.location.path == Path("sub/r.csv")


def test_a_symlinked_spec_reads_its_roster_next_to_its_target(repo: Path) -> None:
    """The roster path is relative to the file a symlinked spec leads to."""
    (repo / "real").mkdir()
    (repo / "real" / "r.csv").write_text(f"speakerId,audio\ns1,{A}\n")
    (repo / "links").mkdir()
    (repo / "links" / "r.yaml").symlink_to(repo / "real" / "r.yaml")
    (repo / "real" / "r.yaml").write_text("")
    spec = _spec(repo / "links", speakersFile="r.csv")
    assert load_roster(spec) == [Request("s1", ((A, 0),))]


def test_the_repository_is_the_nearest_directory_with_git(tmp_path: Path) -> None:
    """The nearest .git at or above a directory; without one, the directory itself."""
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "a" / "b").mkdir(parents=True)
    (tmp_path / "plain").mkdir()
    assert repository_root(tmp_path / "repo" / "a" / "b") == (tmp_path / "repo").resolve()
    assert repository_root(tmp_path / "repo") == (tmp_path / "repo").resolve()
    assert repository_root(tmp_path / "plain") == (tmp_path / "plain").resolve()
    (tmp_path / "link").symlink_to(tmp_path / "repo" / "a")
    assert repository_root(tmp_path / "link") == (tmp_path / "link").resolve()


def test_a_relative_directory_is_taken_from_the_working_directory(
    repo: Path,
) -> None:
    """A relative directory is made absolute before its parents are searched."""
    (repo / "specs").mkdir()
    assert repository_root("specs") == repo.resolve()
    assert repository_root(Path("specs")) == repo.resolve()


def test_outside_repository_says_where_a_path_leads(tmp_path: Path) -> None:
    """None for a path inside the repository (or the root given); where it leads otherwise."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    inside = repo / "in.yaml"
    inside.write_text("")
    outside = tmp_path / "out.yaml"
    outside.write_text("")
    (repo / "link.yaml").symlink_to(outside)
    assert outside_repository(inside) is None
    assert outside_repository(repo / "link.yaml") == outside.resolve()
    assert outside_repository(repo / "link.yaml", tmp_path.resolve()) is None
    assert outside_repository(inside, tmp_path / "elsewhere") == inside.resolve()


def test_shown_is_relative_to_the_working_directory(repo: Path, tmp_path: Path) -> None:
    """Inside the working directory a path is shown relative to it, else as it is."""
    assert shown(repo / "a" / "r.csv") == Path("a/r.csv")
    assert shown(Path("/elsewhere/r.csv")) == Path("/elsewhere/r.csv")


# --- parts ----------------------------------------------------------------------------------


def _fraudsters(count: int) -> tuple[Request, ...]:
    return tuple(Request(None, ((f"s3://bucket/f{i}.wav", 0),)) for i in range(count))


def test_part_names_above_the_per_job_limit(tmp_path: Path) -> None:
    """A roster in one job has no part names; above 500 fraudsters, one name per 500."""
    spec = _spec(tmp_path, F, fraudsters=[{"audio": [A]}])
    assert part_names(spec) == []
    assert part_names(dataclasses.replace(spec, roster=_fraudsters(500))) == []
    assert part_names(dataclasses.replace(spec, roster=_fraudsters(501))) == [
        "r-part-001",
        "r-part-002",
    ]
    assert part_names(dataclasses.replace(spec, roster=_fraudsters(1001))) == [
        "r-part-001",
        "r-part-002",
        "r-part-003",
    ]
    assert part_names(dataclasses.replace(spec, roster=())) == []


def test_parts_by_position_numbered_on() -> None:
    """Parts of ``limit`` requests in order; RequestIds continue from part to part; each part's
    digest is its body's SHA-256; one part only has no index."""
    requests = _fraudsters(5)
    found = parts(F, requests, limit=2)
    assert [(p.index, p.count) for p in found] == [(1, 2), (2, 2), (3, 1)]
    ids = [
        [r["RequestId"] for r in json.loads(p.body)["FraudsterRegistrationRequests"]] for p in found
    ]
    assert ids == [["req-0000001", "req-0000002"], ["req-0000003", "req-0000004"], ["req-0000005"]]
    assert [p.body for p in found] == [
        render_manifest(F, requests[0:2]),
        render_manifest(F, requests[2:4], offset=2),
        render_manifest(F, requests[4:], offset=4),
    ]
    assert all(p.digest == hashlib.sha256(p.body).hexdigest() for p in found)
    (whole,) = parts(F, requests)
    assert (whole.index, whole.count, whole.body) == (None, 5, render_manifest(F, requests))
    assert parts(F, []) == []


def test_parts_default_to_the_kinds_limit() -> None:
    """Without a limit a roster is cut at its kind's per-job limit (500 fraudsters)."""
    assert [p.count for p in parts(F, _fraudsters(1001))] == [500, 500, 1]


def test_a_manifest_is_numbered_from_one() -> None:
    """Without an offset the first RequestId is req-0000001."""
    body = json.loads(render_manifest(F, _fraudsters(1)))
    assert body["FraudsterRegistrationRequests"][0]["RequestId"] == "req-0000001"


def test_a_dangling_link_is_a_roster_that_does_not_exist(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A roster link whose target is missing (wherever it points) does not exist."""
    missing = tmp_path_factory.mktemp("elsewhere") / "gone.csv"
    (repo / "link.csv").symlink_to(missing)
    assert _problems(_spec(repo, speakersFile="link.csv")) == [
        "1:1: roster file 'link.csv' does not exist"
    ]
