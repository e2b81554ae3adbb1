"""Stand-ins for AWS, EKS and Lambda that the tests, the benchmarks and the demo share."""
