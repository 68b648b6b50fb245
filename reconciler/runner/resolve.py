"""Names to ids against the world: domains and watchlists from Voice ID, manifests from S3.

:class:`OnlineResolver` implements :class:`reconciler.core.desired.Resolver` and records what
it resolved in the state (so that ``plan --offline`` can resolve the same names later).
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core.desired import Unresolved, did_you_mean
from reconciler.core.state import State
from reconciler.runner.ports import ObjectStore, VoiceIdApi


class OnlineResolver:
    """Resolves names with ListDomains / ListWatchlists (once per run) and records them.

    A spec whose domain does not exist, is ambiguous or is not ACTIVE is blocked with the
    reason; so is one whose watchlist does not exist.
    """

    def __init__(self, voiceid: VoiceIdApi, state: State, objects: ObjectStore) -> None:
        self.voiceid = voiceid
        self.state = state
        self.objects = objects
        # A manifest's ETag is looked up once per run, in desire()'s one batch (a listing per
        # directory where many share one, a HEAD each otherwise): at 10,000 specs a HEAD per
        # spec would be 10,000 S3 calls. The check right before a Start reads S3 again, so a
        # manifest replaced since is not started on this memo's word.
        self._identities: dict[str, str | None] = {}

    def prefetch_manifests(self, uris: Sequence[str]) -> None:
        """Look up every external manifest's ETag at once (HEAD or a listing per directory)."""
        missing = [u for u in uris if u not in self._identities]
        if missing:
            self._identities.update(self.objects.identities(missing))

    def manifest_identity(self, uri: str) -> str:
        if uri not in self._identities:
            self.prefetch_manifests([uri])
        etag = self._identities.get(uri)
        if etag is None:
            raise Unresolved(f"manifest {uri} not found (or not readable)", "manifest-not-found")
        # Recorded for plan --offline: the ETag is part of the hash, and the offline resolver
        # has only what an online run wrote down.
        self.state.manifests[uri] = etag
        return etag

    def domain_id(self, ref: str) -> str:
        domains = self.voiceid.domains()
        # By DomainId first: Voice ID does not make domain names unique, so an id is the one
        # reference that always names one domain; a name is looked up only when no id matches.
        matches = [d for d in domains if d.domain_id == ref] or [
            d for d in domains if d.name == ref
        ]
        if not matches:
            hint = did_you_mean(ref, [d.name or "" for d in domains])
            raise Unresolved(f"domain {ref!r} not found{hint}", "domain-not-found")
        if len(matches) > 1:
            raise Unresolved(
                f"domain name {ref!r} is ambiguous ({len(matches)} domains); use its DomainId",
                "domain-ambiguous",
            )
        domain = matches[0]
        # Learnt even when the domain is not ACTIVE: the name is the domain's all the same, and
        # an offline plan that knows it does not refuse the spec as a mistyped domain
        # (domain-not-found).
        if domain.name:
            self.state.domains[domain.name] = domain.domain_id
        if domain.default_watchlist_id:
            self.state.watchlists.setdefault(domain.domain_id, {})["default"] = (
                domain.default_watchlist_id
            )
        # Voice ID runs jobs only in an ACTIVE domain (PENDING: its KMS key being changed;
        # SUSPENDED: the key unusable): blocked here with the status in the reason, not a Start
        # that fails.
        if domain.status != "ACTIVE":
            raise Unresolved(
                f"domain {ref!r} is {domain.status or 'not ACTIVE'}", "domain-not-active"
            )
        return domain.domain_id

    def watchlist_id(self, domain_id: str, ref: str) -> str:
        watchlists = self.voiceid.watchlists(domain_id)
        matches = [w for w in watchlists if w.watchlist_id == ref] or [
            w for w in watchlists if w.name == ref
        ]
        if not matches:
            hint = did_you_mean(ref, [w.name for w in watchlists])
            raise Unresolved(
                f"watchlist {ref!r} not found in domain {domain_id}{hint}", "watchlist-not-found"
            )
        # Two watchlists of one name in a domain: registering fraudsters into the wrong one
        # cannot be undone, so the spec must name the WatchlistId.
        if len(matches) > 1:
            raise Unresolved(
                f"watchlist name {ref!r} is ambiguous; use its WatchlistId", "watchlist-ambiguous"
            )
        self.state.watchlists.setdefault(domain_id, {})[matches[0].name] = matches[0].watchlist_id
        return matches[0].watchlist_id
