"""KubeGateway against a real HTTPS server: every status mapping, retries, TLS, timeouts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from devcluster.standins.tlsapi import ApiServer, Reply, Tls
from registrar.adapters.eks import EksConnector
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import RetryPolicy, Timeouts, TlsError
from registrar.core.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ProtocolError,
    RejectedError,
    TransientError,
    UnauthorizedError,
)
from registrar.core.models import ClusterInfo

PV = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"}}


class Tokens:
    def __init__(self) -> None:
        self.calls: list[bool] = []

    def __call__(self, force: bool) -> str:
        self.calls.append(force)
        return f"tok-{len(self.calls)}"


def gateway(
    api: ApiServer, ca_pem: bytes, tokens: Callable[[bool], str] | None = None, **kw: Any
) -> tuple[KubeGateway, list[float]]:
    sleeps: list[float] = []
    gw = KubeGateway(
        api.url,
        ca_pem,
        tokens or Tokens(),
        Timeouts(connect=1, read=kw.pop("read", 2)),
        retry=kw.pop("retry", RetryPolicy(attempts=3, base_delay=0.1, max_delay=5, auth_grace=0)),
        sleep=sleeps.append,
        **kw,
    )
    return gw, sleeps


def test_get_ok_sends_bearer_and_verifies_tls(api: ApiServer, tls: Tls) -> None:
    api.queue = [Reply(200, PV)]
    gw, _ = gateway(api, tls.ca_pem)
    assert gw.get("PersistentVolume", "pv1") == PV
    [seen] = api.seen
    assert (seen.method, seen.path) == ("GET", "/api/v1/persistentvolumes/pv1")
    assert seen.headers["Authorization"] == "Bearer tok-1"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, RejectedError),
        (422, RejectedError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
    ],
)
def test_status_maps_to_domain_error(
    api: ApiServer, tls: Tls, status: int, error: type[Exception]
) -> None:
    api.default = lambda _seen: Reply(status, {"kind": "Status", "message": f"said {status}"})
    gw, sleeps = gateway(api, tls.ca_pem)
    with pytest.raises(error):
        gw.create({**PV, "kind": "PersistentVolumeClaim", "metadata": {"namespace": "ns"}})
    assert len(api.seen) == 1 and not sleeps
    assert api.seen[0].path == "/api/v1/namespaces/ns/persistentvolumeclaims"


def test_403_names_the_verb_and_resource(api: ApiServer, tls: Tls) -> None:
    message = 'persistentvolumes is forbidden: User "x" cannot patch resource "persistentvolumes"'
    api.default = lambda _seen: Reply(403, {"kind": "Status", "message": message})
    gw, _ = gateway(api, tls.ca_pem)
    with pytest.raises(ForbiddenError, match=r"verb 'patch' on resource 'persistentvolumes'"):
        gw.patch("PersistentVolume", "pv1", None, {"metadata": {"labels": {"a": "b"}}})


def test_401_refreshes_the_token_once_then_succeeds(api: ApiServer, tls: Tls) -> None:
    api.queue = [Reply(401), Reply(200, PV)]
    tokens = Tokens()
    gw, _ = gateway(api, tls.ca_pem, tokens)
    assert gw.get("PersistentVolume", "pv1") == PV
    assert tokens.calls == [False, True]
    assert [s.headers["Authorization"] for s in api.seen] == ["Bearer tok-1", "Bearer tok-2"]


def test_401_after_refresh_is_unauthorized(api: ApiServer, tls: Tls) -> None:
    api.default = lambda _seen: Reply(401)
    tokens = Tokens()
    gw, _ = gateway(api, tls.ca_pem, tokens)
    with pytest.raises(UnauthorizedError):
        gw.get("PersistentVolume", "pv1")
    assert tokens.calls == [False, True] and len(api.seen) == 2


def test_429_honours_retry_after(api: ApiServer, tls: Tls) -> None:
    api.queue = [Reply(429, headers={"Retry-After": "2"}), Reply(200, PV)]
    gw, sleeps = gateway(api, tls.ca_pem)
    assert gw.get("PersistentVolume", "pv1") == PV
    assert sleeps == [2.0]


def test_retry_after_is_capped_and_retries_are_bounded(api: ApiServer, tls: Tls) -> None:
    api.default = lambda _seen: Reply(429, headers={"Retry-After": "3600"})
    gw, sleeps = gateway(api, tls.ca_pem)
    with pytest.raises(TransientError) as caught:
        gw.get("PersistentVolume", "pv1")
    assert sleeps == [5, 5] and len(api.seen) == 3
    assert caught.value.retry_after == 3600


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_backoff(api: ApiServer, tls: Tls, status: int) -> None:
    api.queue = [Reply(status), Reply(status), Reply(200, PV)]
    gw, sleeps = gateway(api, tls.ca_pem)
    assert gw.get("PersistentVolume", "pv1") == PV
    assert sleeps == [0.1, 0.2]


def test_503_exhausted_is_transient(api: ApiServer, tls: Tls) -> None:
    api.default = lambda _seen: Reply(503, {"message": "etcd leader changed"})
    gw, _ = gateway(api, tls.ca_pem)
    with pytest.raises(TransientError, match="etcd leader changed"):
        gw.delete("PersistentVolumeClaim", "c", "ns")
    assert api.seen[0].method == "DELETE"
    assert api.seen[0].path == "/api/v1/namespaces/ns/persistentvolumeclaims/c"


def test_read_timeout_is_transient_and_bounded(api: ApiServer, tls: Tls) -> None:
    api.default = lambda _seen: Reply(200, PV, delay=0.6)
    gw, sleeps = gateway(api, tls.ca_pem, read=0.2)
    with pytest.raises(TransientError, match="Timeout"):
        gw.get("PersistentVolume", "pv1")
    assert len(sleeps) == 2


def test_connection_refused_is_transient(tls: Tls) -> None:
    gw = KubeGateway(
        "https://127.0.0.1:9", tls.ca_pem, Tokens(), retry=RetryPolicy(attempts=2), sleep=print
    )
    with pytest.raises(TransientError):
        gw.get("PersistentVolume", "pv1")


@pytest.mark.parametrize("ca", ["other", "garbage"])
def test_tls_is_always_verified(api: ApiServer, tls: Tls, ca: str) -> None:
    pem = tls.other_ca_pem if ca == "other" else b"\x8f\x00 not a certificate"
    sleeps: list[float] = []
    with pytest.raises(TlsError):
        gateway(api, pem)[0].get("PersistentVolume", "pv1")
    assert not api.seen and not sleeps


def test_plain_http_endpoint_is_refused(tls: Tls) -> None:
    with pytest.raises(ProtocolError, match="https://"):
        KubeGateway("http://127.0.0.1:1", tls.ca_pem, Tokens())


def test_list_follows_continue_and_sends_selector(api: ApiServer, tls: Tls) -> None:
    api.queue = [
        Reply(200, {"items": [{"metadata": {"name": "a"}}], "metadata": {"continue": "c1"}}),
        Reply(200, {"items": [{"metadata": {"name": "b"}}], "metadata": {}}),
    ]
    gw, _ = gateway(api, tls.ca_pem, page_size=1)
    items = list(gw.list("PersistentVolumeClaim", "app.kubernetes.io/managed-by=x"))
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert {i["kind"] for i in items} == {"PersistentVolumeClaim"}
    queries = [parse_qs(urlsplit(s.path).query) for s in api.seen]
    assert all(urlsplit(s.path).path == "/api/v1/persistentvolumeclaims" for s in api.seen)
    assert queries[0] == {"labelSelector": ["app.kubernetes.io/managed-by=x"], "limit": ["1"]}
    assert queries[1]["continue"] == ["c1"]


def test_patch_is_a_json_merge_patch(api: ApiServer, tls: Tls) -> None:
    api.queue = [Reply(200, PV)]
    gw, _ = gateway(api, tls.ca_pem)
    gw.patch("PersistentVolumeClaim", "c", "ns", {"metadata": {"labels": {"a": None}}})
    [seen] = api.seen
    assert seen.method == "PATCH"
    assert seen.headers["Content-Type"] == "application/merge-patch+json"
    assert seen.body == {"metadata": {"labels": {"a": None}}}


@pytest.mark.parametrize(
    ("involved", "namespace"),
    [
        ({"kind": "PersistentVolume", "metadata": {"name": "pv1", "uid": "u1"}}, "default"),
        (
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "c", "namespace": "ns", "uid": "u2", "resourceVersion": "7"},
            },
            "ns",
        ),
    ],
)
def test_record_event(api: ApiServer, tls: Tls, involved: dict[str, Any], namespace: str) -> None:
    gw, _ = gateway(api, tls.ca_pem)
    gw.record_event(involved, "Registered", "Registered from EBS volume vol-1 by ebs-pv-registrar")
    [seen] = api.seen
    assert (seen.method, seen.path) == ("POST", f"/api/v1/namespaces/{namespace}/events")
    event = seen.body
    assert event["kind"] == "Event" and event["metadata"]["namespace"] == namespace
    ref = event["involvedObject"]
    assert ref["kind"] == involved["kind"] and ref["name"] == involved["metadata"]["name"]
    assert ref["uid"] == involved["metadata"]["uid"] and ref["apiVersion"] == "v1"
    assert ref.get("namespace") == involved["metadata"].get("namespace")
    assert ref.get("resourceVersion") == involved["metadata"].get("resourceVersion")
    assert event["reason"] == "Registered" and event["type"] == "Normal"
    assert event["message"].startswith("Registered from EBS volume vol-1")
    assert event["source"] == {"component": "ebs-pv-registrar"}


class Directory:
    def __init__(self, infos: list[ClusterInfo]) -> None:
        self.infos = infos
        self.calls = 0

    def describe_cluster(self, name: str) -> ClusterInfo:
        self.calls += 1
        return self.infos[min(self.calls, len(self.infos)) - 1]


def test_connector_caches_and_rediscovers_after_tls_failure(api: ApiServer, tls: Tls) -> None:
    stale = ClusterInfo("c", api.url, tls.other_ca_pem, "us-east-1")
    fresh = ClusterInfo("c", api.url, tls.ca_pem, "us-east-1")
    directory = Directory([stale, fresh])
    api.default = lambda _seen: Reply(200, PV)
    connector = EksConnector("us-east-1", directory=directory)
    kube = connector.kube_for("c")
    assert kube.get("PersistentVolume", "pv1") == PV
    assert directory.calls == 2
    assert connector.kube_for("c").get("PersistentVolume", "pv1") == PV  # warm: no describe
    assert list(connector.kube_for("c").list("PersistentVolume", "a=b")) == []
    assert directory.calls == 2
    token = api.seen[-1].headers["Authorization"].removeprefix("Bearer ")
    assert token.startswith("k8s-aws-v1.")


def test_connector_gives_up_after_one_rediscovery(api: ApiServer, tls: Tls) -> None:
    stale = ClusterInfo("c", api.url, tls.other_ca_pem, "us-east-1")
    directory = Directory([stale])
    connector = EksConnector("us-east-1", directory=directory)
    with pytest.raises(TlsError):
        connector.kube_for("c").get("PersistentVolume", "pv1")
    assert directory.calls == 2


def test_unsupported_kind_is_a_programming_error(api: ApiServer, tls: Tls) -> None:
    gw, _ = gateway(api, tls.ca_pem)
    with pytest.raises(ValueError, match="unsupported kind"):
        gw.create({"kind": "Secret", "metadata": {"name": "s"}})
    assert not api.seen


def test_a_new_identity_is_retried_while_its_access_propagates(api: ApiServer, tls: Tls) -> None:
    """401 then 403 for the first seconds of a new access entry, then access: a bounded wait."""
    api.queue = [Reply(401, {}), Reply(401, {}), Reply(403, {}), Reply(200, PV)]
    gw, sleeps = gateway(api, tls.ca_pem, retry=RetryPolicy(base_delay=0.1, auth_grace=60))
    assert gw.get("PersistentVolume", "pv1") == PV
    assert len(api.seen) == 4 and len(sleeps) == 2


def test_propagation_retries_are_bounded(api: ApiServer, tls: Tls) -> None:
    api.default = lambda _seen: Reply(403, {"kind": "Status", "message": "forbidden"})
    policy = RetryPolicy(base_delay=0.01, auth_grace=60, auth_attempts=3)
    gw, sleeps = gateway(api, tls.ca_pem, retry=policy)
    with pytest.raises(ForbiddenError):
        gw.get("PersistentVolume", "pv1")
    assert len(sleeps) == 3 and len(api.seen) == 4


def test_after_one_success_a_403_is_final(api: ApiServer, tls: Tls) -> None:
    api.queue = [Reply(200, PV), Reply(403, {"kind": "Status", "message": "forbidden"})]
    gw, sleeps = gateway(api, tls.ca_pem, retry=RetryPolicy(base_delay=0.1, auth_grace=60))
    gw.get("PersistentVolume", "pv1")
    with pytest.raises(ForbiddenError):
        gw.get("PersistentVolume", "pv1")
    assert sleeps == []


def test_a_hanging_server_fails_within_the_call_budget(api: ApiServer, tls: Tls) -> None:
    """Each attempt waits out the read timeout; the budget stops the retries early."""
    clock = iter(float(t) for t in range(0, 1000, 10))
    api.default = lambda _seen: Reply(503, {})
    policy = RetryPolicy(attempts=10, base_delay=1, budget=25, auth_grace=0)
    gw, _ = gateway(api, tls.ca_pem, retry=policy, clock=lambda: next(clock))
    with pytest.raises(TransientError):
        gw.get("PersistentVolume", "pv1")
    assert len(api.seen) < 10
