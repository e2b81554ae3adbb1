"""`python -m registrar demo` (`python -m devcluster.demo`): the README's scenario on the
stand-ins, with the tutorial's workload and a CloudTrail event for the created volume."""
