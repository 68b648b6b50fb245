"""URLs a user hands the reconciler (``--notify``, ``--pushgateway``, ``AWS_ENDPOINT_URL*``):
parsed and checked before the first call, and named without their secrets.

A URL often *is* a secret, and not only its password: a Slack or Teams hook's path is its
token, and for many Apprise URLs the host is (``pbul://TOKEN``, ``pover://user@TOKEN``,
``prowl://APIKEY``, ``join://APIKEY``). So nothing here ever puts a part of a URL in a message
unless the part is known to be safe for that scheme (:func:`label`):

==========================  ===============================================================
``json://`` ``jsons://``     ``json://host:port/…`` (the receiver's host; no user, password,
``http://`` ``https://``     path or query)
``sns://<topic ARN>``        the ARN (an account id and a topic name), when it is one
``github://OWNER/REPO``      the repository, when it is one
anything else                ``scheme://…`` (the scheme only when it is a plain word)
==========================  ===============================================================

and every label ends with ``#`` and the first 8 hex digits of the SHA-256 of the whole URL, so
that two sinks of one scheme are told apart (and a user can tell which of theirs it is by
computing the same digest) without the URL being shown. :class:`UrlError`\\ 's message never
holds the URL either: a caller prefixes the label.
"""

from __future__ import annotations

import hashlib
import re
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]{0,31}$")
_SAFE_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]{2,45}\]$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
# Blanks and control characters, the line separators and the bidirectional overrides: a value
# with them could write a line of its own into a log, or read in a terminal as another URL than
# the one it is.
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_WEB = ("json", "jsons", "http", "https")


class UrlError(ValueError):
    """A URL that cannot be used; the message never holds the URL (see the module)."""


class Credentials(NamedTuple):
    """A URL without its ``user:password@`` part, and that part."""

    url: str
    username: str | None
    password: str | None


def digest(url: str) -> str:
    """The first 8 hex digits of the SHA-256 of ``url``: a name for it that shows nothing."""
    # surrogatepass: a value from argv or the environment that was not UTF-8 arrives holding
    # lone surrogates (Python's surrogateescape), which a strict encode would raise on.
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def label(url: str) -> str:
    """``url`` as logs and errors may name it (see the module): never a token, a password, a
    path or a query, whatever the scheme."""
    tag = f"#{digest(url)}"
    scheme, found, rest = url.partition("://")
    scheme = scheme.lower()
    if not found or not _SCHEME.match(scheme):
        return f"a value that is not a URL{tag}"
    if scheme == "sns":
        # A topic ARN is an account id and a topic name, no secret (IAM policies name them);
        # anything after sns:// that is not exactly one is not shown.
        return f"sns://{rest}{tag}" if _TOPIC_ARN.match(rest) else f"sns://…{tag}"
    if scheme == "github":
        repository = rest.strip("/")
        return (
            f"github://{repository}{tag}" if _REPOSITORY.match(repository) else f"github://…{tag}"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"a URL that cannot be read{tag}"
    if scheme in _WEB and host and _SAFE_HOST.match(host):
        # urlsplit's hostname drops an IPv6 literal's brackets; without them a port would read
        # as part of the address.
        shown = f"[{host}]" if ":" in host else host
        more = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
        return f"{scheme}://{shown}{f':{port}' if port else ''}{more}{tag}"
    return f"{scheme}://…{tag}"


def check(
    url: str,
    *,
    schemes: tuple[str, ...] | None = None,
    default_scheme: str | None = None,
) -> SplitResult:
    """``url`` parsed: no blank or control character, balanced IPv6 brackets, a host, a port
    that is a number in range, a scheme of ``schemes`` (``default_scheme`` when it has none
    and a host:port was given: ``pushgateway:9091``). Raises :class:`UrlError`."""
    if not url or _UNSAFE.search(url):
        raise UrlError("holds a blank or a control character, or is empty: not a URL")
    text = url if "://" in url or default_scheme is None else f"{default_scheme}://{url}"
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError as err:
        # urllib raises ValueError for both, and its message is the only thing that tells them
        # apart; the message is not shown itself (it may quote the URL).
        reason = "an IPv6 address without its closing ]" if "IPv6" in str(err) else "a bad port"
        raise UrlError(f"cannot be read as a URL ({reason})") from None
    scheme = parts.scheme.lower()
    if not scheme or "://" not in text:
        raise UrlError("is not a URL (expected scheme://host...)")
    if schemes is not None and scheme not in schemes:
        raise UrlError(
            f"has the scheme {scheme!r}" if _SCHEME.match(scheme) else "has a bad scheme"
        )
    if not host:
        raise UrlError("has no host")
    # urlsplit accepts port 0, and nothing can be reached there: refused now, not as a puzzling
    # connection error after a run's work is done.
    if port == 0:
        raise UrlError("has port 0")
    return parts


def credentials(url: str) -> Credentials:
    """``url`` without ``user:password@`` (percent-decoded), for a client that sends them as
    a header rather than in the URL, where a library's error message would show them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return Credentials(url, None, None)
    # The last '@': a password may hold one, the host never does.
    netloc = parts.netloc.rsplit("@", 1)[1]
    bare = parts._replace(netloc=netloc).geturl()
    # Percent-decoded: a password with ':' or '@' in it must be written encoded in a URL, and
    # the header must carry the password itself.
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return Credentials(bare, user, password)
