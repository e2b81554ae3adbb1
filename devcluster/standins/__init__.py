"""Local stand-ins for AWS, EKS, Kubernetes, EventBridge and the Lambda runtime, shared by the
demo, the tests and the benchmarks."""
