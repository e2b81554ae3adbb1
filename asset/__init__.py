"""The Lambda's code asset: `build` bundles lambdas/ for the runtime (local pip, Docker as the
fallback), `trim` is its standard-library finishing step (prune, trim botocore, compile)."""
