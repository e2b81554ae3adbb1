"""Context keys: one table of defaults, documented in cdk.json and docs/deploy.md."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks.config import DEFAULTS, ConfigError, RegistrarConfig

REPO = Path(__file__).resolve().parents[2]


def config(**context: object) -> RegistrarConfig:
    return RegistrarConfig.from_context(cdk.App(context=context).node)


def test_cdk_json_context_is_the_defaults() -> None:
    cdk_json = json.loads((REPO / "cdk.json").read_text())
    assert cdk_json["context"] == DEFAULTS


def test_every_key_is_explained_in_cdk_json_and_docs() -> None:
    cdk_json = json.loads((REPO / "cdk.json").read_text())
    docs = (REPO / "docs" / "deploy.md").read_text()
    for key in DEFAULTS:
        assert cdk_json["//"].get(key), key
        assert f"`{key}`" in docs, key


def test_defaults() -> None:
    settings = config(clusterName="demo")
    assert settings.allowed_clusters == ("demo",)
    assert settings.reconcile_schedule == "rate(1 hour)"
    assert not (settings.create_trail or settings.install_csi_driver)
    assert not settings.cluster_admin_policy


def test_booleans_from_the_command_line() -> None:
    # -c createTrail=true arrives as the string "true".
    assert config(clusterName="demo", createTrail="true").create_trail
    assert not config(clusterName="demo", createTrail="false").create_trail


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"clusterName": "a", "allowedClusters": "b,c"}, "allowedClusters"),
        ({"clusterName": "a", "csiDriverIdentity": "node-role"}, "csiDriverIdentity"),
        ({"clusterName": "a", "csiDriverPolicy": "v3"}, "csiDriverPolicy"),
        ({"clusterName": "a", "installCsiDriver": True, "csiDriverIdentity": "irsa"}, "oidc"),
        ({"allowedClusters": "a", "installCsiDriver": True}, "clusterName"),
    ],
)
def test_invalid_context(context: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**context)
