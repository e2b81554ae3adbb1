"""Adapters: the only code that talks to AWS (aws, eks, eks_token) and Kubernetes (kube*)."""
