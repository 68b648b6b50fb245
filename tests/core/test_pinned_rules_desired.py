"""Rules of desired jobs, the resolvers and sharding (reconciler.core.desired)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.desired import (
    DesiredJob,
    NameResolver,
    OfflineResolver,
    Shard,
    Unresolved,
    desire,
    did_you_mean,
    in_shard,
    offline,
)
from reconciler.core.errors import Location, ReconcilerError
from reconciler.core.identity import Resolution, start_request
from reconciler.core.roster import Request, parts
from reconciler.core.spec import FraudsterRegistrationJob, LoadedSpec, SpeakerEnrollmentJob
from reconciler.core.state import State

D1 = "D" * 22
W1 = "W" * 22
ROLE = "arn:aws:iam::123456789012:role/R"


def _spec(
    name: str, *, kind: str = "SpeakerEnrollmentJob", domain: str = "prod", **spec: Any
) -> LoadedSpec:
    model = SpeakerEnrollmentJob if kind == "SpeakerEnrollmentJob" else FraudsterRegistrationJob
    document = model.model_validate(
        {
            "apiVersion": "voiceid-reconciler/v1",
            "kind": kind,
            "metadata": {"name": name},
            "spec": {
                "domain": domain,
                "dataAccessRoleArn": ROLE,
                "input": {"manifest": f"s3://bucket/{name}.json"},
                "output": {"s3Uri": "s3://bucket/out/", "kmsKeyId": "alias/k"},
                **spec,
            },
        }
    )
    where = Location(Path(f"specs/{name}.yaml"), 1, 1)
    return LoadedSpec.of(document, where, where)


def _roster_spec(name: str, fraudsters: int) -> LoadedSpec:
    loaded = _spec(
        name,
        kind="FraudsterRegistrationJob",
        input={
            "fraudsters": [{"audio": ["s3://bucket/a.wav"]}],
            "stagingUri": "s3://bucket/staging/",
        },
    )
    roster = tuple(Request(None, ((f"s3://bucket/f{i}.wav", 0),)) for i in range(fraudsters))
    return dataclasses.replace(loaded, roster=roster)


class _Recording(NameResolver):
    """Names as ids, and the manifests it was asked to prefetch."""

    def __init__(self, *, watchlist: Unresolved | None = None) -> None:
        self.prefetched: list[list[str]] = []
        self.watchlist = watchlist

    def prefetch_manifests(self, uris: Sequence[str]) -> None:
        self.prefetched.append(list(uris))

    def watchlist_id(self, domain_id: str, ref: str) -> str:
        if self.watchlist is not None:
            raise self.watchlist
        return super().watchlist_id(domain_id, ref)


def _job(name: str = "a", **kw: Any) -> DesiredJob:
    spec = _spec(name)
    return DesiredJob(spec, start_request(spec.facts, Resolution(D1)), domain_id=D1, **kw)


# --- DesiredJob -----------------------------------------------------------------------------


def test_a_desired_job_has_a_request_or_a_reason_never_both() -> None:
    """Either the request it stands for or why it is blocked: both, or neither, is refused."""
    spec = _spec("a")
    request = start_request(spec.facts, Resolution(D1))
    with pytest.raises(ValueError, match="either a request or a reason"):
        DesiredJob(spec, None)
    with pytest.raises(ValueError, match="either a request or a reason"):
        DesiredJob(spec, request, blocked="no")
    assert DesiredJob(spec, None, blocked="no").hash is None
    assert DesiredJob(spec, request).hash == request.hash


def test_a_part_is_named_and_keyed_by_its_part_name() -> None:
    """A part's name and state key are ``<name>-part-NNN``; a whole spec's are its own."""
    whole = _job("a")
    assert (whole.name, whole.key, whole.kind) == ("a", "SpeakerEnrollmentJob/a", whole.spec.kind)
    part = _job("a", part_name="a-part-002")
    assert (part.name, part.key) == ("a-part-002", "SpeakerEnrollmentJob/a-part-002")


def test_refused_blocks_a_job_and_drops_its_manifest() -> None:
    """A start Voice ID refused is blocked with the reason, code 'refused', nothing to stage."""
    job = _job("a", manifest=b"{}")
    refused = job.refused("the role is refused")
    assert refused.request is None
    assert refused.blocked == "the role is refused"
    assert refused.blocked_code == "refused"
    assert refused.manifest is None
    assert refused.key == job.key
    blocked = DesiredJob(job.spec, None, blocked="earlier", blocked_code="offline")
    assert blocked.refused("later") is blocked


def test_unresolved_carries_its_reason_and_code() -> None:
    """An unresolved name says why, for people, and its code, 'unresolved' by default."""
    err = Unresolved("no such domain")
    assert (str(err), err.reason, err.code) == ("no such domain", "no such domain", "unresolved")
    assert Unresolved("x", "offline").code == "offline"


def test_did_you_mean_names_the_closest_candidate() -> None:
    """The closest candidate that is similar enough is suggested, else nothing."""
    assert did_you_mean("prdo", ["prod", "staging", ""]) == "; did you mean 'prod'?"
    assert did_you_mean("prod", ["production", "prod-eu", "prod"]) == "; did you mean 'prod'?"
    assert did_you_mean("xyz", ["prod", "staging"]) == ""
    assert did_you_mean("", ["", "prod"]) == ""


# --- resolvers ------------------------------------------------------------------------------


def test_offline_takes_a_voice_id_id_as_it_is_written() -> None:
    """Exactly 22 letters and digits is an id already; anything else is a name to look up."""
    resolver = OfflineResolver(State(domains={"prod": D1}, watchlists={D1: {"wl": W1}}))
    assert resolver.domain_id("A1" * 11) == "A1" * 11
    assert resolver.domain_id("prod") == D1
    assert resolver.watchlist_id(D1, "B2" * 11) == "B2" * 11
    assert resolver.watchlist_id(D1, "wl") == W1
    for almost in ("A" * 21, "A" * 23, "A" * 21 + "-"):
        with pytest.raises(Unresolved):
            resolver.domain_id(almost)
        with pytest.raises(Unresolved):
            resolver.watchlist_id(D1, almost)


def test_offline_without_known_domains_cannot_judge_a_name() -> None:
    """A state that never resolved a domain gives code 'offline' (maybe new), not not-found."""
    with pytest.raises(Unresolved) as caught:
        OfflineResolver(State()).domain_id("prod")
    assert caught.value.code == "offline"
    assert caught.value.reason == "domain 'prod' is not in the state yet"


def test_offline_an_unknown_domain_name_is_not_found_as_of_the_state() -> None:
    """A name the known domains rule out is 'domain-not-found', saying as of when, with a hint."""
    state = State(domains={"prod": D1}, observed_at="2026-12-01T09:42:10Z")
    with pytest.raises(Unresolved) as caught:
        OfflineResolver(state).domain_id("prdo")
    assert caught.value.code == "domain-not-found"
    assert caught.value.reason == (
        "domain 'prdo' is not among the domains the state knows (as of 2026-12-01T09:42:10Z; "
        "an offline plan knows only the domains earlier online runs resolved); "
        "did you mean 'prod'?"
    )
    with pytest.raises(Unresolved, match=r"\(never observed; an offline"):
        OfflineResolver(State(domains={"prod": D1})).domain_id("staging")


def test_offline_an_unknown_watchlist_or_manifest_may_be_new() -> None:
    """A watchlist or a manifest ETag never seen is 'offline' (a hint from that domain's lists)."""
    state = State(
        watchlists={D1: {"known": W1}, "E" * 22: {"other": W1}}, manifests={"s3://b/m": "e1"}
    )
    resolver = OfflineResolver(state)
    with pytest.raises(Unresolved) as caught:
        resolver.watchlist_id(D1, "knwon")
    assert (caught.value.code, caught.value.reason) == (
        "offline",
        "watchlist 'knwon' is not in the state yet; did you mean 'known'?",
    )
    with pytest.raises(Unresolved, match=r"^watchlist 'othr' is not in the state yet$"):
        resolver.watchlist_id(D1, "othr")
    with pytest.raises(Unresolved, match=r"^watchlist 'x' is not in the state yet$"):
        resolver.watchlist_id("F" * 22, "x")
    assert resolver.manifest_identity("s3://b/m") == "e1"
    with pytest.raises(Unresolved) as caught:
        resolver.manifest_identity("s3://b/new")
    assert (caught.value.code, caught.value.reason) == (
        "offline",
        "the manifest's ETag is not in the state yet",
    )
    resolver.prefetch_manifests(["s3://b/new"])  # offline: nothing to fetch, nothing learnt
    assert state.manifests == {"s3://b/m": "e1"}


def test_name_resolver_takes_names_as_ids() -> None:
    """validate's resolver: every name is its own id, a manifest is identified by its URI."""
    resolver = NameResolver()
    assert resolver.domain_id("prod") == "prod"
    assert resolver.watchlist_id("prod", "wl") == "wl"
    assert resolver.manifest_identity("s3://b/m.json") == "uri:s3://b/m.json"
    resolver.prefetch_manifests(["s3://b/m.json"])


# --- desire ---------------------------------------------------------------------------------


def test_desire_resolves_each_spec_into_its_request() -> None:
    """A manifest spec's request: resolved domain and watchlist, the manifest's ETag digest."""
    resolver = _Recording()
    a = _spec("a", domain="prod")
    b = _spec(
        "b", kind="FraudsterRegistrationJob", domain="other", registration={"watchlist": "wl"}
    )
    desired = desire([a, b], resolver)
    assert resolver.prefetched == [["s3://bucket/a.json", "s3://bucket/b.json"]]
    assert [d.domain_id for d in desired] == ["prod", "other"]
    assert desired[0].request is not None
    assert (
        desired[0].hash
        == start_request(
            a.facts, Resolution("prod"), manifest_digest="etag:uri:s3://bucket/a.json"
        ).hash
    )
    assert (
        desired[1].hash
        == start_request(
            b.facts, Resolution("other", "wl"), manifest_digest="etag:uri:s3://bucket/b.json"
        ).hash
    )
    assert (desired[0].part_name, desired[0].manifest, desired[0].speakers) == (None, None, None)


def test_desire_an_unresolved_name_blocks_with_the_domain_it_had() -> None:
    """A name that cannot be resolved blocks its spec (reason and code), keeping the domain
    id resolved before it so that the job still belongs to that domain's shard."""
    resolver = _Recording(watchlist=Unresolved("no watchlist", "watchlist-not-found"))
    spec = _spec("a", enrollment={"fraudDetection": {"watchlist": "wl"}})
    (job,) = desire([spec], resolver)
    assert (job.request, job.blocked, job.blocked_code) == (
        None,
        "no watchlist",
        "watchlist-not-found",
    )
    assert job.domain_id == "prod"
    (job,) = desire([spec], OfflineResolver(State()))
    assert (job.domain_id, job.blocked_code) == (None, "offline")


def test_desire_a_roster_in_one_part() -> None:
    """A roster that fits one job: one desired job, its manifest staged under its digest."""
    spec = _roster_spec("fr", 3)
    resolver = _Recording()
    (job,) = desire([spec], resolver)
    assert resolver.prefetched == [[]]
    (part,) = parts(spec.kind, spec.roster or ())
    assert job.part_name is None
    assert job.key == "FraudsterRegistrationJob/fr"
    assert job.manifest == part.body
    assert job.speakers == 3
    assert job.request is not None
    assert job.request.input_s3_uri == f"s3://bucket/staging/{part.digest}.json"
    assert job.request.manifest_digest == part.digest
    assert job.request.manifest_digest == hashlib.sha256(part.body).hexdigest()


def test_desire_a_large_roster_in_parts() -> None:
    """Above the per-job limit each part is a desired job of its own: name, manifest, count."""
    spec = _roster_spec("fr", 501)
    desired = desire([spec], _Recording())
    assert [d.part_name for d in desired] == ["fr-part-001", "fr-part-002"]
    assert [d.speakers for d in desired] == [500, 1]
    expected = parts(spec.kind, spec.roster or ())
    assert [d.manifest for d in desired] == [p.body for p in expected]
    assert [d.request.input_s3_uri for d in desired if d.request] == [
        f"s3://bucket/staging/{p.digest}.json" for p in expected
    ]


def test_offline_marks_only_what_online_knowledge_would_resolve() -> None:
    """Code 'offline' becomes a start without a hash; any other blocked job stays blocked."""
    spec = _spec("a")
    maybe = DesiredJob(spec, None, blocked="x", blocked_code="offline")
    wrong = DesiredJob(spec, None, blocked="y", blocked_code="domain-not-found")
    fine = _job("b")
    out = offline([maybe, wrong, fine])
    assert [d.unknown_offline for d in out] == [True, False, False]
    assert out[1] is wrong
    assert out[2] is fine


# --- shards ---------------------------------------------------------------------------------


def test_a_shard_is_index_of_count() -> None:
    """0 <= INDEX < COUNT, COUNT at least 1; the edges are accepted, one beyond refused."""
    assert Shard(0, 1) == Shard.parse("0/1")
    assert Shard.parse(" 3 / 4 ") == Shard(3, 4)
    for index, count in ((4, 4), (-1, 4), (0, 0), (5, 4)):
        with pytest.raises(ReconcilerError, match=r"^shard .*: expected INDEX/COUNT with 0"):
            Shard(index, count)
    for text in ("1", "1/", "/4", "x/4", "1/x", "1-4"):
        with pytest.raises(ReconcilerError) as caught:
            Shard.parse(text)
        assert str(caught.value) == f"--shard {text!r}: expected INDEX/COUNT, e.g. 0/4"


def test_a_domain_is_owned_by_its_hash() -> None:
    """The shard of a domain is the first 8 bytes of its SHA-256, big-endian, modulo COUNT."""
    for domain in ("prod", D1, "", "emea"):
        number = int.from_bytes(hashlib.sha256(domain.encode()).digest()[:8], "big")
        assert [i for i in range(5) if Shard(i, 5).owns(domain)] == [number % 5]
        assert [i for i in range(7) if Shard(i, 7).owns(domain)] == [number % 7]


def test_each_shard_keeps_its_own_state_location() -> None:
    """The tag goes before the extension; without one (or a dot in a folder) it is appended."""
    shard = Shard(1, 4)
    assert shard.state_location("s3://b/state.json") == "s3://b/state.shard-1-of-4.json"
    assert shard.state_location("state") == "state.shard-1-of-4"
    assert shard.state_location("s3://b.x/state") == "s3://b.x/state.shard-1-of-4"
    assert Shard(0, 1).state_location("s3://b/state.json") == "s3://b/state.json"


def test_in_shard_by_resolved_domain_else_by_name() -> None:
    """A job belongs to its domain id's shard; an unresolved one to its domain name's."""
    resolved = _job("a")
    unresolved = DesiredJob(_spec("b", domain="emea"), None, blocked="x")
    jobs = [resolved, unresolved]
    assert in_shard(jobs, None) is jobs
    owners = {d.key: [i for i in range(3) if d in in_shard(jobs, Shard(i, 3))] for d in jobs}
    assert owners == {
        resolved.key: [i for i in range(3) if Shard(i, 3).owns(D1)],
        unresolved.key: [i for i in range(3) if Shard(i, 3).owns("emea")],
    }


def test_desired_jobs_and_shards_are_immutable_values() -> None:
    """Neither a desired job nor a shard can be changed once made; a shard hashes as a value."""
    job = _job("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.blocked = "x"  # type: ignore[misc]
    shard = Shard(0, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        shard.index = 1  # type: ignore[misc]
    assert len({shard, Shard(0, 2)}) == 1


def test_a_rendered_manifest_is_neither_shown_nor_compared() -> None:
    """A roster's manifest (speaker ids) never appears in a desired job's repr, and two jobs
    of the same request are equal whatever bytes they hold."""
    job = _job("a", manifest=b'{"SpeakerId":"cust-42"}')
    assert "cust-42" not in repr(job)
    assert "SpeakerId" not in repr(job)
    assert job == dataclasses.replace(job, manifest=b"other bytes")
