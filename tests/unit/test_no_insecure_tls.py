"""TLS verification cannot be turned off: no switch in production code, none in the gateway."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import registrar
from registrar.adapters import kube, kube_transport

PRODUCTION = Path(registrar.__file__).resolve().parent
INSECURE = re.compile(
    r"verify_ssl\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|verify\s*=\s*False"
    r"|assert_hostname\s*=\s*False|insecure|disable_warnings",
    re.IGNORECASE,
)


def test_no_module_of_the_lambda_disables_verification() -> None:
    offenders = [
        f"{path.relative_to(PRODUCTION)}:{number}: {line.strip()}"
        for path in sorted(PRODUCTION.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if INSECURE.search(line)
    ]
    assert offenders == []


def test_the_gateway_offers_no_way_to_skip_verification() -> None:
    for cls in (kube.KubeGateway, kube_transport.KubeTransport):
        parameters = inspect.signature(cls).parameters
        assert not {name for name in parameters if "verif" in name or "insecure" in name}
