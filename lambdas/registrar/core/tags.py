"""Tag keys (README: Tags): the ones users set and the ones the registrar writes back."""

from __future__ import annotations

PV_TAG = "k8s-pv"
PVC_TAG = "k8s-pvc"
CLUSTER_TAG = "k8s-cluster"
FSTYPE_TAG = "k8s-fstype"
VOLUME_MODE_TAG = "k8s-volume-mode"
ACCESS_MODE_TAG = "k8s-access-mode"
RECLAIM_POLICY_TAG = "k8s-reclaim-policy"
STORAGE_CLASS_TAG = "k8s-storage-class"

# Keys a user sets to steer the registration. A change to any of them is worth an event (the
# event rules list them in this order).
INPUT_TAG_KEYS = (
    PV_TAG,
    PVC_TAG,
    CLUSTER_TAG,
    FSTYPE_TAG,
    VOLUME_MODE_TAG,
    ACCESS_MODE_TAG,
    RECLAIM_POLICY_TAG,
    STORAGE_CLASS_TAG,
)
INPUT_TAGS = frozenset(INPUT_TAG_KEYS)

# What the EBS CSI driver tags a volume it provisioned with (aws-ebs-csi-driver,
# pkg/driver/constants.go and pkg/cloud/cloud.go): such a volume belongs to a PV already.
CSI_VOLUME_NAME_TAG = "CSIVolumeName"
CSI_PV_NAME_TAG = "kubernetes.io/created-for/pv/name"
CSI_PVC_NAME_TAG = "kubernetes.io/created-for/pvc/name"
CSI_PVC_NAMESPACE_TAG = "kubernetes.io/created-for/pvc/namespace"
CSI_PROVISIONED_TAGS = (
    CSI_PV_NAME_TAG, CSI_VOLUME_NAME_TAG, CSI_PVC_NAME_TAG, CSI_PVC_NAMESPACE_TAG
)

STATUS_TAG = "k8s-pv-status"
CSI_CLUSTER_TAG = "ebs.csi.aws.com/cluster"
# EKS Auto Mode's AmazonEKSBlockStoragePolicy attaches only volumes whose
# `eks:eks-cluster-name` tag names the cluster (its AttachVolume condition, aws:ResourceTag).
EKS_CLUSTER_NAME_TAG = "eks:eks-cluster-name"
AUTO_MODE_CSI_DRIVER = "ebs.csi.eks.amazonaws.com"
# AmazonEBSCSIDriverEKSClusterScopedPolicy (driver v1.58+) acts only on volumes whose
# `ebs.csi.aws.com/cluster-name` equals the driver's principal tag `eks-cluster-name` (AWS managed
# policy reference; aws-ebs-csi-driver docs/tagging.md).
CSI_CLUSTER_NAME_TAG = "ebs.csi.aws.com/cluster-name"
# Keys the registrar writes. Events about only these are our own echo and are ignored.
OUTPUT_TAGS = frozenset({STATUS_TAG, CSI_CLUSTER_TAG, CSI_CLUSTER_NAME_TAG, EKS_CLUSTER_NAME_TAG})
# The keys naming the cluster a volume is registered in: they move with it, and a released
# volume loses them (DeleteTags), so no cluster's driver may attach it any longer.
CLUSTER_NAME_TAGS = (CSI_CLUSTER_NAME_TAG, EKS_CLUSTER_NAME_TAG)

STATUS_MAX_LENGTH = 256
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "ebs-pv-registrar"  # also the Powertools service name (core/contract.py)
VOLUME_ID_ANNOTATION = "ebs-pv-registrar/volume-id"
CLUSTER_ANNOTATION = "ebs-pv-registrar/cluster"
UNMANAGED_ANNOTATION = "ebs-pv-registrar/unmanaged"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGER}"
