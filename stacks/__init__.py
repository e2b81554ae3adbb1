"""The CDK app of ebs-pv-registrar: one stack, one construct per concern."""
