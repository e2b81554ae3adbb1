"""CloudTrail's LookupEvents over HTTP (moto has none), as harsh as the service documents
("AWS CloudTrail API Reference, LookupEvents"): records of the last 90 days only, newest first,
at most 50 a page; two requests a second per account and region, ThrottlingException beyond;
and a record searchable only once delivered, `lag` seconds after the call it records.

`record(detail)` adds a CloudTrail record (an EventBridge event's `detail`), found by every
volume it names (a CreateTags over many volumes is one record naming each of them)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from devcluster.standins.harshness import HARSH, Harshness
from devcluster.standins.loopback import Loopback, QuietHandler
from registrar.adapters.token_bucket import TokenBucket

RETENTION = timedelta(days=90)
PAGE_MAX = 50


class CloudTrailStandIn:
    def __init__(self, harshness: Harshness = HARSH) -> None:
        self.lag = harshness.trail_lag_s
        self.calls = 0
        self.throttled = 0
        self._records: list[
            tuple[float, datetime, dict[str, Any]]
        ] = []  # (searchable at, time, record)
        # CloudTrail's limit: `trail_rate` calls a second, a second's worth at once; 0: none.
        rate = harshness.trail_rate
        self._bucket = TokenBucket(rate, rate) if rate else None
        self._lock = threading.Lock()
        trail = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                status, answer = trail.lookup(json.loads(self.body()))
                json_type = {"Content-Type": "application/x-amz-json-1.1"}
                self.reply(status, json.dumps(answer).encode(), json_type)

        self._loopback = Loopback(Handler)
        self.url = self._loopback.url

    def record(
        self, detail: dict[str, Any], *, lag: float | None = None, at: datetime | None = None
    ) -> dict[str, Any]:
        """Add a record of a call made `at` (now by default), searchable `lag` seconds from now
        (the stand-in's lag by default). Its eventTime is set to `at`."""
        when = at or datetime.now(UTC)
        detail = {**detail, "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
        detail.setdefault("eventID", str(uuid.uuid4()))
        delay = self.lag if lag is None else lag
        with self._lock:
            self._records.append((time.monotonic() + delay, when, detail))
        return detail

    def lookup(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls += 1
            if self._bucket is not None and not self._bucket.try_take():
                self.throttled += 1
                return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            found = list(self._matching(request))
        start = int(request.get("NextToken") or 0)
        size = min(int(request.get("MaxResults") or PAGE_MAX), PAGE_MAX)
        answer: dict[str, Any] = {"Events": [_event(r) for r in found[start : start + size]]}
        if start + size < len(found):
            answer["NextToken"] = str(start + size)
        return 200, answer

    def _matching(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        now, wall = time.monotonic(), datetime.now(UTC)
        oldest = wall - RETENTION
        if request.get("StartTime"):
            oldest = max(oldest, datetime.fromtimestamp(float(request["StartTime"]), UTC))
        newest = (
            datetime.fromtimestamp(float(request["EndTime"]), UTC)
            if request.get("EndTime")
            else wall
        )
        attribute = (request.get("LookupAttributes") or [{}])[0]
        key, value = attribute.get("AttributeKey"), attribute.get("AttributeValue")
        newest_first = sorted(
            enumerate(self._records), key=lambda item: (item[1][1], item[0]), reverse=True
        )
        for _, (searchable, when, detail) in newest_first:
            if searchable > now or not oldest <= when <= newest:
                continue
            if key == "ResourceName" and value not in resource_ids(detail):
                continue
            if key == "EventName" and detail.get("eventName") != value:
                continue
            yield detail

    def close(self) -> None:
        self._loopback.close()


def resource_ids(detail: dict[str, Any]) -> list[str]:
    """The resources a record names, as LookupEvents' ResourceName matches them."""
    params = detail.get("requestParameters") or {}
    response = detail.get("responseElements") or {}
    items = (params.get("resourcesSet") or {}).get("items") or []
    ids = [str(item["resourceId"]) for item in items if "resourceId" in item]
    ids += [str(v) for v in (params.get("volumeId"), response.get("volumeId")) if v]
    return ids


def _event(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "EventId": detail["eventID"],
        "EventName": detail.get("eventName"),
        "EventTime": datetime.strptime(detail["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=UTC)
        .timestamp(),
        "Resources": [
            {"ResourceType": "AWS::EC2::Volume", "ResourceName": r} for r in resource_ids(detail)
        ],
        "CloudTrailEvent": json.dumps(detail),
    }
