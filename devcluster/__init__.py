"""This machine standing in for AWS and EKS: not part of the Lambda (its asset is lambdas/ only).

`standins/` plays AWS and EKS for the tests and benchmarks: moto for EC2, EKS, IAM and STS; the
control plane built from tests/controlplane/ with its zone nodes and a webhook that checks EKS
tokens as EKS does; kmock; a TLS API server; EventBridge pattern matching; the Lambda runtime
parts. `demo/` is `python -m registrar demo`, the README's scenario on those stand-ins.
"""
