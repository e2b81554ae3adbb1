"""Who holds a volume: its EC2 attachments against the nodes of a cluster. Pure.

A volume attached to an instance that is no node of the target cluster is in use elsewhere: a
PV for it would only give its pods a multi-attach error, so it gets no objects until it is
detached. A node names its instance in `spec.providerID`: `aws:///<zone>/<instance id>`,
`aws:////<instance id>` or the bare id (kubernetes/cloud-provider-aws, KubernetesInstanceID and
its MapToAWSInstanceID).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from registrar.core.models import Manifest, VolumeFacts
from registrar.core.status import status_text

_PROVIDER_ID = re.compile(r"(?:aws:///[^/]*/)?(i-[0-9a-f]+)")
WAITING = "waiting: "


def node_instance(node: Manifest) -> str | None:
    """The EC2 instance of a node, from its providerID."""
    provider = (node.get("spec") or {}).get("providerID")
    match = _PROVIDER_ID.fullmatch(provider) if isinstance(provider, str) else None
    return match.group(1) if match else None


def node_instances(nodes: Iterable[Manifest]) -> frozenset[str]:
    return frozenset(i for i in (node_instance(node) for node in nodes) if i is not None)


def held_elsewhere(volume: VolumeFacts, nodes: frozenset[str]) -> tuple[str, ...]:
    """The instances holding the volume that are not nodes of the cluster."""
    return tuple(i for i in volume.attached_to if i not in nodes)


def waiting_status(instances: tuple[str, ...], cluster: str) -> str:
    return status_text(f"{WAITING}attached to {', '.join(instances)}, not a node of {cluster}; "
                       "registers once detached")  # fmt: skip
