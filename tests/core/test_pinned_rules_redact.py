"""Rules of the one redaction point: the rosters' values, then every S3 key, then the cut
(reconciler.core.redact)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from reconciler.core import redact as module
from reconciler.core.redact import AUDIO, KEY, MASK, MAX_TEXT, SPEAKER, Mask, redact
from reconciler.core.roster import Request


def _mask(*requests: Request) -> Mask:
    mask = Mask()
    mask.use([list(requests)])
    return mask


def test_the_placeholders_and_the_cut() -> None:
    """What values become (<speaker>, <audio>, <key>) and the documented 2,000 characters."""
    assert (SPEAKER, AUDIO, KEY, MAX_TEXT) == ("<speaker>", "<audio>", "<key>", 2000)


# --- rule 1: the rosters --------------------------------------------------------------------


def test_speaker_ids_and_audio_keys_and_names() -> None:
    """A speaker id, an audio key (alone, after its bucket, in its URI) and its file name go."""
    mask = _mask(Request("cust-42", (("s3://bucket/calls/jo.wav", 1),)))
    text = "speaker cust-42 in calls/jo.wav, bucket/calls/jo.wav and jo.wav"
    assert mask.redact(text) == "speaker <speaker> in <audio>, bucket/<audio> and <audio>"


def test_a_value_is_found_where_a_word_starts() -> None:
    """At the start of the text or after a non-alphanumeric character, whatever follows; never
    inside a word, nor right after a value it follows."""
    mask = _mask(Request("cust-42", ()))
    assert mask.redact("cust-42") == "<speaker>"
    assert mask.redact("id=cust-42x") == "id=<speaker>x"
    assert mask.redact("xcust-42 9cust-42") == "xcust-42 9cust-42"
    assert mask.redact("(cust-42)") == "(<speaker>)"
    assert mask.redact("cust-42cust-42") == "<speaker>cust-42"
    assert mask.redact("cust-42 cust-42") == "<speaker> <speaker>"
    assert mask.redact("a cust-4") == "a cust-4"


def test_the_longest_value_first() -> None:
    """Of two values that start alike, the longer one is replaced whole."""
    mask = _mask(Request("cust-4", ()), Request("cust-42", ()))
    assert mask.redact("cust-42 and cust-4.") == "<speaker> and <speaker>."
    mask = _mask(Request(None, (("s3://b/a/jo.wav", 0),)))
    assert mask.redact("a/jo.wav") == "<audio>"


def test_a_speaker_id_that_is_also_a_file_name_is_a_speaker() -> None:
    """A value that is both a speaker id and an audio name is shown as a speaker, whatever the
    order of the roster."""
    first = _mask(Request("jo.wav", ()), Request(None, (("s3://b/x/jo.wav", 0),)))
    then = _mask(Request(None, (("s3://b/x/jo.wav", 0),)), Request("jo.wav", ()))
    assert first.redact("jo.wav") == then.redact("jo.wav") == "<speaker>"


def test_a_uri_without_a_key_gives_nothing_to_find() -> None:
    """A bucket alone, a key that is a folder, no speaker id: no empty value is looked for."""
    mask = _mask(Request(None, (("s3://bucket", 0), ("s3://bucket/", 0), ("s3://b/dir/", 0))))
    assert mask.redact("bucket dir/ x") == "bucket <audio> x"
    assert _mask(Request("", ())).redact("a b") == "a b"


def test_no_roster_redacts_nothing() -> None:
    """Without rosters, rule 1 leaves any text as it is."""
    assert Mask().redact("cust-42 calls/jo.wav") == "cust-42 calls/jo.wav"


def test_use_replaces_the_rosters_and_forgets_earlier_texts() -> None:
    """A new set of rosters replaces the earlier ones, and no text redacted before is reused."""
    mask = _mask(Request("old", ()))
    assert mask.redact("old new") == "<speaker> new"
    mask.use([[Request("new", ())]])
    assert mask.redact("old new") == "old <speaker>"
    mask.clear()
    assert mask.redact("old new") == "old new"


def test_rosters_read_later_only_when_a_text_needs_them() -> None:
    """A source is read at the first text, once; one that cannot be read is left out."""
    reads: list[str] = []

    def good() -> Iterable[Sequence[Request]]:
        reads.append("good")
        return [[Request("later", ())]]

    def bad() -> Iterable[Sequence[Request]]:
        reads.append("bad")
        raise OSError("unreadable")

    mask = Mask()
    mask.use([[Request("now", ())]], later=[bad, good])
    assert reads == []
    assert mask.redact("now later") == "<speaker> <speaker>"
    assert mask.redact("later again") == "<speaker> again"
    assert reads == ["bad", "good"]


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo of redacted texts is emptied when full, and still gives the same answers."""
    monkeypatch.setattr(module, "_MEMO_SIZE", 2)
    mask = _mask(Request("s1", ()))
    for text in ("s1 a", "s1 b", "s1 c"):
        assert mask.redact(text) == text.replace("s1", SPEAKER)
    assert len(mask._memo) == 1
    assert mask.redact("s1 a") == "<speaker> a"


# --- rule 2: any S3 location ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://bucket/audio/jo.wav", "s3://bucket/<key>"),
        ("S3://Bucket.x/a b", "S3://Bucket.x/<key> b"),
        ("see s3://bucket/k.wav.", "see s3://bucket/<key>."),
        ("(s3://bucket/k.wav), 'x'", "(s3://bucket/<key>), 'x'"),
        ("'s3://bucket/k'?!", "'s3://bucket/<key>'?!"),
        (
            '"s3://b/k" [s3://b/k] <s3://b/k> {s3://b/k} `s3://b/k` s3://b/k|x',
            '"s3://b/<key>" [s3://b/<key>] <s3://b/<key>> {s3://b/<key>} `s3://b/<key>` '
            "s3://b/<key>|x",
        ),
        ("arn:aws:s3:::bucket/audio/jo.wav", "arn:aws:s3:::bucket/<key>"),
        ("arn:aws-cn:s3:::bucket/k", "arn:aws-cn:s3:::bucket/<key>"),
        ("https://bucket.s3.amazonaws.com/audio/jo.wav", "https://bucket.s3.amazonaws.com/<key>"),
        (
            "HTTP://bucket.s3.eu-west-1.amazonaws.com/k",
            "HTTP://bucket.s3.eu-west-1.amazonaws.com/<key>",
        ),
        ("https://s3.amazonaws.com.cn/bucket/k", "https://s3.amazonaws.com.cn/<key>"),
        ("s3://bucket/", "s3://bucket/"),
        ("s3://bucket", "s3://bucket"),
        ("no location here.", "no location here."),
    ],
)
def test_every_s3_location_keeps_its_bucket_only(text: str, expected: str) -> None:
    """s3://, an S3 ARN or an S3 https URL: the bucket stays, the key goes (up to a space, a
    quote or a bracket; a sentence's punctuation after it stays)."""
    assert redact(text) == expected


def test_both_rules_in_order() -> None:
    """The rosters' values first, then the patterns, on the same text."""
    MASK.use([[Request("cust-42", (("s3://bucket/calls/jo.wav", 0),))]])
    assert redact("cust-42: s3://other/x.wav; jo.wav") == "<speaker>: s3://other/<key>; <audio>"


def test_an_empty_text_is_itself() -> None:
    """Nothing to redact in an empty text."""
    assert redact("") == ""


def test_a_long_text_is_cut_after_redaction() -> None:
    """Redacted first, then cut at MAX_TEXT with '…'; a text of MAX_TEXT characters is whole."""
    whole = "x" * MAX_TEXT
    assert redact(whole) == whole
    assert redact(whole + "y") == whole + "…"
    key = "k" * 3000
    assert redact(f"s3://b/{key} end") == "s3://b/<key> end"


def test_at_most_four_times_the_cut_is_read() -> None:
    """Beyond 4 x MAX_TEXT characters nothing is read, even what a shorter redacted text would
    have left room to show."""
    key = "k" * (4 * MAX_TEXT - len("s3://b/"))
    assert redact(f"s3://b/{key} tail") == "s3://b/<key>"
    assert redact(f"s3://b/{key[1:]} tail") == "s3://b/<key> "
