"""`registrar token --cluster NAME [--region R] [--role-arn ARN]`: the ExecCredential of
`aws eks get-token`, so kubeconfig can use the registrar as its exec credential plugin."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from registrar.adapters.eks_token import (
    discover_api_version,
    exec_credential,
    exec_credential_text,
    get_token,
)
from registrar.core.errors import RegistrarError


def add_token_command(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "token", help="an EKS bearer token as ExecCredential JSON (kubectl exec plugin)"
    )
    parser.add_argument("--cluster", required=True, help="EKS cluster name")
    parser.add_argument("--region", help="the cluster's region (default: the AWS config's)")
    parser.add_argument("--role-arn", help="assume this role to sign the token")
    parser.set_defaults(run=run_token)
    return parser


def run_token(args: argparse.Namespace) -> int:
    # The AWS adapter is imported here: kubectl runs this plugin before each of its commands.
    from registrar.adapters.aws import configured_region, signing_credentials  # noqa: PLC0415

    region = args.region or configured_region()
    if not region:
        print("error: --region: required when no AWS region is configured", file=sys.stderr)
        return 2
    try:
        credentials = signing_credentials(region, args.role_arn)
        if credentials is None:
            print("error: no AWS credentials found", file=sys.stderr)
            return 1
        token = get_token(args.cluster, region, credentials.get_frozen_credentials())
    except RegistrarError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(exec_credential_text(exec_credential(token, discover_api_version())))
    return 0
