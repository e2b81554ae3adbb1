"""The sample EventBridge events in tests/events/, each file named after the event it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent.parent / "events"

# One event of each kind the registrar accepts, shaped after the AWS documentation's examples.
# The other files are variants (other callers, other tag sets, events the rules must not match).
DOCUMENTED_SAMPLES = (
    "cloudtrail-create-tags.json",
    "cloudtrail-create-volume.json",
    "cloudtrail-delete-tags.json",
    "cloudtrail-delete-volume.json",
    "ebs-create-volume-available.json",
    "ebs-create-volume-failed.json",
    "ebs-delete-volume.json",
    "tag-change-on-resource.json",
)


def load_event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def event_names() -> list[str]:
    return sorted(path.name for path in EVENTS.glob("*.json"))


def sample_event_names() -> list[str]:
    return list(DOCUMENTED_SAMPLES)


def variant_event_names() -> list[str]:
    return [name for name in event_names() if name not in DOCUMENTED_SAMPLES]
