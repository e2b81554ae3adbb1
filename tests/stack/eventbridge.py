"""Moved to devcluster.eventbridge (the demo matches events the same way); kept as an alias."""

from devcluster.eventbridge import EventBridgePattern, matches

__all__ = ["EventBridgePattern", "matches"]
