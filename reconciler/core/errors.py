"""The exceptions of voiceid-reconciler, in one hierarchy.

Library code raises these; only the CLI catches them, prints one line and picks the exit code
(``--debug`` re-raises with the traceback)::

    ReconcilerError                 anything the reconciler reports to a user (exit 1)
    ├── SpecError                   one problem in one spec file, with file:line:column
    ├── SpecErrors                  every problem found in one validation pass
    ├── SelectorError               a --selector that cannot be read
    ├── StateError                  the state file is unreadable, mangled or from a newer version
    │   └── StateLockedError        another live run holds the state lock (exit 4)
    ├── StorageError                an S3 object (a staged manifest) cannot be written
    ├── PlanError                   a plan cannot be computed (two specs resolve to one job, ...)
    │   ├── PlanChecksumMismatch    apply --plan-checksum: the world changed since review
    │   └── UnsafePlanError         a plan starts more jobs than the safety limit allows
    └── VoiceIdError                an error from Voice ID, translated at the adapter boundary
        ├── RetryableError          throttling, 5xx, connection trouble: tenacity retries these
        ├── AccessDeniedError       the caller or its data access role is refused
        ├── NotFoundError           domain, watchlist or job missing (``resource_type``)
        ├── ConflictError           domain not ACTIVE, ClientToken reused with other parameters
        ├── QuotaExceededError      an active job already occupies the domain's slot
        └── InvalidRequestError     Voice ID refused the request as invalid

Every translated error keeps the botocore exception as ``__cause__``.

**Text from the world.** The message of a :class:`VoiceIdError` or a :class:`StorageError`
carries what Voice ID or S3 wrote (an error's ``Message``), which may name a speaker id or a
recording's S3 key. Both constructors pass the message through
:func:`reconciler.core.redact.redact`, so that the error value, and every line, log event,
comment or state made from it, holds redacted text. The constructor is the one place every
such error is made through — the Voice ID adapter's translation of botocore's errors, its
connection and malformed-answer errors, the adoption hook's, S3's staging and status-page
writes, and any raised later — where a seam (one adapter function) would leave the others
out. The error's ``code`` and ``resource_type`` are left as they are: they are branched on,
and a speaker id that happens to spell a code must not change the branch (log events
carrying them are redacted by the logging's own processor). ``__cause__`` keeps botocore's
exception unredacted: it is shown only by ``--debug``'s traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.core.redact import redact


class ReconcilerError(Exception):
    """Anything the reconciler reports to a user instead of a traceback."""


class Location:
    """A place in a spec file; line and column are 1-based, 0 when unknown.

    The path is kept as its text (a run holds two locations for each of 50,000 specs; a
    ``Path`` is three times the size of its text) and given as a ``Path``."""

    __slots__ = ("_path", "column", "line")

    def __init__(self, path: Path | str, line: int = 0, column: int = 0) -> None:
        # A text goes through Path once so it is written as Path writes it ('./a.yaml' is
        # 'a.yaml'): two locations of one file then compare equal as texts.
        self._path = os.fspath(path) if isinstance(path, Path) else str(Path(path))
        self.line = line
        self.column = column

    @classmethod
    def of_text(cls, path: str, line: int = 0, column: int = 0) -> Location:
        """A location in the file whose path's text (``os.fspath`` of a ``Path``) is given:
        the text is taken as it is (a spec cache hit makes two per spec)."""
        # Past __init__: the text is already as Path writes it (it was made so when cached), and
        # a cache hit at 50,000 specs makes 100,000 of these.
        location = cls.__new__(cls)
        location._path, location.line, location.column = path, line, column
        return location

    @property
    def path(self) -> Path:
        return Path(self._path)

    def _key(self) -> tuple[str, int, int]:
        # Equality and hashing by the text: no Path is made to compare two locations.
        return (self._path, self.line, self.column)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Location):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Location(path={self.path!r}, line={self.line}, column={self.column})"

    def __str__(self) -> str:
        if self.line:
            return f"{self._path}:{self.line}:{self.column}"
        return self._path


class SpecError(ReconcilerError):
    """One problem in one spec file."""

    def __init__(self, location: Location, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (str(loc.path), loc.line, loc.column, self.message)


class SpecErrors(ReconcilerError):
    """Every problem one validation pass found, in file and line order."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = sorted(errors, key=SpecError.sort_key)
        count = len(self.errors)
        super().__init__(f"{count} error{'s' if count != 1 else ''} in the specs")


class SelectorError(ReconcilerError):
    """A label selector (``--selector``) that cannot be read."""


class StateError(ReconcilerError):
    """The state store cannot be read or written safely."""


class StateLockedError(StateError):
    """Another live run holds the state lock."""


class StorageError(ReconcilerError):
    """An S3 object the run needs cannot be written (``code``: the S3 error code); the
    message redacted (S3's words: see the module)."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(redact(message))
        self.code = code


class PlanError(ReconcilerError):
    """A plan cannot be computed or may not be applied."""


class PlanChecksumMismatch(PlanError):
    """The plan computed at apply time differs from the reviewed one."""


class UnsafePlanError(PlanError):
    """The plan would start more jobs than the safety limit allows."""


class VoiceIdError(ReconcilerError):
    """An error answered by Voice ID (or on the way to it); the message redacted (Voice ID's
    words: see the module)."""

    def __init__(self, message: str, *, code: str = "", resource_type: str = "") -> None:
        super().__init__(redact(message))
        self.code = code
        self.resource_type = resource_type


class RetryableError(VoiceIdError):
    """Throttling, a 5xx answer or a connection problem; safe to retry."""


class AccessDeniedError(VoiceIdError):
    """The caller, or the data access role it passes, is refused."""


class NotFoundError(VoiceIdError):
    """A domain, watchlist or job does not exist."""


class ConflictError(VoiceIdError):
    """The domain is not ACTIVE, or a ClientToken was reused with other parameters."""


class QuotaExceededError(VoiceIdError):
    """The domain already runs as many jobs of this kind as its quota allows."""


class InvalidRequestError(VoiceIdError):
    """Voice ID refused the request as invalid."""
