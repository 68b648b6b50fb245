"""Personal data out of every text that comes from the world: the one redaction point.

Personal data here is what identifies a person: the speaker ids of a roster (the customer's
ids) and the S3 URIs of its recordings (a key often names the caller). The product's own code
never writes either anywhere: a manifest is staged under its digest, requests are numbered,
errors name a file and a line. But some text is not the product's: Voice ID's
``FailureDetails.Message`` of a FAILED job, the ``ErrorMessage`` of an output file's failed
requests, the message of an error Voice ID or S3 answered. Such text is passed through
:func:`redact` once, where it becomes a value of ours (:class:`~reconciler.core.jobs.Failure`,
:class:`~reconciler.core.jobs.FailedRequest`, a refused start's reason), so that everything made
from it — the state, plans and comments, ``status``, events and their notifications, logs — is
made from redacted text. (Parsers are the other source: their messages quote only the product's
own vocabulary, never a value; :mod:`reconciler.core.yamlpos` and :mod:`reconciler.core.roster`.)

Two rules, in this order:

1. **Against the rosters in memory** (:data:`MASK`): every speaker id of a roster this command
   loaded becomes ``<speaker>``, every audio URI's key (``audio/jo.wav``, also seen as
   ``bucket/audio/jo.wav`` or inside the URI) and file name (``jo.wav``) becomes ``<audio>``. A
   value is found where a word starts (at the start of the text or after a character that is not
   a letter or a digit), whatever follows it: ``cust-42`` is found in ``speaker cust-42.`` and
   ``id=cust-42x`` but not in ``xcust-42``.
2. **By pattern**, whatever the rosters: every S3 location keeps its bucket and loses its key —
   ``s3://bucket/<key>``, ``arn:aws:s3:::bucket/<key>``, ``https://bucket.s3.amazonaws.com/<key>``
   (a key ends at a space, a quote or a bracket). What is kept says which bucket a failure is
   about (an access denied, a missing output location), never which recording.

A text longer than :data:`MAX_TEXT` characters once redacted is cut there (``…``): a failure
message is a sentence. The redaction reads at most four times that (the matching is bounded by
the text's length), so a value is never cut in two with one half shown.

What is not covered, and why: the rosters in memory are the current ones, so a speaker removed
from a roster since its job ran is not known (only rule 2 applies to that job's messages); a
command that loads no spec (``status`` without its specs) redacts by pattern alone.

**The mask is per process**, as a log masker's list of secrets is: whichever path a text takes
into a value (an adapter's thread included) it meets the same rosters, without each seam
carrying them. Loading replaces it (:meth:`Mask.use`): it holds the rosters of the command's
own load, never those of an earlier one in the same process (a test, the demo).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

SPEAKER = "<speaker>"
"""What a speaker id of a roster in memory becomes."""
AUDIO = "<audio>"
"""What an audio file (its key or its name) of a roster in memory becomes."""
KEY = "<key>"
"""What the key of any S3 location becomes (its bucket is kept)."""
MAX_TEXT = 2000
"""Characters of a text from the world that are kept (the rest is cut, ``…``)."""
_READ = 4 * MAX_TEXT
"""Characters of a text from the world that are read (and redacted) at most."""

# The same failure message comes back for every job that failed the same way (and every poll
# re-reads them): a memo spares searching it again. Bounded: cleared whole when full, since a
# stream of distinct texts must not grow it without end.
_MEMO_SIZE = 4096


class Entry(Protocol):
    """One request of a roster, as :mod:`reconciler.core.roster` holds it."""

    @property
    def speaker_id(self) -> str | None: ...

    @property
    def audio(self) -> tuple[tuple[str, int], ...]: ...


Source = Callable[[], Iterable[Sequence[Entry]]]
"""Rosters not read yet, read when a text first needs them (``status`` loads none)."""


class _Index:
    """The values of the rosters, by length (a text is searched length by length)."""

    def __init__(self, rosters: Iterable[Sequence[Entry]]) -> None:
        values: dict[str, str] = {}
        for roster in rosters:
            for entry in roster:
                if entry.speaker_id:
                    values[entry.speaker_id] = SPEAKER
                for uri, _channel in entry.audio:
                    key = uri.partition("://")[2].partition("/")[2]
                    if key:
                        # setdefault: a speaker id that is also a key or a file name stays
                        # <speaker>.
                        values.setdefault(key, AUDIO)
                        name = key.rpartition("/")[2]
                        if name:
                            values.setdefault(name, AUDIO)
        self.values = values
        # A dict lookup per distinct length at each word start: the search costs the text's
        # length times the number of lengths, not times the number of values (a roster of 10,000
        # speakers has far fewer lengths than values).
        self.lengths = sorted({len(v) for v in values}, reverse=True)  # longest match first

    def replace(self, text: str) -> str:
        if not self.values:
            return text
        out: list[str] = []
        i, n, last = 0, len(text), 0
        values, lengths = self.values, self.lengths
        while i < n:
            # Only where a word starts: a short speaker id ('a1') must not be found inside every
            # word that happens to contain it.
            if i == 0 or not text[i - 1].isalnum():
                for length in lengths:
                    if i + length <= n:
                        found = values.get(text[i : i + length])
                        if found is not None:
                            out.append(text[last:i])
                            out.append(found)
                            i = last = i + length
                            break
                else:
                    i += 1
                continue
            i += 1
        out.append(text[last:])
        return "".join(out)


class Mask:
    """The rosters this command holds, and the memo of texts redacted against them."""

    def __init__(self) -> None:
        # The adapters' threads redact too (an error translated on a listing thread): one lock
        # keeps the index built once and the memo whole.
        self._lock = threading.Lock()
        self._rosters: list[Sequence[Entry]] = []
        self._sources: list[Source] = []
        self._index: _Index | None = None
        self._memo: dict[str, str] = {}

    def use(self, rosters: Iterable[Sequence[Entry]], later: Sequence[Source] = ()) -> None:
        """Redact against these rosters (and those ``later`` reads when a text first needs
        them) from now on, instead of the ones used before. Cheap: the rosters are indexed only
        when a text arrives (most runs redact nothing)."""
        with self._lock:
            self._rosters = list(rosters)
            self._sources = list(later)
            self._index = None
            self._memo = {}

    def clear(self) -> None:
        """No roster: :func:`redact` applies its patterns alone."""
        self.use(())

    def redact(self, text: str) -> str:
        """``text`` with the values of the rosters replaced (rule 1 of the module)."""
        with self._lock:
            known = self._memo.get(text)
            if known is not None:
                return known
            if self._index is None:
                self._index = _Index(self._loaded())
            result = self._index.replace(text)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[text] = result
            return result

    def _loaded(self) -> list[Sequence[Entry]]:
        """The rosters, those of the sources read now (one that cannot be read is left out:
        its problems are the loader's to report, and the patterns still apply)."""
        rosters = list(self._rosters)
        for source in self._sources:
            try:
                rosters.extend(source())
            except Exception:  # noqa: BLE001, S112 - a roster unreadable now redacts nothing
                continue
        self._rosters, self._sources = rosters, []
        return rosters


MASK = Mask()
"""The process's mask (see the module's docstring: why one per process)."""

_BUCKET = r"[A-Za-z0-9][A-Za-z0-9.\-_]{0,254}"
_KEY_CHARS = r"[^\s'\"`<>()\[\]{}|]"
_LOCATION = re.compile(
    rf"(?P<head>(?i:s3)://{_BUCKET}/"
    rf"|arn:aws[a-z-]*:s3:::{_BUCKET}/"
    rf"|(?i:https?)://(?:{_BUCKET}\.)?s3[A-Za-z0-9.\-]*\.amazonaws\.com(?:\.cn)?/)"
    rf"(?P<key>{_KEY_CHARS}+)"
)
_TRAILING = ".,;:!?"


def _location(match: re.Match[str]) -> str:
    key = match["key"]
    kept = key.rstrip(_TRAILING)  # a sentence's full stop after a URI is not its key
    return f"{match['head']}{KEY}{key[len(kept) :]}"


def redact(text: str) -> str:
    """A text from the world as the product may show it, store it or send it (see the
    module's docstring): the rosters' values and every S3 key out, then cut at
    :data:`MAX_TEXT` (after: a cut never leaves a part of a value that was whole)."""
    if not text:
        return text
    text = text[:_READ]  # what is redacted is bounded too; the cut below takes far less
    redacted = _LOCATION.sub(_location, MASK.redact(text))
    return redacted if len(redacted) <= MAX_TEXT else redacted[:MAX_TEXT] + "…"
