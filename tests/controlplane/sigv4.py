"""Moved to devcluster.sigv4; kept as an alias."""

from devcluster.sigv4 import EMPTY_PAYLOAD_HASH, presigned_signature

__all__ = ["EMPTY_PAYLOAD_HASH", "presigned_signature"]
