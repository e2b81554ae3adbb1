"""How harsh the AWS stand-ins are: the integration and e2e tiers run them as harsh as AWS is
documented to be (HARSH), the demo keeps its speed (MILD). `EBS_PV_STANDINS=mild` runs the
tests mild, to tell a harsh behaviour from a regression."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Harshness:
    # EC2 ("Pagination in the Amazon EC2 API"): a page may hold fewer items than MaxResults,
    # even none, with a NextToken. At most this many items a page (0: as many as asked) ...
    page_items: int = 0
    # ... and every `empty_page_every`-th page is empty (0: never).
    empty_page_every: int = 0
    # EC2 ("Request throttling for the Amazon EC2 API"): RequestLimitExceeded. Every
    # `throttle_every`-th EC2 request starts a burst of `throttle_burst` refusals (0: never).
    throttle_every: int = 0
    throttle_burst: int = 0
    # EC2 ("Eventual consistency in the Amazon EC2 API"): a volume younger than this is
    # InvalidVolume.NotFound to DescribeVolumes of its id and absent from listings.
    invisible_s: float = 0.0
    # CloudTrail: a record is searchable this long after the call it records ("typically
    # within an average of about 5 minutes of an API call; this time is not guaranteed").
    trail_lag_s: float = 0.0
    # CloudTrail LookupEvents: "limited to two per second, per account, per Region" (0: no limit).
    trail_rate: float = 0.0
    # EventBridge (at-least-once, unordered): each event is delivered twice with this
    # probability, and the deliveries are shuffled when `shuffle`.
    duplicate_ratio: float = 0.0
    shuffle: bool = False


MILD = Harshness()
HARSH = Harshness(
    page_items=3,
    empty_page_every=4,
    throttle_every=12,
    throttle_burst=2,
    invisible_s=0.5,
    trail_lag_s=2.0,
    trail_rate=2.0,
    duplicate_ratio=0.5,
    shuffle=True,
)


def from_env() -> Harshness:
    return MILD if os.environ.get("EBS_PV_STANDINS", "harsh") == "mild" else HARSH


def settle(harshness: Harshness | None = None) -> None:
    """Wait until EC2 lists the volumes just created (a test that sweeps right after creating
    them): the stand-in hides them for `invisible_s`, and moto's createTime has whole seconds."""
    invisible = (harshness or from_env()).invisible_s
    if invisible:
        time.sleep(invisible + 1.0)
