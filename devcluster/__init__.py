"""A local stand-in for AWS and EKS, for the demo (`python -m registrar demo`) and tests/e2e.

Not part of the Lambda (its asset is lambdas/ only): moto for EC2, EKS, IAM and STS; the control
plane binary built from tests/controlplane/ (etcd + kube-apiserver + PV binder + kube-scheduler
and the Deployment controllers; nodes as API objects, devcluster/nodes.py) with a webhook
that checks EKS tokens as EKS does; EventBridge pattern matching; the demo itself.
"""
