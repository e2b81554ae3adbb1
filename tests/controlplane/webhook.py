"""Moved to devcluster.webhook; kept as an alias."""

from devcluster.webhook import Review, TokenReviewServer

__all__ = ["Review", "TokenReviewServer"]
