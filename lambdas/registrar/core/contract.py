"""What the CDK stack and the function agree on, defined once: every setting (its context key,
its `REGISTRAR_*` variable, its default and its rule), the tag keys, the metrics and the IAM
action of each AWS operation the adapters call.

Standard library only: `stacks/` imports it to synthesize and the function to start, so the
stack refuses at synthesis exactly what the function would refuse at its first invocation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from registrar.core import tags
from registrar.core.errors import SettingsError

T = TypeVar("T")
# A context value as cdk.json (JSON) or `cdk deploy -c key=value` (always a string) gives it.
ContextValue = str | bool | int | float


def as_text(value: ContextValue) -> str:
    """A context value as the function reads it from its environment (JSON true -> "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule(Generic[T]):
    """How a setting's text becomes its value; `parse` raises ValueError when the text breaks
    the rule, and the setting then raises SettingsError with `message`: one message a rule."""

    parse: Callable[[str], T]
    message: str
    allowed: tuple[str, ...] = ()  # the values it takes, when it is a choice


@dataclass(frozen=True)
class Setting(Generic[T]):
    field: str  # the attribute of registrar.core.settings.Settings
    key: str  # the CDK context key
    variable: str  # the function's environment variable
    default: ContextValue  # cdk.json's value: what an unset or blank variable means
    rule: Rule[T]
    blank_is_value: bool = False  # a blank variable means itself (an empty list), not the default

    def read(self, environ: Mapping[str, str]) -> T:
        text = environ.get(self.variable)
        if text is None or not (text.strip() or self.blank_is_value):
            text = as_text(self.default)
        try:
            return self.rule.parse(text)
        except ValueError:
            raise SettingsError(self.variable, self.rule.message) from None

    @property
    def fallback(self) -> T:
        """The value with the variable unset."""
        return self.read({})


def csv(text: str) -> tuple[str, ...]:
    """`a, b,,c` -> ('a', 'b', 'c')."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _positive(number: float) -> float:
    if not 0 < number < math.inf:  # also refuses nan
        raise ValueError(number)
    return number


def _within(number: int, low: int, high: int) -> int:
    if not low <= number <= high:
        raise ValueError(number)
    return number


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise ValueError(text)
    return value == "true"


def one_of(*allowed: str) -> Rule[str]:
    def parse(text: str) -> str:
        if text.strip() not in allowed:
            raise ValueError(text)
        return text.strip()

    return Rule(parse, f"must be one of {', '.join(allowed)}", allowed)


def each_of(*allowed: str) -> Rule[tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        values = csv(text)
        if not values or any(value not in allowed for value in values):
            raise ValueError(text)
        return values

    return Rule(parse, f"each must be one of {', '.join(allowed)}", allowed)


# Any text is a value of these three (their message is never raised).
TEXT: Rule[str] = Rule(str.strip, "is any text")
OPTIONAL_NAME: Rule[str | None] = Rule(lambda text: text.strip() or None, "is any name")
NAMES: Rule[tuple[str, ...]] = Rule(csv, "is a comma-separated list")
FLAG: Rule[bool] = Rule(_flag, "must be true or false", ("true", "false"))
POSITIVE_NUMBER: Rule[float] = Rule(
    lambda text: _positive(float(text)), "must be a positive number"
)
POSITIVE_INTEGER: Rule[int] = Rule(
    lambda text: int(_positive(int(text))), "must be a positive integer"
)
# Lambda's SQS event source mapping: MaximumConcurrency is 2 to 1000 (AWS::Lambda::
# EventSourceMapping ScalingConfig).
QUEUE_CONCURRENCY: Rule[int] = Rule(
    lambda text: _within(int(text), 2, 1000), "must be an integer from 2 to 1000"
)
ANY_NAMESPACE = "*"


def _namespaces(text: str) -> tuple[str, ...]:
    names = csv(text)
    if not names:
        raise ValueError(text)
    return names


NAMESPACES: Rule[tuple[str, ...]] = Rule(
    _namespaces, f"must list namespaces, or {ANY_NAMESPACE} for any"
)


def _arns(service: str, resource: str) -> Callable[[str], tuple[str, ...]]:
    pattern = re.compile(rf"arn:aws[a-z-]*:{service}:[a-z0-9-]+:\d{{12}}:{resource}/[A-Za-z0-9_-]+")

    def parse(text: str) -> tuple[str, ...]:
        values = csv(text)
        if any(pattern.fullmatch(value) is None for value in values):
            raise ValueError(text)
        return values

    return parse


def _minor_version(text: str) -> str:
    if text.strip() and re.fullmatch(r"1\.\d{1,3}", text.strip()) is None:
        raise ValueError(text)
    return text.strip()


# The stack's own keys that are neither true/false nor counts (stacks/config.py STACK_RULES).
KMS_KEY_ARNS: Rule[tuple[str, ...]] = Rule(
    _arns("kms", "key"),
    "must list KMS key ARNs (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID), comma-separated",
)
KUBERNETES_VERSION: Rule[str] = Rule(
    _minor_version, "must be a Kubernetes minor version such as 1.33 (or empty)"
)
RECLAIM_POLICIES = ("Retain", "Delete")
UNVERIFIED_EVENTS = ("refuse", "cloudtrail")

DEFAULT_CLUSTER = Setting(
    "default_cluster", "clusterName", "REGISTRAR_DEFAULT_CLUSTER", "", OPTIONAL_NAME
)
ALLOWED_CLUSTERS = Setting(
    "allowed_clusters", "allowedClusters", "REGISTRAR_ALLOWED_CLUSTERS", "", NAMES
)
DEFAULT_NAMESPACE = Setting(
    "default_namespace", "defaultNamespace", "REGISTRAR_DEFAULT_NAMESPACE", "default", TEXT
)
# Blank is the default `*`, as for every setting but the denied list: the function and the
# rendered admission policy and RBAC (render/manifests.py) both read it as any namespace.
ALLOWED_NAMESPACES = Setting(
    "allowed_namespaces",
    "allowedNamespaces",
    "REGISTRAR_ALLOWED_NAMESPACES",
    ANY_NAMESPACE,
    NAMESPACES,
)
DENIED_NAMESPACES = Setting(
    "denied_namespaces",
    "deniedNamespaces",
    "REGISTRAR_DENIED_NAMESPACES",
    "kube-system,kube-public,kube-node-lease",
    NAMES,
    blank_is_value=True,  # blank denies nothing
)
CSI_DRIVER = Setting("csi_driver", "csiDriver", "REGISTRAR_CSI_DRIVER", "ebs.csi.aws.com", TEXT)
ZONE_LABEL = Setting(
    "zone_label", "zoneLabel", "REGISTRAR_ZONE_LABEL", "topology.kubernetes.io/zone", TEXT
)
DELETE_ON_VOLUME_DELETE = Setting(
    "delete_on_volume_delete",
    "deleteOnVolumeDelete",
    "REGISTRAR_DELETE_ON_VOLUME_DELETE",
    True,
    FLAG,
)
UNREGISTER_ON_UNTAG = Setting(
    "unregister_on_untag", "unregisterOnUntag", "REGISTRAR_UNREGISTER_ON_UNTAG", False, FLAG
)
# client-go's defaults (rest.Config QPS 5, Burst 10).
KUBE_QPS = Setting("kube_qps", "kubeQps", "REGISTRAR_KUBE_QPS", 5, POSITIVE_NUMBER)
KUBE_BURST = Setting("kube_burst", "kubeBurst", "REGISTRAR_KUBE_BURST", 10, POSITIVE_INTEGER)
ALLOWED_PRINCIPALS = Setting(
    "allowed_principals", "allowedPrincipals", "REGISTRAR_ALLOWED_PRINCIPALS", "", NAMES
)
UNVERIFIED = Setting(
    "unverified_events",
    "unverifiedEvents",
    "REGISTRAR_UNVERIFIED_EVENTS",
    "refuse",
    one_of(*UNVERIFIED_EVENTS),
)
ALLOWED_RECLAIM_POLICIES = Setting(
    "allowed_reclaim_policies",
    "allowedReclaimPolicies",
    "REGISTRAR_ALLOWED_RECLAIM_POLICIES",
    "Retain",
    each_of(*RECLAIM_POLICIES),
)

SETTINGS: tuple[Setting[Any], ...] = (
    DEFAULT_CLUSTER,
    ALLOWED_CLUSTERS,
    DEFAULT_NAMESPACE,
    ALLOWED_NAMESPACES,
    DENIED_NAMESPACES,
    CSI_DRIVER,
    ZONE_LABEL,
    DELETE_ON_VOLUME_DELETE,
    UNREGISTER_ON_UNTAG,
    KUBE_QPS,
    KUBE_BURST,
    ALLOWED_PRINCIPALS,
    UNVERIFIED,
    ALLOWED_RECLAIM_POLICIES,
)
BY_VARIABLE = {setting.variable: setting for setting in SETTINGS}


def read_all(environ: Mapping[str, str]) -> dict[str, Any]:
    """Every setting by field, each by its rule, then the rule between two of them: the default
    cluster is an allowed one (no allow-list: the default cluster alone)."""
    values = {setting.field: setting.read(environ) for setting in SETTINGS}
    default, allowed = values["default_cluster"], values["allowed_clusters"]
    if not allowed and default:
        values["allowed_clusters"] = (default,)
    elif default and default not in allowed:
        raise SettingsError(DEFAULT_CLUSTER.variable, f"must be one of {ALLOWED_CLUSTERS.variable}")
    return values


def environment(context: Callable[[str], ContextValue]) -> dict[str, str]:
    """The function's variables from the CDK context (`context(key)`), as given: the function
    parses exactly the text the stack validated."""
    return {setting.variable: as_text(context(setting.key)) for setting in SETTINGS}


# The work queue's URL: set by the stack beside the settings (not a context key); unset, the
# function runs every event's work itself.
WORK_QUEUE_VARIABLE = "REGISTRAR_WORK_QUEUE_URL"

# --- tags and names -----------------------------------------------------------------------------

# Tag keys a user sets, in the order the event rules list them (core/tags.py defines each key).
INPUT_TAG_KEYS = tags.INPUT_TAG_KEYS
# What CreateTags may write; EKS Auto Mode's driver adds the cluster name tag.
WRITTEN_TAG_KEYS = (tags.STATUS_TAG, tags.CSI_CLUSTER_TAG, tags.CSI_CLUSTER_NAME_TAG)
# What DeleteTags may remove: the cluster name, when the volume is released.
REMOVED_TAG_KEYS = tags.CLUSTER_NAME_TAGS
EKS_CLUSTER_NAME_TAG = tags.EKS_CLUSTER_NAME_TAG
CSI_CLUSTER_NAME_TAG = tags.CSI_CLUSTER_NAME_TAG
AUTO_MODE_CSI_DRIVER = tags.AUTO_MODE_CSI_DRIVER

# --- metrics ------------------------------------------------------------------------------------

SERVICE = tags.MANAGER  # Powertools' service name: the `service` dimension of every metric
METRICS_NAMESPACE = "EbsPvRegistrar"
# The metric the handler counts for each result of an outcome (core/decision.py Result), by
# dashboard panel; the DLQ and the RegistrationFailed alarm cover "failed" and "deferred".
REGISTRATION_METRICS = {
    "registered": "Registered",
    "unchanged": "Unchanged",
    "invalid": "InvalidInput",
    "conflict": "Conflict",
    "refused": "ClusterRefused",
    "failed": "RegistrationFailed",
}
LIFECYCLE_METRICS = {
    "ignored": "Ignored",
    "released": "Released",
    "reconciled": "Reconciled",
    "drift": "Drift",
    "pending": "Pending",
    "deferred": "Deferred",
}
OUTCOME_METRICS = {**REGISTRATION_METRICS, **LIFECYCLE_METRICS}
INVALID_METRIC = OUTCOME_METRICS["invalid"]
FAILED_METRIC = OUTCOME_METRICS["failed"]

# --- IAM ----------------------------------------------------------------------------------------

# The IAM action each AWS operation needs, by the service and operation names the adapters
# declare in AWS_OPERATIONS. An action usually bears its operation's name, but not always
# (Service Authorization Reference, "Actions, resources, and condition keys for Amazon EC2":
# "in some cases, a single action controls access to more than one operation"), so each is
# written out. sts:AssumeRole serves the command line's `token --role-arn`, never the function.
IAM_ACTIONS: Mapping[str, Mapping[str, str]] = {
    "ec2": {
        "DescribeVolumes": "ec2:DescribeVolumes",
        "CreateTags": "ec2:CreateTags",
        "DeleteTags": "ec2:DeleteTags",
    },
    "eks": {"DescribeCluster": "eks:DescribeCluster"},
    "cloudtrail": {"LookupEvents": "cloudtrail:LookupEvents"},
    "sts": {"AssumeRole": "sts:AssumeRole"},
    # SendMessageBatch is authorized by sqs:SendMessage (Amazon SQS API permissions reference).
    "sqs": {"SendMessageBatch": "sqs:SendMessage"},
}
# What Lambda's event source mapping does with the function's role to poll the work queue
# (AWS Lambda Developer Guide, "Using Lambda with Amazon SQS", execution role permissions).
QUEUE_CONSUMER_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
)


def iam_action(service: str, operation: str) -> str:
    return IAM_ACTIONS[service][operation]
