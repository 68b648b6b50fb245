"""Rules of the spec cache: keyed by a file's bytes, stamped by the loader's code, pruned,
written the same whatever the run, and a damaged entry a miss (reconciler.core.speccache)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import reconciler
from reconciler.core import speccache
from reconciler.core.loading import load_file
from reconciler.core.spec import FACT_ROW
from reconciler.core.speccache import FORMAT, SpecCache, file_key, stamp

SPEC = """\
apiVersion: voiceid-reconciler/v1
kind: FraudsterRegistrationJob
metadata: {{name: {name}, labels: {labels}}}
spec:
  domain: prod
  dataAccessRoleArn: arn:aws:iam::123456789012:role/R
  input: {source}
  output: {{s3Uri: "s3://bucket/out/", kmsKeyId: alias/out}}
"""
MANIFEST = '{manifest: "s3://bucket/m.json"}'


def _spec(path: Path, name: str, labels: str = "{}", source: str = MANIFEST) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SPEC.format(name=name, labels=labels, source=source))
    return path


def _key(path: Path) -> str:
    return file_key(path.read_bytes(), strict=True)


def _lines(data: bytes) -> list[Any]:
    return [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]


def _bytes(lines: list[Any]) -> bytes:
    return gzip.compress("".join(f"{json.dumps(x)}\n" for x in lines).encode(), mtime=0)


def _filled(tmp_path: Path, count: int) -> tuple[SpecCache, list[Path]]:
    cache = SpecCache()
    paths = [_spec(tmp_path / f"s{i:03d}.yaml", f"s{i:03d}") for i in range(count)]
    for path in paths:
        load_file(path, cache=cache)
    return cache, paths


def test_the_format_and_the_stamp() -> None:
    """Format 6; the stamp is the version and the first 16 hex digits of the SHA-256 of the
    loader's modules, then each kind's, in order."""
    assert FORMAT == 6
    here = Path(speccache.__file__).parent
    digest = hashlib.sha256()
    names = [*speccache._CODE, *sorted(f"jobkinds/{p.name}" for p in here.glob("jobkinds/*.py"))]
    for name in names:
        digest.update((here / name).read_bytes())
    assert stamp() == f"{reconciler.__version__}+{digest.hexdigest()[:16]}"


def test_another_format_or_stamp_is_ignored(tmp_path: Path) -> None:
    """A cache of another format, or of another build, is ignored and said so."""
    cache, _ = _filled(tmp_path, 1)
    header, *rest = _lines(cache.to_bytes())
    for other in ({"format": FORMAT + 1, "stamp": stamp()}, {"format": FORMAT, "stamp": "x"}):
        again, why = SpecCache.from_bytes(_bytes([other, *rest]))
        assert why == f"written by another version ({other['stamp']})"
        assert again.lookup(rest[0][0], "x.yaml") is None
    assert header == {"format": FORMAT, "stamp": stamp()}


def test_a_cache_cut_short_is_unreadable(tmp_path: Path) -> None:
    """Bytes cut anywhere, even inside the documents read later, make the cache unreadable
    at once (gzip's length and CRC are checked when it is read)."""
    cache, _ = _filled(tmp_path, 3)
    data = cache.to_bytes()
    for cut in (len(data) - 4, len(data) - 12, len(data) // 2):
        _, why = SpecCache.from_bytes(data[:cut])
        assert why == "unreadable"


def test_the_same_bytes_in_another_file_are_a_hit_there(tmp_path: Path) -> None:
    """A second file with the bytes of one looked up comes from the cache, at its own path."""
    cache, (first,) = _filled(tmp_path, 1)
    copy = tmp_path / "copy" / "s000.yaml"
    copy.parent.mkdir()
    copy.write_bytes(first.read_bytes())
    hits = cache.hits
    specs = cache.lookup(_key(first), copy)
    assert specs is not None
    assert cache.hits == hits + 1
    assert [s.location.path for s in specs] == [copy]
    assert [s.name for s in specs] == ["s000"]


def test_a_damaged_entry_is_a_miss_and_written_again_without_it(tmp_path: Path) -> None:
    """An entry that cannot be rebuilt is a miss, and the cache changed (it drops it)."""
    cache, (path,) = _filled(tmp_path, 1)
    header, entry, *rest = _lines(cache.to_bytes())
    entry[1][0][4] = "not a row"
    damaged, why = SpecCache.from_bytes(_bytes([header, entry, *rest]))
    assert why is None
    assert not damaged.changed
    assert damaged.lookup(_key(path), path) is None
    assert damaged.misses == 1
    assert damaged.changed


def test_damaged_entries_beside_a_good_one_leave_it_a_hit(tmp_path: Path) -> None:
    """Whatever other entries hold (not a list, too short, a row that is no list or too
    short), a good entry with a roster file is rebuilt from the cache."""
    roster = tmp_path / "r.csv"
    roster.write_text("audio\ns3://bucket/a.wav\n")
    path = _spec(
        tmp_path / "r.yaml", "r", source='{fraudstersFile: r.csv, stagingUri: "s3://bucket/s/"}'
    )
    cache = SpecCache()
    load_file(path, cache=cache)
    header, *lines = _lines(cache.to_bytes())
    cut = lines.index([None, "documents"])
    entries, documents = lines[:cut], lines[cut + 1 :]
    at = FACT_ROW.index("roster_file")
    bad: dict[str, list[Any]] = {
        "bad1": [5],
        "bad2": [[1]],
        "bad3": [[0, 0, 0, 0, 5]],
        "bad4": [[0, 0, 0, 0, [0] * at]],
        "bad5": [[0, 0, 0, 0, []]],
    }
    entries += [[key, items] for key, items in bad.items()]
    documents += [[key, ["{}"] * len(items)] for key, items in bad.items()]
    again, why = SpecCache.from_bytes(_bytes([header, *entries, [None, "documents"], *documents]))
    assert why is None
    specs = again.lookup(_key(path), path)
    assert specs is not None
    assert [s.name for s in specs] == ["r"]
    assert specs[0].facts.roster_file == "r.csv"


@pytest.mark.parametrize(("unused", "kept"), [(102, True), (103, False)])
def test_unused_entries_are_pruned_once_they_outnumber_the_rest(
    tmp_path: Path, unused: int, kept: bool
) -> None:
    """Entries no file used are kept until they are more than twice the used ones plus 100;
    an entry remembered again counts once."""
    cache, paths = _filled(tmp_path, unused)
    again, _ = SpecCache.from_bytes(cache.to_bytes())
    again.remember(_key(paths[0]), load_file(paths[0])[0])
    written, _ = SpecCache.from_bytes(again.to_bytes())
    keys = {line[0] for line in _lines(again.to_bytes())[1:] if line[0] is not None}
    assert len(keys) == (unused if kept else 1)
    last = written.lookup(_key(paths[-1]), paths[-1])
    assert (last is not None) is kept


def test_the_bytes_depend_on_the_specs_only(tmp_path: Path) -> None:
    """The same specs give the same bytes in any run and whatever their maps' order: no time
    in the gzip header, keys sorted."""
    one = _spec(tmp_path / "a" / "s.yaml", "s", labels="{b: '1', a: '2'}")
    two = _spec(tmp_path / "b" / "s.yaml", "s", labels="{a: '2', b: '1'}")
    first, second = SpecCache(), SpecCache()
    load_file(one, cache=first)
    load_file(two, cache=second)
    data = first.to_bytes()
    assert data[4:8] == b"\0\0\0\0"

    def items(cache_bytes: bytes) -> str:
        line = gzip.decompress(cache_bytes).decode().splitlines()[1]
        return line.split(",", 1)[1]  # after the key (the digest of the file's bytes)

    assert items(data) == items(second.to_bytes())
    assert '{"a":"2","b":"1"}' in items(data)


def test_without_sources_the_stamp_is_of_the_modules_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build without its sources at hand (frozen) stamps the names of the loader's modules:
    still one stamp per set of modules."""
    here = Path(speccache.__file__).parent
    names = [*speccache._CODE, *sorted(f"jobkinds/{p.name}" for p in here.glob("jobkinds/*.py"))]

    def unreadable(self: Path) -> bytes:
        raise OSError(self)

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode())
    assert stamp.__wrapped__() == f"{reconciler.__version__}+{digest.hexdigest()[:16]}"
