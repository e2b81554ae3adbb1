"""Faults injected on purpose: nothing is lost, retryable failures raise, the rest settle."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from devcluster.standins.kmockthread import KmockThread, OneCluster
from devcluster.standins.tlsapi import Tls
from registrar.adapters.aws import Ec2Volumes
from registrar.adapters.kube import KubeGateway
from registrar.adapters.kube_transport import RetryPolicy, Timeouts
from registrar.core.errors import TransientError
from registrar.core.events import parse_event
from registrar.core.settings import Settings
from registrar.engine.service import Registrar
from registrar.handler import respond
from tests.support import eventfactory as ef
from tests.support.counting import CountingProxy, kube_requests

pytestmark = pytest.mark.faults

SETTINGS = Settings(default_cluster="prod", allowed_clusters=("prod",))
FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05)
OUTCOMES = {"registered", "unchanged", "ignored", "invalid", "conflict", "released", "reconciled"}


def new_volume(ec2: Any, **tags: str) -> str:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    created = ec2.create_volume(AvailabilityZone="us-east-1a", Size=2, TagSpecifications=spec)
    return str(created["VolumeId"])


@pytest.fixture
def clean_region(moto_endpoint: str, ec2: Any) -> None:
    for volume in ec2.describe_volumes()["Volumes"]:
        ec2.delete_volume(VolumeId=volume["VolumeId"])


@pytest.fixture
def hanging_server() -> Iterator[str]:
    """Accepts connections and never answers: an API server that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("server", ["down", "hanging"])
def test_unreachable_api_server_fails_as_transient(
    moto_endpoint: str, ec2: Any, tls: Tls, request: pytest.FixtureRequest, server: str
) -> None:
    endpoint = closed_port() if server == "down" else request.getfixturevalue("hanging_server")
    gateway = KubeGateway(endpoint, tls.ca_pem, lambda _force: "t", Timeouts(0.5, 0.5), retry=FAST)
    registrar = Registrar(SETTINGS, Ec2Volumes("us-east-1"), OneCluster(gateway))
    volume_id = new_volume(ec2, **{"k8s-pv": f"unreachable-{server}"})
    with pytest.raises(TransientError):  # EventBridge retries, then the DLQ
        respond(ef.create_volume(volume_id, {"k8s-pv": f"unreachable-{server}"}), registrar)


def test_two_invocations_for_one_volume_at_once(
    moto_endpoint: str, ec2: Any, tls: Tls, kmock_server: KmockThread
) -> None:
    volume_id = new_volume(ec2, **{"k8s-pv": "raced"})
    event = ef.create_volume(volume_id, {"k8s-pv": "raced"})
    barrier = threading.Barrier(2)

    def invoke() -> dict[str, Any]:
        gateway = KubeGateway(kmock_server.url, tls.ca_pem, lambda _force: "t")
        registrar = Registrar(SETTINGS, Ec2Volumes("us-east-1"), OneCluster(gateway))
        barrier.wait()
        return dict(respond(event, registrar)["outcomes"][0])

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: invoke(), range(2)))
    # Each object is created by exactly one of them; the other finds it equal.
    lines = Counter(line for outcome in outcomes for line in outcome["objects"])
    assert lines == Counter({"created pv/raced": 1, "unchanged pv/raced": 1,
                             "created pvc/default/raced": 1, "unchanged pvc/default/raced": 1})
    assert {o["result"] for o in outcomes} <= {"registered", "unchanged"}
    assert "registered" in {o["result"] for o in outcomes}
    # One 201; the other meets a 409, unless its LIST of PVs already showed the PV.
    assert kube_requests(kmock_server)["POST /api/v1/persistentvolumes"] in (1, 2)


def test_ec2_throttling_is_absorbed_by_adaptive_retries(
    aws_counter: CountingProxy, monkeypatch: pytest.MonkeyPatch, ec2: Any, kube: KubeGateway
) -> None:
    volume_id = new_volume(ec2, **{"k8s-pv": "throttled"})
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_counter.url)
    registrar = Registrar(SETTINGS, Ec2Volumes("us-east-1"), OneCluster(kube))
    aws_counter.actions.clear()
    aws_counter.throttle.update({"DescribeVolumes": 2, "CreateTags": 1})
    outcomes = registrar.handle(parse_event(ef.ebs_notification(volume_id)))
    assert [o.result for o in outcomes] == ["registered"]
    assert aws_counter.actions == Counter({"DescribeVolumes": 3, "CreateTags": 2})


def test_dropped_events_are_recovered_by_the_reconcile(
    clean_region: None, ec2: Any, kube: KubeGateway
) -> None:
    """Every delivered event ends in one known outcome; the sweep recovers the dropped ones."""
    volumes = Ec2Volumes("us-east-1")
    registrar = Registrar(SETTINGS, volumes, OneCluster(kube))
    created = {new_volume(ec2, **{"k8s-pv": f"fleet-{i}"}): f"fleet-{i}" for i in range(12)}
    delivered = list(created)[::2]  # every other event is lost on the way
    for volume_id in delivered:
        event = ef.create_volume(volume_id, {"k8s-pv": created[volume_id]}, size=2)
        assert {o.result for o in registrar.handle(parse_event(event))} <= OUTCOMES
    rows = Registrar(SETTINGS, volumes, OneCluster(kube)).sweep("prod")
    repaired = {row.volume_id for row in rows if row.action == "registered"}
    assert repaired == set(created) - set(delivered)
    for volume_id, name in created.items():
        assert kube.get("PersistentVolume", name)["spec"]["csi"]["volumeHandle"] == volume_id
        assert volumes.describe_volume(volume_id).tags["k8s-pv-status"].startswith("registered")
