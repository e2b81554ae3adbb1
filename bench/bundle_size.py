"""Unzipped size of the Lambda asset (asset.build.bundle, as the CDK builds it) against the
naive bundle (powertools with its Tracer, kubernetes: bench/_build.py), and what
shipping boto3/botocore would cost.

Usage: .venv/bin/python -m bench.bundle_size [--rebuild]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import _build

MB = 1024 * 1024


def top(path: Path, n: int = 8) -> str:
    sizes = sorted(((_build.tree_size(p) if p.is_dir() else p.stat().st_size), p.name)
                   for p in path.iterdir())  # fmt: skip
    return ", ".join(f"{name} {size / MB:.1f}" for size, name in reversed(sizes[-n:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    ours = _build.asset(args.rebuild)
    naive = _build.naive(args.rebuild, host=False, compile_=False)
    with_pyc, without_pyc = _build.tree_size(ours), _build.tree_size(ours, pyc=False)
    naive_size = _build.tree_size(naive)
    aio = _build.tree_size(naive / "kubernetes" / "aio")
    print(f"naive (powertools[tracer] + kubernetes, aarch64, no pyc): {naive_size / MB:6.1f} MiB")
    print(f"   top: {top(naive)}")
    print(f"   of which kubernetes/aio: {aio / MB:.1f} MiB")
    print(f"ours, as shipped (with 3.13 bytecode):                 {with_pyc / MB:6.1f} MiB")
    print(f"ours without bytecode:                                 {without_pyc / MB:6.1f} MiB")
    print(f"   top: {top(ours)}")
    print(f"ratio shipped/naive: {with_pyc / naive_size:.2f}")
    runtime = _build.runtime_dir()
    packages = ("boto3", "botocore", "s3transfer")
    full = sum(_build.tree_size(runtime / n, pyc=False) for n in packages)
    print(
        f"boto3+botocore+s3transfer in full (no bytecode): {full / MB:.1f} MiB;"
        f" our trimmed botocore (the declared operations of ec2/eks/sts/cloudtrail, with bytecode):"
        f" {_build.tree_size(ours / 'botocore') / MB:.1f} MiB"
    )


if __name__ == "__main__":
    main()
