"""EventBridge's delivery of events to the function, as the service documents it: at least
once ("Event delivery from AWS services": durable delivery "at least once"; a rule's target is
retried), so an event may come twice, and in no guaranteed order."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from typing import Any

from devcluster.standins.harshness import HARSH, Harshness


def deliveries(
    events: Iterable[dict[str, Any]], harshness: Harshness = HARSH, *, seed: int = 0
) -> list[dict[str, Any]]:
    """The events as the function may receive them: some twice (the same event id), all in an
    order of `seed`'s choosing when the harshness shuffles."""
    chance = random.Random(seed)
    delivered: list[dict[str, Any]] = []
    for event in events:
        delivered.append(event)
        if chance.random() < harshness.duplicate_ratio:
            delivered.append(copy.deepcopy(event))
    if harshness.shuffle:
        chance.shuffle(delivered)
    return delivered
