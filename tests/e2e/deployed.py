"""The function as one deployment runs it, against moto and the local control plane: its
handler, its registrar wired like `registrar.wiring.build_registrar` (and
`devcluster.standins.identity.registrar_for`), and a record of every Kubernetes call it makes.

The calls are counted at the function's own port, not from the token webhook's reviews:
kube-apiserver caches a successful token review for 10 s whatever the webhook's cache TTL
(kubernetes, pkg/kubeapiserver/options/authentication.go, TokenSuccessCacheTTL), so a warm
function's requests reach the webhook only now and then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from botocore.credentials import Credentials

from devcluster.standins.controlplane import ControlPlane
from devcluster.standins.identity import ControlPlaneDirectory, role_session
from registrar import handler
from registrar.adapters.aws import Ec2Volumes
from registrar.adapters.eks import EksConnector
from registrar.core.settings import Settings
from registrar.core.sweep import Row
from registrar.engine.ports import KubePort
from registrar.engine.reconcile import Reconciler
from registrar.engine.service import Registrar
from registrar.wiring import build_identities
from tests.e2e.conftest import REGION, LambdaContext


class CountingConnector:
    """ClusterConnector: the real one, recording every Kubernetes call made through it."""

    def __init__(self, inner: EksConnector) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def kube_for(self, cluster: str) -> KubePort:
        return cast(KubePort, _CountingKube(self._inner.kube_for(cluster), self.calls))


class _CountingKube:
    def __init__(self, kube: KubePort, calls: list[str]) -> None:
        self._kube = kube
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._kube, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(name)
            return method(*args, **kwargs)

        return counted


@dataclass
class DeployedFunction:
    """The function with one set of settings and one identity: wired like
    `registrar.wiring.build_registrar` (and `devcluster.standins.identity.registrar_for`), with its
    Kubernetes calls recorded. Calling it invokes `registrar.handler.lambda_handler`."""

    plane: ControlPlane
    settings: Settings
    volumes: Ec2Volumes
    clusters: CountingConnector
    registrar: Registrar

    @classmethod
    def build(
        cls, plane: ControlPlane, credentials: Credentials, settings: Settings
    ) -> DeployedFunction:
        session = role_session(credentials, REGION)
        directory = ControlPlaneDirectory(plane, session)
        clusters = CountingConnector(
            EksConnector(REGION, directory=directory, credentials=lambda: credentials)
        )
        volumes = Ec2Volumes(REGION, session)
        identities = build_identities(settings, REGION)  # CloudTrail, when the settings ask
        registrar = Registrar(settings, volumes, clusters, identities)
        return cls(plane, settings, volumes, clusters, registrar)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        return dict(handler.lambda_handler(event, LambdaContext()))

    @property
    def kube_calls(self) -> list[str]:
        return self.clusters.calls

    def sweep_rows(self) -> list[Row]:
        """What a reconcile sweep of the plane's cluster would do (dry run)."""
        reconciler = Reconciler(self.settings, self.volumes, self.clusters)
        return reconciler.sweep(self.plane.cluster, dry_run=True)
