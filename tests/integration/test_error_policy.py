"""The error policy through the real gateways: a scripted HTTPS API server answers what
kube-apiserver answers (a create in a missing namespace is a 404 Status), moto holds the volume.
What no retry can fix settles the volume and returns; what a retry can fix raises."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devcluster.standins.kmockthread import OneCluster
from devcluster.standins.tlsapi import ApiServer, Reply, Seen, Tls
from registrar.adapters.aws import Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import RetryPolicy
from registrar.core.errors import TransientError
from registrar.core.settings import Settings
from registrar.engine.service import Registrar
from registrar.handler import respond
from tests.support import eventfactory as ef

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05)
TAGS = {"k8s-pv": "orders", "k8s-pvc": "shop/orders"}


def status(code: int, reason: str, message: str) -> Reply:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code}  # fmt: skip
    return Reply(code, body)


def api_server(pv_create: Reply | None = None, pvc_create: Reply | None = None) -> Callable[
    [Seen], Reply
]:
    """kube-apiserver's answers for one registration; `None` = the created object echoed."""

    def answer(seen: Seen) -> Reply:
        if seen.method == "GET" and seen.path.startswith("/api/v1/persistentvolumes"):
            return Reply(200, {"kind": "PersistentVolumeList", "items": [], "metadata": {}})
        if seen.method == "POST" and seen.path == "/api/v1/persistentvolumes":
            return pv_create or Reply(201, seen.body)
        if seen.method == "POST" and seen.path.endswith("/persistentvolumeclaims"):
            return pvc_create or Reply(201, seen.body)
        return Reply(201, seen.body or {})

    return answer


@pytest.fixture
def gateway(api: ApiServer, tls: Tls) -> Iterator[KubeGateway]:
    kube = KubeGateway(api.url, tls.ca_pem, lambda _force: "token", retry=FAST)
    yield kube
    kube.close()


def new_volume(ec2: Any) -> str:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in TAGS.items()]}]
    created = ec2.create_volume(AvailabilityZone="us-east-1a", Size=4, TagSpecifications=spec)
    return str(created["VolumeId"])


def register(ec2: Any, gateway: KubeGateway, volume_id: str = "") -> tuple[str, dict[str, Any]]:
    volume_id = volume_id or new_volume(ec2)
    registrar = Registrar(SETTINGS, Ec2Volumes("us-east-1"), OneCluster(gateway))
    answer = respond(ef.create_volume(volume_id, TAGS), registrar)
    return volume_id, answer


def tags_of(volume_id: str) -> dict[str, str]:
    return dict(Ec2Volumes("us-east-1").describe_volume(volume_id).tags)


@pytest.mark.parametrize(
    ("pv", "pvc", "expected"),
    [
        (None, status(404, "NotFound", 'namespaces "shop" not found'),
         'error: k8s-pvc: namespace "shop" does not exist'),
        (None, status(403, "Forbidden", "forbidden"),
         'error: k8s-pvc: the registrar may not write it in namespace "shop" (403: k8s/rbac.yaml, '
         "k8s/admission-policy.yaml): RBAC or an admission policy refused verb 'create' on "),
        (status(422, "Invalid", 'PersistentVolume "orders" is invalid: spec.capacity: Required'),
         None,
         'error: k8s-pv: rejected by the API server: PersistentVolume "orders" is invalid: '
         "spec.capacity: Required"),
    ],
)  # fmt: skip
def test_what_no_retry_can_fix_settles_the_volume_and_returns(
    api: ApiServer, gateway: KubeGateway, ec2: Any, pv: Reply | None, pvc: Reply | None,
    expected: str,
) -> None:
    api.default = api_server(pv, pvc)
    volume_id, answer = register(ec2, gateway)
    assert [o["result"] for o in answer["outcomes"]] == ["refused"]
    written = tags_of(volume_id)
    assert written["k8s-pv-status"].startswith(expected)
    assert "ebs.csi.aws.com/cluster" not in written
    posted = [s.path for s in api.seen if s.method == "POST" and "events" not in s.path]
    if pv is not None:
        assert posted == ["/api/v1/persistentvolumes"]  # a refused PV: no claim is tried


def test_a_server_error_raises_for_a_retry_and_writes_no_status(
    api: ApiServer, gateway: KubeGateway, ec2: Any
) -> None:
    api.default = api_server(pvc_create=status(503, "ServiceUnavailable", "etcd is down"))
    volume_id = new_volume(ec2)
    with pytest.raises(TransientError):
        register(ec2, gateway, volume_id)
    assert "k8s-pv-status" not in tags_of(volume_id)
