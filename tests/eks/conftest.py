"""Fixtures for the EKS tests: a scriptable HTTPS API server, kmock over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp.test_utils
import pytest

from tests.tlsapi import ApiServer, Tls


@pytest.fixture
def api(tls: Tls) -> Iterator[ApiServer]:
    server = ApiServer(tls)
    yield server
    server.close()


# --- kmock over TLS -----------------------------------------------------------------------------


@pytest.fixture
def kmock_options(kmock_options: dict[str, Any], tls: Tls) -> dict[str, Any]:
    """kmock serves plain HTTP; the gateway only speaks verified TLS, so give kmock a cert."""
    context = tls.server_context()

    class TlsRawTestServer(aiohttp.test_utils.RawTestServer):
        async def start_server(self, loop: Any = None, **kwargs: Any) -> None:
            kwargs.setdefault("ssl", context)
            await super().start_server(loop=loop, **kwargs)

    return {**kmock_options, "server_cls": TlsRawTestServer}
