"""`registrar reconcile` and `registrar status`: tables on stdout, through the real gateways."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from devcluster.standins.harshness import settle
from devcluster.standins.kmockthread import KmockThread
from devcluster.standins.tlsapi import Tls
from registrar.cli import main as cli
from registrar.core.models import ClusterInfo
from registrar.wiring import wire


class KmockDirectory:
    """ClusterDirectory: every cluster is the kmock server."""

    def __init__(self, server: KmockThread, tls: Tls) -> None:
        self._server, self._tls = server, tls

    def describe_cluster(self, name: str) -> ClusterInfo:
        return ClusterInfo(name, self._server.url, self._tls.ca_pem, "us-east-1")


@pytest.fixture
def wired(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, ec2: Any, kmock_server: KmockThread,
    tls: Tls,
) -> cli.Wire:
    """The command's own wiring (moto for AWS), with kmock as the cluster `prod`."""
    for volume in ec2.describe_volumes()["Volumes"]:
        ec2.delete_volume(VolumeId=volume["VolumeId"])
    monkeypatch.setenv("REGISTRAR_DEFAULT_CLUSTER", "prod")
    return partial(wire, directory=KmockDirectory(kmock_server, tls))


def tagged(ec2: Any, name: str) -> str:
    spec = [{"ResourceType": "volume", "Tags": [{"Key": "k8s-pv", "Value": name}]}]
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=3, TagSpecifications=spec)
    return str(volume["VolumeId"])


def test_dry_run_then_reconcile_then_status(
    wired: cli.Wire, ec2: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    volume_id = tagged(ec2, "from-cli")
    settle()  # until EC2 lists it
    assert cli.main(["reconcile", "--dry-run"], wire=wired) == 0
    planned = capsys.readouterr().out.splitlines()
    assert planned[0].split() == ["VOLUME", "CLUSTER", "PV", "PVC", "ACTION", "DETAIL"]
    row = [volume_id, "prod", "from-cli", "default/from-cli", "registered"]
    assert planned[1].split()[:5] == row

    assert cli.main(["reconcile"], wire=wired) == 0
    assert "created pv/from-cli" in capsys.readouterr().out
    assert cli.main(["reconcile", "--cluster", "prod"], wire=wired) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[4] == "unchanged"

    assert cli.main(["status"], wire=wired) == 0
    status = capsys.readouterr().out.splitlines()
    assert status[0].split()[:5] == ["VOLUME", "CLUSTER", "PV", "PVC", "PHASE"]
    assert status[1].split()[:4] == [volume_id, "prod", "from-cli", "default/from-cli"]
    assert status[1].endswith("registered prod/from-cli -> default/from-cli")


def test_reconcile_without_any_cluster_is_a_clean_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before any gateway is built."""
    monkeypatch.delenv("REGISTRAR_DEFAULT_CLUSTER", raising=False)
    assert cli.main(["reconcile"]) == 2
    assert capsys.readouterr().err == "error: --cluster: required when no cluster is configured\n"
