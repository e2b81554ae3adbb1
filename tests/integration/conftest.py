"""Fixtures for the EKS tests: a scriptable HTTPS API server, kmock over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devcluster.standins.kmockthread import tls_server_class
from devcluster.standins.tlsapi import ApiServer, Tls


@pytest.fixture
def api(tls: Tls) -> Iterator[ApiServer]:
    server = ApiServer(tls)
    yield server
    server.close()


# --- kmock over TLS -----------------------------------------------------------------------------


@pytest.fixture
def kmock_options(kmock_options: dict[str, Any], tls: Tls) -> dict[str, Any]:
    return {**kmock_options, "server_cls": tls_server_class(tls)}
