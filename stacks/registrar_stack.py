"""The registrar: one construct per concern, wired together in EbsPvRegistrar, the construct a
CDK app adds to its own stack (app.py does, and so can an app that defines its EKS cluster)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_eks as eks
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .config import ConfigError, RegistrarConfig
from .constructs import failure_handling
from .constructs.csi_driver import CsiDriver
from .constructs.dashboard import PERIOD as DASHBOARD_PERIOD
from .constructs.dashboard import RegistrarDashboard
from .constructs.eks_access import EksAccess
from .constructs.event_rules import EventRules
from .constructs.failure_handling import FailureHandling
from .constructs.function import METRICS_NAMESPACE, SERVICE_NAME, RegistrarFunction
from .constructs.manifests import ClusterManifests
from .constructs.network import RegistrarNetwork
from .constructs.pod_identity_agent import PodIdentityAgent
from .constructs.trail import RegistrarTrail
from .constructs.work_queue import WorkQueue
from .options import RegistrarOptions


class EbsPvRegistrar(Construct):
    """Registers tagged EBS volumes as PersistentVolumes and claims on an EKS cluster.

        from ebs_pv_registrar import EbsPvRegistrar, RegistrarOptions

        EbsPvRegistrar(stack, "Registrar", cluster=cluster,
                       options=RegistrarOptions(allowed_namespaces=["apps"]))

    `cluster` is an aws_eks.Cluster or an imported ICluster: it gets the access entry, and with
    `apply_manifests` its own kubectl provider applies k8s/. `options` are the CDK app's context
    keys (stacks/options.py), checked by the same rules; a refusal names the option. The CDK app
    passes `config` (its context keys, already checked) and no cluster object instead."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster | None = None,
        options: RegistrarOptions | None = None,
        config: RegistrarConfig | None = None,
        code: lambda_.Code | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if config is None:
            if cluster is None:
                raise TypeError("EbsPvRegistrar needs cluster= (aws_eks.Cluster or ICluster)")
            config = (options or RegistrarOptions()).config(cluster.cluster_name)
        elif options is not None:
            raise TypeError("EbsPvRegistrar takes options= or config=, not both")
        if config.apply_manifests and cluster is not None and not _runs_kubectl(cluster):
            raise ConfigError(
                "apply_manifests: the cluster object has no kubectl role; import it with "
                "kubectl_role_arn= (a role that may administer it) and kubectl_layer="
            )
        self.config = config
        self.cluster = cluster

        self.failures = FailureHandling(self, "FailureHandling")
        self.network = RegistrarNetwork(self, "Network", config=config.vpc) if config.vpc else None
        self.registrar = RegistrarFunction(
            self,
            "Registrar",
            config=config,
            failure_queue=self.failures.dead_letter_queue,
            code=code,
            network=self.network,
        )
        self.failures.watch(
            self.registrar.function, service=SERVICE_NAME, namespace=METRICS_NAMESPACE
        )
        # Capped at the reserved concurrency (more would only be throttled); 2 is Lambda's least.
        self.work_queue = WorkQueue(
            self,
            "WorkQueue",
            function=self.registrar.function,
            role=self.registrar.role,
            max_concurrency=max(2, min(config.queue_max_concurrency, config.reserved_concurrency)),
        )
        self.event_rules = EventRules(
            self,
            "EventRules",
            function=self.registrar.function,
            dead_letter_queue=self.failures.dead_letter_queue,
            reconcile_schedule=config.reconcile_schedule,
            retry_attempts=failure_handling.TARGET_RETRY_ATTEMPTS,
            max_event_age=failure_handling.TARGET_MAX_EVENT_AGE,
        )
        self.trail = RegistrarTrail(self, "Trail") if config.create_trail else None
        self.eks_access: EksAccess | None = None
        if config.allowed_clusters and config.create_access_entries:
            self.eks_access = EksAccess(
                self,
                "EksAccess",
                role=self.registrar.role,
                clusters=config.allowed_clusters,
                cluster_admin=config.cluster_admin_policy,
            )
        elif not config.allowed_clusters:
            cdk.Annotations.of(self).add_warning_v2(
                "ebs-pv-registrar:noCluster",
                "No clusterName in context: the registrar would reach no cluster. "
                "Deploy with: cdk deploy -c clusterName=NAME",
            )
        self.pod_identity_agent = (
            PodIdentityAgent(
                self,
                "PodIdentityAgent",
                cluster_name=config.cluster_name,
                resolve_conflicts=config.csi_driver_resolve_conflicts,
                preserve_on_delete=config.csi_driver_preserve_on_delete,
            )
            if config.install_pod_identity_agent
            else None
        )
        self.csi_driver = self._csi_driver(config) if config.install_csi_driver else None
        self.manifests = (
            ClusterManifests(
                self,
                "Manifests",
                cluster_name=config.cluster_name,
                cluster=cluster,
                kubectl_role_arn=config.kubectl_role_arn,
                kubectl_layer_minor=config.kubectl_layer_minor or 0,
                csi_driver=config.csi_driver,
                allowed_namespaces=config.settings.allowed_namespaces,
                denied_namespaces=config.settings.denied_namespaces,
                network=self.network,
            )
            if config.apply_manifests
            else None
        )
        self.dashboard = (
            RegistrarDashboard(
                self,
                "Dashboard",
                function=self.registrar.function,
                dead_letter_queue=self.failures.dead_letter_queue,
                alarms=[*self.failures.alarms, *self.work_queue.alarms],
                namespace=METRICS_NAMESPACE,
                service=SERVICE_NAME,
            )
            if config.create_dashboard
            else None
        )
        if self.dashboard is not None:
            self.dashboard.dashboard.add_widgets(*self.work_queue.widgets(DASHBOARD_PERIOD))
        cdk.CfnOutput(self, "FunctionName", value=self.registrar.function.function_name)
        cdk.CfnOutput(self, "FunctionRoleArn", value=self.registrar.role.role_arn)
        cdk.CfnOutput(self, "DeadLetterQueueUrl", value=self.failures.dead_letter_queue.queue_url)
        cdk.CfnOutput(self, "WorkQueueUrl", value=self.work_queue.queue.queue_url)
        cdk.CfnOutput(
            self, "WorkDeadLetterQueueUrl", value=self.work_queue.dead_letter_queue.queue_url
        )
        if self.dashboard is not None:
            cdk.CfnOutput(self, "DashboardUrl", value=self.dashboard.url())

    def _csi_driver(self, config: RegistrarConfig) -> CsiDriver:
        driver = CsiDriver(
            self,
            "CsiDriver",
            cluster_name=config.cluster_name,
            identity=config.csi_driver_identity,
            policy=config.csi_driver_policy,
            addon_version=config.csi_driver_addon_version,
            oidc_provider_arn=config.oidc_provider_arn,
            resolve_conflicts=config.csi_driver_resolve_conflicts,
            preserve_on_delete=config.csi_driver_preserve_on_delete,
            kms_key_arns=config.csi_driver_kms_key_arns,
        )
        if self.pod_identity_agent is not None:
            driver.node.add_dependency(self.pod_identity_agent)
        elif config.csi_driver_identity == "pod-identity":
            cdk.Annotations.of(self).add_warning_v2(
                "ebs-pv-registrar:podIdentityAgent",
                "csiDriverIdentity=pod-identity needs the eks-pod-identity-agent add-on on "
                f"{config.cluster_name}, which this stack does not manage: check with "
                f"aws eks describe-addon --cluster-name {config.cluster_name} "
                "--addon-name eks-pod-identity-agent, "
                "or deploy with -c installPodIdentityAgent=true",
            )
        return driver


def _runs_kubectl(cluster: eks.ICluster) -> bool:
    """A cluster of this app has its own kubectl provider; an imported one needs a role for it."""
    if isinstance(cluster, eks.Cluster):
        return True
    provider = getattr(cluster, "kubectl_provider", None)
    return provider is not None or cluster.kubectl_role is not None
