"""kmock's Kubernetes emulator served over TLS from a thread, for synchronous tests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import aiohttp.test_utils
import kmock

from devcluster.standins.tlsapi import Tls
from registrar.engine.ports import KubePort


def tls_server_class(tls: Tls) -> type[aiohttp.test_utils.RawTestServer]:
    """kmock serves plain HTTP; the gateway only speaks verified TLS, so give kmock a cert."""
    context = tls.server_context()

    class TlsRawTestServer(aiohttp.test_utils.RawTestServer):
        async def start_server(self, loop: Any = None, **kwargs: Any) -> None:
            kwargs.setdefault("ssl", context)
            await super().start_server(loop=loop, **kwargs)

    return TlsRawTestServer


class KmockThread:
    """A fresh, stateful Kubernetes API on a loopback port until `close()`."""

    def __init__(self, tls: Tls) -> None:
        self._tls = tls
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self.url = ""
        self.emulator: kmock.KubernetesEmulator | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),))
        self._thread.daemon = True
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("kmock did not start")

    emulator_class: type[kmock.KubernetesEmulator] = kmock.KubernetesEmulator

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with self.emulator_class() as emulator, kmock.Server(
            emulator, server_cls=tls_server_class(self._tls)
        ):
            for plural in ("persistentvolumes", "persistentvolumeclaims", "events"):
                # An empty resource: a LIST answers before any create.
                emulator.resources[f"v1/{plural}"] = {}  # type: ignore[assignment]
            self.emulator = emulator
            self.url = f"https://127.0.0.1:{emulator.servers[0].port}"
            self._ready.set()
            await self._stop.wait()

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self._loop.close()


class OneCluster:
    """ClusterConnector for the single test cluster `prod`."""

    def __init__(self, kube: KubePort) -> None:
        self.kube = kube

    def kube_for(self, cluster: str) -> KubePort:
        assert cluster == "prod"
        return self.kube
