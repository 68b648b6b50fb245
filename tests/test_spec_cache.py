"""The spec cache: a file whose bytes loaded before is not parsed again, and nothing else
changes — the same specs, the same problems, the same cross-file checks."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.core import loading
from reconciler.core.errors import SpecError, SpecErrors
from reconciler.core.loading import check, load, load_file
from reconciler.core.spec import FACT_ROW, LoadedSpec, SpecFacts
from reconciler.core.speccache import FORMAT, SpecCache, file_key, stamp
from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs

FIXTURES = Path(__file__).parent / "fixtures" / "specs"
GOOD = FIXTURES / "good"

SPEC = """\
apiVersion: voiceid-reconciler/v1
kind: FraudsterRegistrationJob
metadata: {{name: {name}, labels: {{team: fraud-ops}}}}
spec:
  domain: {domain}
  dataAccessRoleArn: arn:aws:iam::123456789012:role/VoiceIdBatchDataAccess
  input: {{manifest: "s3://bucket/manifests/{name}.json"}}
  output: {{s3Uri: "s3://bucket/out/", kmsKeyId: alias/out}}
"""


def _write(directory: Path, count: int, domain: str = "demo") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = directory / f"spec-{i:03d}.yaml"
        path.write_text(SPEC.format(name=f"spec-{i:03d}", domain=domain))
        paths.append(path)
    return paths


def _round_trip(cache: SpecCache) -> SpecCache:
    again, ignored = SpecCache.from_bytes(cache.to_bytes())
    assert ignored is None
    return again


def _entries(data: bytes) -> dict[str, Any]:
    """The entries of a cache's bytes: a header line, ``[key, items]`` a line, then
    ``[null, "documents"]`` and ``[key, documents]`` a line (checked to match)."""
    header, *lines = (json.loads(line) for line in gzip.decompress(data).decode().splitlines())
    assert header == {"format": FORMAT, "stamp": stamp()}
    cut = lines.index([None, "documents"])
    entries, documents = dict(lines[:cut]), dict(lines[cut + 1 :])
    assert documents.keys() == entries.keys()
    assert all(len(documents[k]) == len(v) for k, v in entries.items())
    return entries


def _cache_bytes(entries: list[list[Any]], documents: list[list[Any]] | None = None) -> bytes:
    lines = [{"format": FORMAT, "stamp": stamp()}, *entries, [None, "documents"]]
    lines += documents if documents is not None else [[k, ["{}"] * len(v)] for k, v in entries]
    text = "".join(f"{json.dumps(line)}\n" for line in lines)
    return gzip.compress(text.encode(), mtime=0)


def _seen(result: tuple[list[LoadedSpec], list[SpecError]]) -> tuple[list[LoadedSpec], list[str]]:
    specs, errors = result
    return specs, [str(e) for e in errors]


class _Parses:
    """Counts the files the loader parses (YAML), by wrapping its parsing step."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = loading._load_file

        def counted(*args: object, **kwargs: object) -> object:
            self.count += 1
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(loading, "_load_file", counted)


@pytest.mark.parametrize("tree", ["good", "bad"])
def test_a_warm_cache_gives_what_parsing_gives_for_every_fixture(
    tree: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fixture, good and broken: the specs and the problems found with a cold cache and
    with a warm one are exactly those found without a cache; only the valid files are cached,
    so the warm run parses the broken ones (and only those) again."""
    root = tmp_path / tree
    shutil.copytree(FIXTURES / tree, root)
    own_problems = [p for p in sorted(root.rglob("*.y*ml")) if load_file(p, found=True)[1]]
    parses = _Parses(monkeypatch)
    want = _seen(check([root]))
    files = parses.count
    cold = SpecCache()
    assert _seen(check([root], cache=cold)) == want
    assert parses.count == 2 * files
    warm = _round_trip(cold)
    assert _seen(check([root], cache=warm)) == want
    assert parses.count - 2 * files == warm.misses  # a hit is never parsed
    assert warm.hits + warm.misses == files
    if tree == "good":  # every file is a hit, but those holding an inline roster
        inline = [
            p
            for p in root.rglob("*.y*ml")
            if re.search(r"^\s*(speakers|fraudsters):", p.read_text(), re.MULTILINE)
        ]
        assert not want[1]
        assert inline
        assert warm.misses == len(inline)
    else:  # every file with a problem of its own is parsed (and reported) again
        assert len(own_problems) > 25
        assert warm.misses == len(own_problems)


def test_only_an_unchanged_file_comes_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _write(tmp_path / "specs", 5)
    cache = SpecCache()
    load([tmp_path / "specs"], cache=cache)
    assert cache.changed
    cache = _round_trip(cache)
    paths[2].write_text(SPEC.format(name="spec-002", domain="elsewhere"))
    parses = _Parses(monkeypatch)
    specs = load([tmp_path / "specs"], cache=cache)
    assert parses.count == 1
    assert cache.hits == 4
    assert cache.misses == 1
    assert {s.name: s.document.spec.domain for s in specs}["spec-002"] == "elsewhere"
    assert cache.changed  # the edited file's new entry
    again = _round_trip(cache)
    load([tmp_path / "specs"], cache=again)
    assert again.hits == 5
    assert not again.changed


def test_a_cached_location_is_the_file_as_found_now(tmp_path: Path) -> None:
    """Keyed by content, not path: a renamed (or copied) file is a hit, located where it is
    now, and two copies of one file are still two specs with one name (a duplicate)."""
    (original,) = _write(tmp_path / "a", 1)
    cache = SpecCache()
    load([tmp_path / "a"], cache=cache)
    moved = tmp_path / "b" / "renamed.yaml"
    moved.parent.mkdir()
    shutil.copy(original, moved)
    cache = _round_trip(cache)
    (spec,) = load([tmp_path / "b"], cache=cache)
    assert cache.hits == 1
    assert spec.location.path == moved
    assert spec.name_location.path == moved
    assert (spec.location.line, spec.name_location.line) == (1, 3)
    shutil.copy(original, tmp_path / "b" / "copy.yaml")
    with pytest.raises(SpecErrors) as raised:
        load([tmp_path / "b"], cache=cache)
    assert cache.hits == 3
    (error,) = raised.value.errors
    assert "duplicate FraudsterRegistrationJob name 'spec-000'" in error.message


def test_a_named_file_and_a_found_one_are_cached_apart(tmp_path: Path) -> None:
    """Another tool's YAML found in a directory is skipped (and cached as such); named as a
    PATH it is an error, which the entry of the found file must not hide."""
    other = tmp_path / "specs" / "mkdocs.yml"
    other.parent.mkdir()
    other.write_text("site_name: docs\n")
    cache = SpecCache()
    _write(tmp_path / "specs", 1)
    assert len(load([tmp_path / "specs"], cache=cache)) == 1
    assert file_key(other.read_bytes(), strict=False) in _entries(cache.to_bytes())
    with pytest.raises(SpecErrors, match="1 error"):
        load([other], cache=cache)


def test_an_inline_roster_never_enters_the_cache(tmp_path: Path) -> None:
    """Speaker ids and audio locations are personal data: a file with an inline roster is
    parsed every time and nothing of it is written to the cache."""
    root = tmp_path / "specs"
    shutil.copytree(FIXTURES / "good", root)
    inline = root / "enrollment" / "emea.yaml"
    assert "speakers:" in inline.read_text()
    cache = SpecCache()
    load([root], cache=cache)
    text = gzip.decompress(cache.to_bytes()).decode()
    assert file_key(inline.read_bytes(), strict=False) not in _entries(cache.to_bytes())
    assert "emea-branch-migration" not in text  # the file's other document went with it
    for personal in ("caller-0001", "caller-0002", "/audio/"):
        assert personal not in text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not gzip", "unreadable"),
        (gzip.compress(b"{"), "unreadable"),
        (gzip.compress(b"[]"), "unreadable"),
        (gzip.compress(b'{"format":4,"stamp":"0.0+x"}\n'), "0.0+x"),
        (gzip.compress(b'{"format":1,"stamp":"0.0+x","entries":{}}'), "0.0+x"),
        (_cache_bytes([["k", "not a list"]]), "unreadable"),
        (_cache_bytes([["k", []]])[:-9], "unreadable"),
    ],
    ids=[
        "not-gzip",
        "cut-short",
        "not-an-object",
        "another-version",
        "an-old-format",
        "a-bad-entry",
        "gzip-cut-short",
    ],  # stable ids: gzip stamps the time
)
def test_a_cache_of_another_version_or_unreadable_is_ignored(data: bytes, reason: str) -> None:
    cache, ignored = SpecCache.from_bytes(data)
    assert ignored is not None
    assert reason in ignored
    assert not cache.changed
    assert cache.to_bytes()


def test_a_damaged_entry_is_parsed_again_and_replaced(tmp_path: Path) -> None:
    (path,) = _write(tmp_path / "specs", 1)
    key = file_key(path.read_bytes(), strict=False)
    damaged = [[key, [[1, 1, 3, 9, ["nope"]]]]]
    cache, _ = SpecCache.from_bytes(_cache_bytes(damaged))
    (spec,) = load([tmp_path / "specs"], cache=cache)
    assert spec.name == "spec-000"
    assert cache.misses == 1
    assert cache.changed
    assert _round_trip(cache).lookup(key, path) is not None


def test_entries_no_file_uses_are_pruned_once_they_outnumber_the_rest(tmp_path: Path) -> None:
    paths = _write(tmp_path / "specs", 3)
    cache = SpecCache()
    for round_ in range(60):  # one spec edited 60 times: 60 stale entries
        paths[0].write_text(SPEC.format(name="spec-000", domain=f"d{round_}"))
        load([tmp_path / "specs"], cache=cache)
        cache = _round_trip(cache)
    entries = _entries(cache.to_bytes())
    assert len(entries) == 62
    for round_ in range(60, 110):
        paths[0].write_text(SPEC.format(name="spec-000", domain=f"d{round_}"))
        load([tmp_path / "specs"], cache=cache)
        cache = _round_trip(cache)
    entries = _entries(cache.to_bytes())
    assert len(entries) <= 2 * 3 + 100


def test_plan_keeps_the_cache_beside_the_state_and_rewrites_it_only_when_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``plan --offline`` (no network): the first run writes ``<state>.cache``, the next ones
    parse nothing and leave it alone; an edit is parsed and cached; ``--no-spec-cache``
    parses everything and writes nothing."""
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    paths = _write(specs, 4)
    cache_file = tmp_path / "state.json.cache"
    argv = ["plan", str(specs), "--offline", "--state", str(state), "--format", "json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    written = cache_file.read_bytes()
    parses = _Parses(monkeypatch)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert parses.count == 0
    assert cache_file.read_bytes() == written
    assert cache_file.stat().st_mtime_ns
    paths[1].write_text(SPEC.format(name="spec-001", domain="other"))
    assert main(argv) == 0
    capsys.readouterr()
    assert parses.count == 1
    assert cache_file.read_bytes() != written
    cache_file.unlink()
    assert main([*argv, "--no-spec-cache"]) == 0
    capsys.readouterr()
    assert parses.count == 5
    assert not cache_file.exists()


def test_an_unwritable_cache_is_a_warning_not_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    _write(specs, 1)
    (tmp_path / "state.json.cache").mkdir()  # neither readable as a file nor replaceable
    argv = ["plan", str(specs), "--offline", "--state", str(state), "--log-format", "json"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "spec_cache.unreadable" in err
    assert "spec_cache.not_saved" in err


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_second_apply_parses_no_spec_file(
    voiceid_env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The cache lives beside the state, wherever the state is: a CronJob pod, whose file
    system is new every run, finds it in S3 (``<key>.cache``)."""
    world = build_world(voiceid_env)
    specs = tmp_path / "specs"
    write_specs(world, specs, 3)
    local = tmp_path / "state.json"
    state = str(local) if backend == "local" else f"s3://{world.bucket}/cached/state.json"
    argv = ["apply", str(specs), "--state", state, "--tps", "0", "--log-format", "json"]
    assert main(argv) == 0
    parses = _Parses(monkeypatch)
    assert main(argv) == 0
    assert parses.count == 0
    if backend == "s3":
        s3 = voiceid_env.client("s3")
        body = s3.get_object(Bucket=world.bucket, Key="cached/state.json.cache")["Body"].read()
        assert SpecCache.from_bytes(body)[1] is None
    else:
        assert (tmp_path / "state.json.cache").is_file()


def test_a_refused_run_writes_no_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A command refused (here: a state of a newer schema) changes nothing, the cache included."""
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    _write(specs, 2)
    state.write_text('{"schemaVersion": 99, "lineage": "x", "serial": 1}\n')
    argv = ["plan", str(specs), "--offline", "--state", str(state)]
    assert main(argv) == 1
    assert "newer than this voiceid-reconciler" in capsys.readouterr().err
    assert not (tmp_path / "state.json.cache").exists()


def test_the_facts_of_every_good_spec_survive_the_cache_row() -> None:
    """What a hit reads (``SpecFacts.from_row``) is what the document says (``SpecFacts.of``),
    for every good fixture, both kinds and every input."""
    specs, errors = check([GOOD])
    assert specs
    assert not errors
    for spec in specs:
        facts = spec.facts
        assert SpecFacts.from_row(json.loads(json.dumps(facts.row()))) == facts


def _settings(row: list[Any], change: Any) -> list[Any]:
    """``row`` with its kind's settings changed."""
    at = FACT_ROW.index("settings")
    return [change(list(v)) if i == at else v for i, v in enumerate(row)]


@pytest.mark.parametrize(
    "damage",
    [
        lambda row: row[:-1],
        lambda row: [*row, None],
        lambda row: [1 if i == 0 else v for i, v in enumerate(row)],
        lambda row: ["NotAKind" if i == 0 else v for i, v in enumerate(row)],
        lambda row: [True if isinstance(v, int) and not isinstance(v, bool) else v for v in row],
        lambda row: [{"a": 1} if isinstance(v, dict) else v for v in row],
        lambda row: {"not": "a row"},
        lambda row: _settings(row, lambda s: s[:-1]),
        lambda row: _settings(row, lambda s: [*s, None]),
        lambda row: _settings(row, lambda s: [{"a": 1}, *s[1:]]),
        lambda row: _settings(row, lambda s: [True for _ in s]),
        lambda row: _settings(row, lambda s: "SKIP"),
    ],
    ids=[
        "short",
        "long",
        "kind-type",
        "kind-value",
        "bool-for-int",
        "label-type",
        "not-a-list",
        "settings-short",
        "settings-long",
        "settings-type",
        "settings-bool",
        "settings-not-a-list",
    ],
)
def test_a_damaged_facts_row_is_refused(damage: Any) -> None:
    """A row of another shape, a value of another type, a kind's settings of another number
    or type: refused (a miss), never facts that would hash as another job."""
    (spec, *_) = check([GOOD])[0]
    with pytest.raises((TypeError, ValueError)):
        SpecFacts.from_row(damage(spec.facts.row()))


def test_a_warm_load_reads_no_document_text_until_one_is_asked_for(tmp_path: Path) -> None:
    """A hit keeps where its document's text is, not the text (nor models): a run that
    changes nothing reads none of them; asking for a document reads it then, the same."""
    _write(tmp_path / "specs", 3)
    cold = SpecCache()
    first = load([tmp_path / "specs"], cache=cold)
    warm, _ = SpecCache.from_bytes(cold.to_bytes())
    specs = load([tmp_path / "specs"], cache=warm)
    assert warm.hits == 3
    assert not warm._texts  # nothing read beyond the facts
    assert not any(isinstance(s.source, str) for s in specs)
    assert [s.document for s in specs] == [s.document for s in first]
    assert warm._texts  # read when asked for


def test_a_spec_with_a_roster_file_keeps_its_text_for_its_roster() -> None:
    cold = SpecCache()
    check([GOOD], cache=cold)
    warm, _ = SpecCache.from_bytes(cold.to_bytes())
    specs, errors = check([GOOD], cache=warm)
    assert not errors
    with_file = [s for s in specs if s.facts.roster_file]
    assert with_file
    assert all(s.roster for s in with_file)  # the roster was read, from the kept text
    assert all(isinstance(s.source, str) for s in with_file)


def test_writing_a_warm_cache_again_reads_its_documents_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache that changed is written with every document it holds: they are read from the
    bytes once for all, not once a spec (that was quadratic)."""
    paths = _write(tmp_path / "specs", 40)
    cold = SpecCache()
    load([tmp_path / "specs"], cache=cold)
    warm, _ = SpecCache.from_bytes(cold.to_bytes())
    paths[0].write_text(SPEC.format(name="spec-000", domain="elsewhere"))
    load([tmp_path / "specs"], cache=warm)
    assert warm.changed
    reads: list[object] = []
    real = SpecCache._read_texts

    def counted(self: SpecCache, wanted: set[str] | None) -> dict[str, list[str]]:
        reads.append(wanted)
        return real(self, wanted)

    monkeypatch.setattr(SpecCache, "_read_texts", counted)
    again, _ = SpecCache.from_bytes(warm.to_bytes())
    assert len(reads) == 1
    assert not warm._texts  # let go again
    specs = load([tmp_path / "specs"], cache=again)
    assert again.hits == 40
    assert [s.document for s in specs] == [s.document for s in load([tmp_path / "specs"])]
