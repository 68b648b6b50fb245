"""Notification sinks: where job events go, each named by a URL (Apprise's URL syntax).

==========================  ======================================================================
``json://host[:port]/path`` a generic JSON webhook (``jsons://``: HTTPS): the versioned payload
                            below, POSTed, signed with HMAC-SHA256 of the body in
                            ``X-Voiceid-Signature-256: sha256=<hex>`` when
                            ``$VOICEID_RECONCILER_NOTIFY_SECRET`` is set
``sns://<topic ARN>``       Amazon SNS (botocore, the standard AWS credentials): ``Publish`` with a
                            text message for e-mail and SMS and the JSON payload for SQS, Lambda
                            and HTTP subscribers
``github://owner/repo``     GitHub commit statuses (``$GITHUB_TOKEN``; ``$GITHUB_API_URL`` for
                            GitHub Enterprise), one context per domain and kind:
                            ``voiceid/<domain>/<kind>``
anything else               Apprise (``slack://``, ``msteams://``, ``mailto://``, ... — the
                            ``notify`` extra): a title and one line per event
==========================  ======================================================================

The generic webhook is written here rather than through Apprise because Apprise's ``json://``
neither signs the body nor carries a versioned payload, which a receiver needs to trust and
parse an event; SNS is the AWS SDK's because the reconciler's IAM role (IRSA) is the credential, not
keys in a URL; GitHub is githubkit's (typed request models). Payload (``formatVersion`` 1)::

    {"formatVersion": 1, "source": "voiceid-reconciler", "title": str, "text": str,
     "events": [{id, event, spec, domainId, domainName, jobId, jobName, attempt, results,
                 failure, reason, at}]}

A sink raises :class:`NotifyError` (one line, no secret) when a delivery failed. A sink is
named in logs and errors by :func:`reconciler.adapters.urls.label` — ``json://host:port/…``,
``sns://<topic ARN>``, ``github://OWNER/REPO``, else ``scheme://…`` — and a digest of its URL:
never by a part of its URL that may be a token (the host of ``pbul://TOKEN``, a Slack hook's
path, a password). A ``json://user:password@host/path`` sends its credentials as HTTP Basic
authentication (as Apprise's ``json://`` does), never in the URL a library might print.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from reconciler.adapters import urls
from reconciler.core.errors import ReconcilerError
from reconciler.core.events import Event

SECRET_ENV = "VOICEID_RECONCILER_NOTIFY_SECRET"  # noqa: S105 - the name of a variable
GITHUB_TOKEN_ENV = "GITHUB_TOKEN"  # noqa: S105 - the name of a variable
GITHUB_API_ENV = "GITHUB_API_URL"
SIGNATURE_HEADER = "X-Voiceid-Signature-256"
# A receiver that hangs must not hold a poll (or the end of a run) for long: a delivery that
# times out is pending, and the next run sends it.
_TIMEOUT = 10.0


class NotifyError(ReconcilerError):
    """A notification could not be delivered (the sink named without its secrets)."""


@dataclass(frozen=True)
class CommitStatus:
    """One GitHub commit status to set."""

    sha: str
    context: str
    state: str  # pending | success | failure | error
    description: str


@dataclass(frozen=True)
class Delivery:
    """One message to one sink: its title and text, the events it tells, and the commit
    statuses those events touch — worked out only when a sink reads them (a GitHub sink: the
    commits come from git, or from GitHub)."""

    title: str
    text: str
    events: Sequence[Event]
    statuses_of: Callable[[], Sequence[CommitStatus]] = tuple

    # Once per delivery, however many times it is read: the tally behind it walks every spec.
    @functools.cached_property
    def statuses(self) -> tuple[CommitStatus, ...]:
        return tuple(self.statuses_of())


class Sink(Protocol):
    """One place events are delivered to."""

    @property
    def name(self) -> str:
        """The sink as logs may show it (no token, no secret)."""
        ...

    def send(self, delivery: Delivery) -> None:
        """Deliver one message; :class:`NotifyError` (one line, no secret) when it failed."""
        ...


@dataclass(frozen=True)
class SinkWorld:
    """What making a sink may need besides its URL: the environment it reads secrets from, and
    an AWS client by service name (made only when a sink asks for one)."""

    environ: Mapping[str, str]
    aws_client: Callable[[str], Any]


def payload(title: str, text: str, events: Sequence[Event]) -> dict[str, Any]:
    """The versioned JSON payload of a webhook, SNS or any machine receiver."""
    return {
        "formatVersion": 1,
        "source": "voiceid-reconciler",
        "title": title,
        "text": text,
        "events": [e.as_dict() for e in events],
    }


def signature(secret: str, body: bytes) -> str:
    """The ``X-Voiceid-Signature-256`` value of ``body`` (as GitHub signs its webhooks)."""
    # GitHub's own webhook signature format, so a receiver can verify it with code it already
    # has.
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def redacted(url: str) -> str:
    """A sink as logs and errors may name it (:func:`reconciler.adapters.urls.label`)."""
    return urls.label(url)


class WebhookSink:
    """``json://`` / ``jsons://``: the payload POSTed, HMAC-signed (``user:password@``: sent
    as HTTP Basic authentication)."""

    def __init__(self, url: str, secret: str | None) -> None:
        self.name = redacted(url)
        try:
            parts = urls.check(url, schemes=("json", "jsons"))
        except urls.UrlError as err:
            raise NotifyError(f"{self.name}: {err}") from None
        bare = urls.credentials(url)
        scheme = "https" if parts.scheme.lower() == "jsons" else "http"
        self.endpoint = urlsplit(bare.url)._replace(scheme=scheme).geturl()
        self.authorization: str | None = None
        if bare.username is not None or bare.password is not None:
            pair = f"{bare.username or ''}:{bare.password or ''}".encode()
            self.authorization = "Basic " + base64.b64encode(pair).decode()
        self.secret = secret

    def send(self, delivery: Delivery) -> None:
        message = payload(delivery.title, delivery.text, delivery.events)
        body = json.dumps(message, sort_keys=True).encode()
        # Not urllib's 'Python-urllib/3.x', which some firewalls in front of webhooks refuse and
        # which tells the receiver nothing of the sender.
        headers = {"Content-Type": "application/json", "User-Agent": "voiceid-reconciler"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        request = urllib.request.Request(self.endpoint, body, headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as answer:  # noqa: S310
                answer.read()
        except urllib.error.HTTPError as err:
            raise NotifyError(f"{self.name}: the webhook answered HTTP {err.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            # the reason is the socket's (refused, timed out), never the URL; a ValueError
            # (http.client's InvalidURL) may quote the URL: only its class is told
            reason = getattr(err, "reason", None)
            said = reason.strerror if isinstance(reason, OSError) and reason.strerror else None
            said = said or (str(reason) if isinstance(reason, str) else type(err).__name__)
            raise NotifyError(f"{self.name}: the webhook is unreachable ({said})") from None


class SnsSink:
    """``sns://<topic ARN>``: one Publish per message."""

    def __init__(self, url: str, client: Any) -> None:
        self.topic_arn = url.removeprefix("sns://")
        self.client = client
        self.name = redacted(url)

    def send(self, delivery: Delivery) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        title, text = delivery.title, delivery.text
        machine = json.dumps(payload(title, text, delivery.events), sort_keys=True)
        # MessageStructure=json: one Publish, a body per protocol. SNS requires 'default';
        # people's protocols (e-mail, SMS) get the text, machines' (SQS, Lambda, HTTP) the
        # versioned payload.
        message = {"default": f"{title}\n\n{text}", "email": f"{title}\n\n{text}"}
        message.update(dict.fromkeys(("sqs", "lambda", "http", "https"), machine))
        try:
            self.client.publish(
                TopicArn=self.topic_arn,
                # SNS refuses a Subject of 100 characters or more.
                Subject=title[:100],
                Message=json.dumps(message),
                MessageStructure="json",
            )
        except (ClientError, BotoCoreError) as err:
            code = getattr(err, "response", {}).get("Error", {}).get("Code", type(err).__name__)
            raise NotifyError(f"{self.name}: SNS refused the message ({code})") from None


class GitHubSink:
    """``github://owner/repo``: commit statuses (the runner says which, per commit)."""

    def __init__(self, url: str, token: str | None, base_url: str | None) -> None:
        path = [p for p in url.split("://", 1)[-1].split("/") if p]
        if len(path) != 2 or redacted(url).startswith("github://…"):
            raise NotifyError(f"{redacted(url)}: expected github://OWNER/REPO")
        self.owner, self.repo = path
        if not token:
            raise NotifyError(
                f"{redacted(url)}: ${GITHUB_TOKEN_ENV} is not set (a token that may set statuses)"
            )
        self.token = token
        self.base_url = base_url
        self.name = redacted(url)

    def _client(self) -> Any:
        try:
            from githubkit import GitHub
        except ImportError:
            raise NotifyError(
                f"{self.name}: needs the notify extra (pip install 'voiceid-reconciler[notify]')"
            ) from None
        # No retries of githubkit's own: a rate limit's Retry-After may be minutes long and
        # would hold the run; a refused status stays pending in the ledger and goes with the
        # next delivery.
        config: dict[str, Any] = {"timeout": _TIMEOUT, "auto_retry": False}
        if self.base_url:
            config["base_url"] = self.base_url
        return GitHub(self.token, **config)

    def commit_for(self, path: str) -> str | None:
        """The commit that last changed ``path`` (repository-relative) on the default branch,
        asked of GitHub (where no git is at hand: the container image); None if unknown."""
        from githubkit.exception import GitHubException

        try:
            with self._client() as github:
                answer = github.rest.repos.list_commits(
                    self.owner, self.repo, path=path, per_page=1
                )
                commits = answer.json()  # only the sha is read: no model of the whole commit
        except (GitHubException, NotifyError, ValueError):
            return None
        if isinstance(commits, list) and commits and isinstance(commits[0], dict):
            sha = commits[0].get("sha")
            return str(sha) if sha else None
        return None

    def send(self, delivery: Delivery) -> None:
        """Set the commit statuses the delivery's events touch (a status is per commit and
        context, not per event: the title and text are not shown)."""
        from githubkit.exception import GitHubException

        with self._client() as github:
            for status in delivery.statuses:
                try:
                    github.rest.repos.create_commit_status(
                        self.owner,
                        self.repo,
                        status.sha,
                        state=status.state,
                        context=status.context,
                        # GitHub refuses a commit status description longer than 140 characters.
                        description=status.description[:140],
                    )
                except GitHubException as err:
                    # The first refusal fails the whole delivery: its events stay pending, and
                    # the next one sets every status again (a status replaces the last of its
                    # context, so setting it twice is harmless).
                    raise NotifyError(
                        f"{self.name}: GitHub refused a commit status ({type(err).__name__})"
                    ) from None


class AppriseSink:
    """Any Apprise URL (``slack://``, ``msteams://``, ...): a title and the lines."""

    def __init__(self, url: str) -> None:
        try:
            with _apprise_quietly():
                import apprise
        except ImportError:
            raise NotifyError(
                f"{redacted(url)}: needs the notify extra "
                "(pip install 'voiceid-reconciler[notify]')"
            ) from None
        self.name = redacted(url)
        self._apprise = apprise.Apprise()
        with _apprise_quietly():
            try:
                known = self._apprise.add(url)
            except Exception:  # noqa: BLE001 - a plugin's parser may raise anything; its
                known = False  # message may quote the URL: the sink is refused, unquoted
        if not known:
            raise NotifyError(f"{self.name}: not a notification URL Apprise knows")

    def send(self, delivery: Delivery) -> None:
        with _apprise_quietly():
            accepted = self._apprise.notify(title=delivery.title, body=delivery.text)
        if not accepted:
            raise NotifyError(f"{self.name}: the notification was not accepted")


@contextlib.contextmanager
def _apprise_quietly() -> Iterator[None]:
    """Apprise's own deprecation warnings (its plugins import ``imghdr``) are not the user's
    to see, and must not fail a run under ``-W error``; nor are its log records, which quote
    the URLs it could not use (tokens included)."""
    logger = logging.getLogger("apprise")
    previous = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.disabled = previous


def _webhook(url: str, world: SinkWorld) -> Sink:
    return WebhookSink(url, world.environ.get(SECRET_ENV) or None)


def _sns(url: str, world: SinkWorld) -> Sink:
    if not redacted(url).startswith("sns://arn:"):
        raise NotifyError(f"{redacted(url)}: expected sns://<topic ARN>")
    return SnsSink(url, world.aws_client("sns"))


def _github(url: str, world: SinkWorld) -> Sink:
    return GitHubSink(url, world.environ.get(GITHUB_TOKEN_ENV), world.environ.get(GITHUB_API_ENV))


SCHEMES: dict[str, Callable[[str, SinkWorld], Sink]] = {
    "json": _webhook,
    "jsons": _webhook,
    "sns": _sns,
    "github": _github,
}
"""How each scheme's sink is made; any other scheme is Apprise's."""


def open_sink(url: str, world: SinkWorld) -> Sink:
    """The sink a ``--notify`` URL names, made by its scheme's entry in :data:`SCHEMES`;
    :class:`NotifyError` (naming the sink by its label, never by its URL) when it cannot be
    one."""
    problem = check_url(url)
    if problem:
        raise NotifyError(f"{redacted(url)}: {problem}")
    make = SCHEMES.get(url.split("://", 1)[0].lower())
    return make(url, world) if make is not None else AppriseSink(url)


def check_url(url: str) -> str | None:
    """What is wrong with a ``--notify`` value as a URL (None: nothing), told before anything
    runs and never quoting it. A webhook's is checked whole; of any other only the form
    (``scheme://...``, readable): an Apprise URL's host may be a token, not a host name."""
    if url.split("://", 1)[0].lower() in ("json", "jsons"):
        try:
            urls.check(url, schemes=("json", "jsons"))
        except urls.UrlError as err:
            return str(err)
    said = urls.label(url)
    if said.startswith("a value that is not a URL"):
        return "not a URL (expected e.g. slack://..., json://host/path)"
    if said.startswith("a URL that cannot be read"):
        return "cannot be read as a URL (an unbalanced [ or a bad port)"
    return None
