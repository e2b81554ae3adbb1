"""Moved to devcluster.eks_authn (the demo checks tokens the same way); kept as an alias."""

from devcluster.eks_authn import (
    CLUSTER_ID_HEADER,
    TOKEN_PREFIX,
    AccessEntries,
    EksAuthenticator,
    Identity,
    PresignedCall,
    StsStandIn,
    TokenError,
    canonical_arn,
    verify,
)

__all__ = [
    "CLUSTER_ID_HEADER",
    "TOKEN_PREFIX",
    "AccessEntries",
    "EksAuthenticator",
    "Identity",
    "PresignedCall",
    "StsStandIn",
    "TokenError",
    "canonical_arn",
    "verify",
]
