"""ebs-pv-registrar: EBS volumes tagged `k8s-pv` become PersistentVolumes and claims on EKS."""
