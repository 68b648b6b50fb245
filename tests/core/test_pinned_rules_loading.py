"""Rules of loading specs: which files are found, which YAML is a spec, every problem at once,
rosters and the redaction mask set (reconciler.core.loading)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.errors import Location, SpecErrors
from reconciler.core.loading import (
    API_GROUP,
    SPEC_SUFFIXES,
    check,
    claims_ours,
    discover,
    load,
    load_file,
    load_selected,
    load_specs,
)
from reconciler.core.redact import redact
from reconciler.core.roster import Request
from reconciler.core.speccache import SpecCache

E = "SpeakerEnrollmentJob"
F = "FraudsterRegistrationJob"
A = "s3://bucket/a.wav"


def _doc(name: str, kind: str = E, *, labels: str = "{}", source: str = "") -> str:
    source = source or f"{{manifest: 's3://bucket/{name}.json'}}"
    return (
        f"apiVersion: voiceid-reconciler/v1\nkind: {kind}\n"
        f"metadata: {{name: {name}, labels: {labels}}}\n"
        "spec:\n  domain: prod\n  dataAccessRoleArn: arn:aws:iam::123456789012:role/R\n"
        f"  input: {source}\n"
        "  output: {s3Uri: 's3://bucket/out/', kmsKeyId: alias/k}\n"
    )


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _messages(paths: list[Path]) -> list[str]:
    with pytest.raises(SpecErrors) as caught:
        load(paths)
    return [str(e) for e in caught.value.errors]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository that is the working directory."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- which YAML is ours ---------------------------------------------------------------------


def test_the_names_of_ours() -> None:
    """Specs end in .yaml or .yml; our apiVersions start with voiceid-reconciler/."""
    assert SPEC_SUFFIXES == (".yaml", ".yml")
    assert API_GROUP == "voiceid-reconciler/"


@pytest.mark.parametrize(
    ("data", "ours"),
    [
        ({"apiVersion": "voiceid-reconciler/v9"}, True),
        ({"apiVersion": "voiceid-reconciler/v1", "kind": "Deployment"}, True),
        ({"apiVersion": "apps/v1", "kind": E}, True),
        ({"kind": F}, True),
        ({"apiVersion": "apps/v1", "kind": "Deployment"}, False),
        ({"apiVersion": 1, "kind": "Deployment"}, False),
        ({"apiVersion": "x-voiceid-reconciler/v1"}, False),
        ({}, False),
        ([{"kind": E}], False),
        ("voiceid-reconciler/v1", False),
    ],
)
def test_a_document_claims_to_be_ours(data: object, ours: bool) -> None:
    """A mapping whose apiVersion is in our group or whose kind is one of ours."""
    assert claims_ours(data) is ours


# --- discovery ------------------------------------------------------------------------------


def test_discover_walks_directories_sorted_without_hidden_entries(repo: Path) -> None:
    """Every .yaml and .yml below a directory, sorted; hidden files and directories and other
    suffixes skipped; a file named as a PATH is taken whatever its name."""
    for name in (
        "b.yaml",
        "a.yml",
        "sub/c.yaml",
        "sub/deeper/d.yaml",
        "x.json",
        ".hidden.yaml",
        ".ci/e.yaml",
        "sub/.f.yml",
        "notes.txt",
    ):
        _write(repo / name, "")
    assert discover([Path()]) == [
        Path("a.yml"),
        Path("b.yaml"),
        Path("sub/c.yaml"),
        Path("sub/deeper/d.yaml"),
    ]
    assert discover([repo / "sub", repo / "notes.txt", repo / "sub" / "c.yaml"]) == [
        repo / "notes.txt",
        repo / "sub" / "c.yaml",
        repo / "sub" / "deeper" / "d.yaml",
    ]
    assert discover([Path("sub/")]) == [Path("sub/c.yaml"), Path("sub/deeper/d.yaml")]


def test_a_missing_path_is_an_error(repo: Path) -> None:
    """A PATH that does not exist is refused, named, even beside one that does."""
    _write(repo / "a.yaml", "")
    with pytest.raises(SpecErrors) as caught:
        discover([Path("a.yaml"), Path("nope"), Path("gone.yaml")])
    assert [str(e) for e in caught.value.errors] == [
        "gone.yaml: no such file or directory",
        "nope: no such file or directory",
    ]


def test_links_inside_the_repository(repo: Path) -> None:
    """A linked file inside the repository is found; a linked directory is not walked."""
    _write(repo / "real" / "a.yaml", "")
    (repo / "specs").mkdir()
    (repo / "specs" / "link.yaml").symlink_to(repo / "real" / "a.yaml")
    (repo / "specs" / "dir").symlink_to(repo / "real")
    (repo / "specs" / "dangling.yaml").symlink_to(repo / "missing.yaml")
    assert discover([Path("specs")]) == [Path("specs/dangling.yaml"), Path("specs/link.yaml")]


def test_links_that_lead_outside_the_repository(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A link to a file or a directory outside, inside a PATH or as the PATH, is an error."""
    outside = tmp_path_factory.mktemp("outside")
    _write(outside / "o.yaml", "")
    (repo / "specs").mkdir()
    (repo / "specs" / "f.yaml").symlink_to(outside / "o.yaml")
    (repo / "specs" / "d").symlink_to(outside)
    (repo / "specs" / "f.txt").symlink_to(outside / "o.yaml")  # not a spec's name: not read
    (repo / "top").symlink_to(outside)
    (repo / "top.yaml").symlink_to(outside / "o.yaml")
    with pytest.raises(SpecErrors) as caught:
        discover([Path("specs"), Path("top"), Path("top.yaml")])
    target = outside.resolve()
    assert sorted(str(e) for e in caught.value.errors) == [
        f"specs/d: a symbolic link to a directory outside the repository ({target}); not read",
        f"specs/f.yaml: a symbolic link to a file outside the repository "
        f"({target / 'o.yaml'}); not read",
        f"top.yaml: a symbolic link to a file outside the repository "
        f"({target / 'o.yaml'}); not read",
        f"top: a symbolic link to a directory outside the repository ({target}); not read",
    ]


def test_an_unreadable_directory_is_passed_over(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory that cannot be listed is skipped, as os.walk does; the others are walked."""
    _write(repo / "a.yaml", "")
    _write(repo / "locked" / "b.yaml", "")
    _write(repo / "open" / "c.yaml", "")
    listing = os.scandir

    def scandir(path: str) -> Any:
        if path.endswith("locked"):
            raise PermissionError(path)
        return listing(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert discover([Path()]) == [Path("a.yaml"), Path("open/c.yaml")]


# --- one file -------------------------------------------------------------------------------


def test_a_named_file_is_judged_on_everything(repo: Path) -> None:
    """Named as a PATH: every document must be a spec; a found file only those claiming to be."""
    path = _write(
        repo / "mixed.yaml",
        _doc("a") + "---\n- a list\n---\nplain text\n---\n7\n---\nkind: Deployment\n---\n"
        "apiVersion: x/v1\n---\n" + _doc("b"),
    )
    specs, errors = load_file(path)
    assert [s.name for s in specs] == ["a", "b"]
    assert [f"{e.location.line}: {e.message}" for e in errors] == [
        "10: a spec document must be a mapping, not a list",
        "12: a spec document must be a mapping, not a str",
        "14: a spec document must be a mapping, not a int",
        "16: unknown kind 'Deployment': expected one of SpeakerEnrollmentJob, "
        "FraudsterRegistrationJob",
        "18: missing 'kind'",
    ]
    specs, errors = load_file(path, found=True)
    assert ([s.name for s in specs], errors) == (["a", "b"], [])


def test_where_a_spec_and_its_name_are(repo: Path) -> None:
    """A spec is located at its document, its name at the name's node."""
    path = _write(repo / "a.yaml", "# one\n---\n" + _doc("a"))
    (spec,) = load_file(path)[0]
    assert spec.location == Location(path, 3, 1)
    assert spec.name_location == Location(path, 5, 18)


def test_a_file_without_documents(repo: Path) -> None:
    """Named: 'no spec documents' (empty documents do not count); found: nothing to say."""
    path = _write(repo / "a.yaml", "# only a comment\n---\n---\n")
    assert [e.message for e in load_file(path)[1]] == ["no spec documents in file"]
    assert load_file(path, found=True) == ([], [])
    empty = _write(repo / "e.yaml", "")
    assert [e.message for e in load_file(empty)[1]] == [
        "empty file: expected at least one spec document"
    ]
    assert load_file(empty, found=True) == ([], [])


def test_broken_yaml_is_ours_only_when_it_names_us(repo: Path) -> None:
    """A found file that does not parse is reported only when its text names our group or a
    kind of ours; the parse stops at the error, keeping the specs before it."""
    other = _write(repo / "other.yaml", "key: [unclosed\n")
    assert load_file(other, found=True) == ([], [])
    (error,) = load_file(other)[1]
    assert error.message.startswith("YAML: ")
    for word in (API_GROUP, E, F):
        ours = _write(repo / "ours.yaml", f"# {word}\nkey: [unclosed\n")
        (error,) = load_file(ours, found=True)[1]
        assert error.message.startswith("YAML: ")
        assert error.location.line == 3
    later = _write(repo / "later.yaml", _doc("a") + "---\nkey: [unclosed\n---\n" + _doc("b"))
    specs, errors = load_file(later)
    assert [s.name for s in specs] == ["a"]
    assert len(errors) == 1


def test_a_found_file_that_cannot_be_read_as_text(repo: Path) -> None:
    """A file whose text cannot be read is reported, found or named: nothing shows it is
    another tool's."""
    path = repo / "bin.yaml"
    path.write_bytes(b"key: \0\n")
    for found in (True, False):
        assert [e.message for e in load_file(path, found=found)[1]] == [
            "binary file (contains NUL bytes), not YAML"
        ]


def test_too_deep_and_too_big_documents(repo: Path) -> None:
    """Nesting beyond 64 levels, or aliases expanding beyond a million nodes, is refused."""
    deep = _write(repo / "deep.yaml", f"kind: {E}\nx: " + "[" * 70 + "]" * 70 + "\n")
    (error,) = load_file(deep)[1]
    assert error.message == "nesting deeper than 64 levels"
    assert error.location.line == 2
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(6)
    ]
    bomb = _write(repo / "bomb.yaml", f"kind: {E}\n" + "\n".join(lines) + "\n")
    (error,) = load_file(bomb)[1]
    assert error.message == "document expands to more than 1,000,000 nodes (alias bomb?)"


def test_a_control_character_is_one_located_error(repo: Path) -> None:
    """A character YAML cannot read at all gives one error, not a traceback."""
    path = _write(repo / "a.yaml", f"kind: {E}\nname: \x07\n")
    (error,) = load_file(path)[1]
    assert error.location.path == path


def test_the_cache_spares_a_valid_file_only(repo: Path) -> None:
    """A file loaded without a problem is remembered (named and found apart) and comes back
    from the cache; a broken one is parsed, and reported, every time."""
    cache = SpecCache()
    good = _write(repo / "good.yaml", _doc("a"))
    first = load_file(good, cache=cache)
    assert cache.lookup("nothing", good) is None
    again = load_file(good, cache=cache)
    assert [s.key for s in again[0]] == [s.key for s in first[0]] == [f"{E}/a"]
    assert cache.hits == 1
    load_file(good, found=True, cache=cache)
    assert cache.hits == 1
    load_file(good, found=True, cache=cache)
    assert cache.hits == 2
    bad = _write(repo / "bad.yaml", f"kind: {E}\n")
    assert load_file(bad, cache=cache)[1]
    assert load_file(bad, cache=cache)[1]
    assert cache.hits == 2
    (missing,) = load_file(repo / "gone.yaml", cache=cache)[1]
    assert missing.message.startswith("cannot read file")


# --- many files -----------------------------------------------------------------------------


def test_every_problem_of_every_file_at_once(repo: Path) -> None:
    """A broken file does not hide the others' problems, nor a duplicate name, sorted."""
    _write(repo / "a.yaml", _doc("x"))
    _write(repo / "b.yaml", f"apiVersion: voiceid-reconciler/v1\nkind: {E}\n")
    _write(repo / "c.yaml", _doc("x") + "---\n" + _doc("x", F))
    messages = _messages([Path()])
    assert len(messages) == 3
    assert all(m.startswith("b.yaml:") for m in messages[:2])
    assert messages[2] == f"c.yaml:3:18: duplicate {E} name 'x' (first defined at a.yaml:3:18)"


def test_a_directory_without_specs_is_no_spec(repo: Path) -> None:
    """An empty tree (or one of other tools' YAML) is an empty set of specs, not an error."""
    _write(repo / "mkdocs.yml", "site_name: x\n")
    assert load([repo]) == []
    assert load_specs([repo]) == []


def test_yaml_rosters_beside_the_specs_are_not_specs(repo: Path) -> None:
    """A YAML roster named by a spec is neither loaded nor judged as a spec, even named."""
    source = "{speakersFile: roster.yaml, stagingUri: 's3://bucket/s/'}"
    _write(repo / "spec.yaml", _doc("r", source=source))
    _write(repo / "roster.yaml", f"- speakerId: s1\n  audio: [{A}]\n")
    (spec,) = load([repo, repo / "roster.yaml"])
    assert spec.roster == (Request("s1", ((A, 0),)),)


def test_load_specs_reads_rosters_only_when_a_text_needs_them(repo: Path) -> None:
    """load_specs loads no roster, yet a text redacted after it is redacted against them; a
    broken set of specs raises every problem."""
    source = "{speakersFile: roster.csv, stagingUri: 's3://bucket/s/'}"
    _write(repo / "spec.yaml", _doc("r", source=source))
    _write(repo / "roster.csv", f"speakerId,audio\ncust-42,{A}\n")
    (spec,) = load_specs([repo])
    assert spec.roster is None
    assert redact("cust-42 failed") == "<speaker> failed"
    _write(repo / "bad.yaml", f"kind: {E}\n")
    with pytest.raises(SpecErrors):
        load_specs([repo])


def test_load_specs_without_rosters_clears_the_mask(repo: Path) -> None:
    """Loading specs without a roster leaves no earlier roster in the mask."""
    source = "{speakersFile: roster.csv, stagingUri: 's3://bucket/s/'}"
    _write(repo / "r" / "spec.yaml", _doc("r", source=source))
    _write(repo / "r" / "roster.csv", f"speakerId,audio\ncust-42,{A}\n")
    load([repo / "r"])
    assert redact("cust-42") == "<speaker>"
    _write(repo / "plain" / "a.yaml", _doc("a"))
    load_specs([repo / "plain"])
    assert redact("cust-42") == "cust-42"


def test_check_loads_rosters_and_reports_their_problems_with_the_specs(repo: Path) -> None:
    """Each roster is loaded onto its spec and the mask; a broken roster's spec is left out,
    its problems reported beside the others, in file order."""
    good = "{speakersFile: good.csv, stagingUri: 's3://bucket/s/'}"
    bad = "{speakersFile: bad.csv, stagingUri: 's3://bucket/s/'}"
    _write(repo / "a.yaml", _doc("a", source=good))
    _write(repo / "good.csv", f"speakerId,audio\ncust-42,{A}\n")
    _write(repo / "b.yaml", _doc("b", source=bad))
    _write(repo / "bad.csv", f"speakerId,audio\nx!,{A}\ny!,{A}\n")
    _write(repo / "c.yaml", _doc("c"))
    loaded, errors = check([repo])
    assert [(s.name, s.roster) for s in loaded] == [
        ("a", (Request("cust-42", ((A, 0),)),)),
        ("c", None),
    ]
    assert [(e.location.path.name, e.location.line) for e in errors] == [
        ("bad.csv", 2),
        ("bad.csv", 3),
    ]
    assert redact("cust-42") == "<speaker>"


def test_a_spec_named_as_a_part_of_another_is_refused(repo: Path) -> None:
    """``big-part-001`` beside a roster ``big`` of two jobs would share its state entry."""
    source = "{fraudstersFile: big.csv, stagingUri: 's3://bucket/s/'}"
    _write(repo / "big.yaml", _doc("big", F, source=source))
    _write(repo / "big.csv", "audio\n" + f"{A}\n" * 501)
    _write(repo / "part.yaml", _doc("big-part-002", F))
    _write(repo / "other.yaml", _doc("big-part-003", F) + "---\n" + _doc("big-part-001"))
    (message,) = _messages([Path()])
    assert message == (
        f"part.yaml:3:18: {F} name 'big-part-002' is the name of a part of 'big' "
        "(defined at big.yaml:3:18: its roster of 501 entries is 2 jobs); rename one of them"
    )


def test_dependencies_are_checked_with_the_specs(repo: Path) -> None:
    """An unknown dependency is a problem of the load."""
    _write(repo / "a.yaml", _doc("a").replace("  output:", f"  dependsOn: [{F}/zzz]\n  output:"))
    assert _messages([Path()]) == [f"a.yaml:1:1: {E}/a depends on {F}/zzz: no such spec"]


def test_selectors_narrow_what_is_loaded(repo: Path) -> None:
    """load keeps the selected specs; load_selected also names the keys left out."""
    _write(repo / "a.yaml", _doc("a", labels="{team: x}"))
    _write(repo / "b.yaml", _doc("b", labels="{team: y}"))
    assert [s.name for s in load([repo], ["team=x"])] == ["a"]
    assert [s.name for s in load([repo])] == ["a", "b"]
    chosen, left = load_selected([repo], ["team=y"])
    assert ([s.name for s in chosen], left) == (["b"], frozenset({f"{E}/a"}))
    chosen, left = load_selected([repo], [])
    assert ([s.name for s in chosen], left) == (["a", "b"], frozenset())


def test_a_selector_never_hides_a_broken_spec(repo: Path) -> None:
    """Every spec is validated before the selectors choose."""
    _write(repo / "a.yaml", _doc("a", labels="{team: x}"))
    _write(repo / "b.yaml", f"kind: {E}\n")
    with pytest.raises(SpecErrors):
        load_selected([repo], ["team=x"])


def test_a_link_outside_is_reported_with_the_specs_problems(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Loading a tree with a link that leads outside reports it beside the specs' problems."""
    outside = tmp_path_factory.mktemp("outside")
    _write(outside / "o.yaml", _doc("o"))
    _write(repo / "a.yaml", _doc("a"))
    (repo / "b.yaml").symlink_to(outside / "o.yaml")
    assert _messages([Path()]) == [
        f"b.yaml: a symbolic link to a file outside the repository "
        f"({(outside / 'o.yaml').resolve()}); not read"
    ]
    loaded, errors = check([Path()])
    assert [s.name for s in loaded] == ["a"]
    assert len(errors) == 1


def test_a_link_that_loops_is_found_and_reported(repo: Path) -> None:
    """A spec's name on a link that leads to itself is a file found (its type cannot be
    read), reported as unreadable, never taken for a directory."""
    (repo / "loop.yaml").symlink_to(repo / "loop.yaml")
    assert discover([Path()]) == [Path("loop.yaml")]
    assert _messages([Path()]) == ["loop.yaml: cannot read file: Too many levels of symbolic links"]


def test_a_duplicate_key_in_an_inline_roster_is_not_quoted(repo: Path) -> None:
    """A key given twice is named, unless it is in an inline roster (it may be personal data)."""
    roster = "{speakers: [{speakerId: s1, cust-42: 1, cust-42: 2}], stagingUri: 's3://b/s/'}"
    _write(repo / "a.yaml", _doc("a", source=roster))
    (message,) = _messages([Path()])
    assert "cust-42" not in message
    assert "in a roster (not shown)" in message
    _write(repo / "a.yaml", _doc("a", labels="{team: x, team: y}"))
    (message,) = _messages([Path()])
    assert "'team'" in message
