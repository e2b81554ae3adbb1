"""What is rendered from the contract for people and clusters, outside the CDK app: the
Kubernetes manifests under k8s/ (`manifests`) and docs/dashboard.png (`dashboard`)."""
