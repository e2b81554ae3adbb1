"""The function as one deployment runs it, against moto and the local control plane: the Lambda
entry point over a registrar from `registrar.wiring.wire` (handed the role's credentials and the
local directory by `devcluster.standins.identity.wiring_for`), and a record of every Kubernetes
call it makes.

The calls are counted at the function's own port, not from the token webhook's reviews:
kube-apiserver caches a successful token review for 10 s whatever the webhook's cache TTL
(kubernetes, pkg/kubeapiserver/options/authentication.go, TokenSuccessCacheTTL), so a warm
function's requests reach the webhook only now and then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from botocore.credentials import Credentials

from devcluster.standins.controlplane import ControlPlane
from devcluster.standins.identity import wiring_for
from registrar import handler
from registrar.core.settings import Settings
from registrar.core.sweep import Row
from registrar.engine.ports import ClusterConnector, KubePort
from registrar.engine.service import Registrar
from registrar.wiring import Wiring
from tests.e2e.conftest import REGION, LambdaContext


class CountingConnector:
    """ClusterConnector: the real one, recording every Kubernetes call made through it."""

    def __init__(self, inner: ClusterConnector) -> None:
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
    """The function with one set of settings and one identity, its Kubernetes calls recorded.
    Calling it invokes the Lambda entry point (`registrar.handler.handler_for`)."""

    plane: ControlPlane
    wiring: Wiring
    clusters: CountingConnector
    registrar: Registrar
    handle: handler.LambdaHandler

    @classmethod
    def build(
        cls,
        plane: ControlPlane,
        credentials: Credentials,
        settings: Settings | None = None,
        *,
        also: Sequence[ControlPlane] = (),
    ) -> DeployedFunction:
        """`settings`: by default the plane's cluster is the only one (with `also`: those
        planes' clusters are allowed too, the default stays `plane`'s)."""
        wired = wiring_for(plane, REGION, credentials, settings, also=also)
        clusters = CountingConnector(wired.clusters)
        wired = replace(wired, clusters=clusters)
        registrar = wired.registrar()
        return cls(plane, wired, clusters, registrar, handler.handler_for(lambda: registrar))

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        return dict(self.handle(event, LambdaContext()))

    @property
    def kube_calls(self) -> list[str]:
        return self.clusters.calls

    def sweep_rows(self) -> list[Row]:
        """What a reconcile sweep of the plane's cluster would do (dry run)."""
        return self.wiring.registrar().sweep(self.plane.cluster, dry_run=True)
