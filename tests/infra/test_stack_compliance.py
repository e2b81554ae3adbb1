"""cdk-nag AwsSolutions (through cdk.Validations) and cfn-lint on the synthesized templates."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks import nag
from tests.infra.conftest import FULL, KMS_KEY, KUBECTL_ROLE, MINIMAL, VPC, Synth, synthesize

OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
VARIANTS: dict[str, dict[str, Any]] = {
    "minimal": MINIMAL,
    "full": FULL,
    "admin-irsa-classic": {
        "clusterName": "demo",
        "clusterAdminPolicy": True,
        "createTrail": True,
        "installCsiDriver": True,
        "csiDriverIdentity": "irsa",
        "csiDriverPolicy": "classic",
        "oidcProviderArn": OIDC,
    },
    "no-cluster": {},
    # Own security groups, no endpoints (NAT), manifests through a private-endpoint provider,
    # the add-ons taking over and removed with the stack.
    "vpc-own-groups-manifests": {
        "clusterName": "demo",
        **VPC,
        "securityGroupIds": "sg-0aaaaaaaaaaaaaaa1",
        "applyManifests": True,
        "kubectlRoleArn": KUBECTL_ROLE,
        "kubernetesVersion": "1.33",
        "installCsiDriver": True,
        "csiDriverKmsKeyArns": KMS_KEY,
        "csiDriverResolveConflicts": "OVERWRITE",
        "csiDriverPreserveOnDelete": False,
    },
    # The public-endpoint kubectl provider.
    "manifests-public": {
        "clusterName": "demo",
        "applyManifests": True,
        "kubectlRoleArn": KUBECTL_ROLE,
        "kubernetesVersion": "1.38",
    },
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cdk_nag_clean(variant: str, synth: Callable[..., Synth]) -> None:
    """Synthesis raises on an unacknowledged finding; the report must say success."""
    result = synth(**VARIANTS[variant])
    report = json.loads((result.outdir / "validation-report.json").read_text())
    for plugin in report["pluginReports"]:
        assert plugin["conclusion"] == "success", plugin.get("violations")


def test_every_acknowledgement_is_needed_and_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: Synth
) -> None:
    """Without acknowledgements the full stack fails with exactly the acknowledged rules."""
    acknowledged = {rule for _, rule, _ in nag.acknowledgements(full.registrar)}
    for _, rule, reason in nag.acknowledgements(full.registrar):
        assert len(reason) > 60, rule
    monkeypatch.setattr(nag, "acknowledgements", lambda registrar: [])
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        synthesize(tmp_path, FULL)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    violations = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert violations == acknowledged


def cfn_lint(template: Path) -> list[dict[str, object]]:
    cfn_lint_bin = Path(sys.executable).parent / "cfn-lint"
    run = subprocess.run(
        [str(cfn_lint_bin), "--format", "json", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    return list(json.loads(run.stdout or "[]"))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cfn_lint_no_error(variant: str, synth: Callable[..., Synth]) -> None:
    findings = cfn_lint(synth(**VARIANTS[variant]).template_file)
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == []
    # W3005 (DependsOn already implied by a GetAtt) is normal CDK output.
    others = [f for f in findings if f["Rule"]["Id"] != "W3005"]  # type: ignore[index]
    assert others == []
