"""EventBridge pattern matching (tests/infra and the demo): moto's EventPattern matcher,
taught EventBridge's matching inside arrays of objects.

EventBridge matches a pattern path through arrays of objects: the leaves at that path,
across every element, form one array, and an array matches when any element does
(`resourcesSet.items.resourceId`). moto 5.2.5 flattens dicts only, so such a path is
never found there; this subclass flattens arrays of objects the same way and leaves
every filter (prefix, exists, anything-but, $or) to moto.
"""

from __future__ import annotations

import json
from typing import Any

from moto.events.models import EventPattern


class EventBridgePattern(EventPattern):
    @staticmethod
    def _flatten_dict(
        node: Any, prefix: str = "", result: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = {} if result is None else result
        if isinstance(node, dict) and node:
            for key, value in node.items():
                _flatten(value, f"{prefix}.{key}" if prefix else key, result)
        return result


def _flatten(node: Any, path: str, result: dict[str, Any]) -> None:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            _flatten(value, f"{path}.{key}", result)
    elif isinstance(node, list) and any(isinstance(item, dict) for item in node):
        for item in node:
            _flatten(item, path, result)
    elif path in result:
        existing = result[path]
        merged = existing if isinstance(existing, list) else [existing]
        result[path] = merged + (node if isinstance(node, list) else [node])
    else:
        result[path] = node


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return bool(EventBridgePattern.load(json.dumps(pattern)).matches_event(event))  # type: ignore[arg-type]
