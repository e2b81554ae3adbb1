"""A proxy in front of the moto server that answers EC2 the way the EC2 API documents it may,
and moto never does. Other services (STS, IAM, EKS, moto's own API) pass through untouched.

- "Pagination in the Amazon EC2 API": a DescribeVolumes listing (Filters, MaxResults) comes in
  pages of at most `page_items` volumes, every `empty_page_every`-th page empty, each with a
  NextToken until the last; only a missing NextToken ends it.
- "Request throttling for the Amazon EC2 API": every `throttle_every`-th EC2 request starts a
  burst of `throttle_burst` answers RequestLimitExceeded (HTTP 503).
- "Eventual consistency in the Amazon EC2 API": a volume younger than `invisible_s` is
  InvalidVolume.NotFound to DescribeVolumes of its id and absent from listings.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta

from devcluster.standins.harshness import HARSH, Harshness
from devcluster.standins.loopback import Loopback, QuietHandler, forward

EC2_VERSION = "2016-11-15"


def ec2_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
        f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
    ).encode()


class HarshEc2:
    def __init__(self, upstream: str, harshness: Harshness = HARSH) -> None:
        self.upstream = upstream
        self.harshness = harshness
        self.actions: Counter[str] = Counter()  # EC2 actions received, throttled ones included
        self.throttled: Counter[str] = Counter()
        self.pages = 0  # DescribeVolumes listing pages served
        self._lock = threading.Lock()
        self._seen = 0
        proxy = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.reply(*proxy.forward("GET", self.path, b"", dict(self.headers)))

            def do_POST(self) -> None:
                self.reply(*proxy.handle(self.path, self.body(), dict(self.headers)))

        self._loopback = Loopback(Handler)
        self.url = self._loopback.url

    def close(self) -> None:
        self._loopback.close()

    def handle(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        params = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        action = params.get("Action", [""])[0]
        if params.get("Version", [""])[0] != EC2_VERSION:
            return self.forward("POST", path, body, headers)
        if self._throttled(action):
            return 503, ec2_error("RequestLimitExceeded", "Request limit exceeded."), {}
        if action != "DescribeVolumes":
            return self.forward("POST", path, body, headers)
        ids = [v[0] for k, v in params.items() if k.startswith("VolumeId.")]
        if ids:
            return self._by_id(path, body, headers, ids)
        return self._listing(path, params, headers)

    def forward(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        return forward(self.upstream, method, path, body, headers)

    def _throttled(self, action: str) -> bool:
        every, burst = self.harshness.throttle_every, self.harshness.throttle_burst
        with self._lock:
            self.actions[action] += 1
            self._seen += 1
            hit = bool(every and burst) and self._seen % every < burst and self._seen >= every
            self.throttled[action] += hit
        return hit

    def _by_id(
        self, path: str, body: bytes, headers: dict[str, str], ids: list[str]
    ) -> tuple[int, bytes, dict[str, str]]:
        status, data, reply = self.forward("POST", path, body, headers)
        if status != 200:
            return status, data, reply
        root = ET.fromstring(data)
        young = [_text(item, "volumeId") for item in self._items(root) if self._young(item)]
        if young:
            missing = ", ".join(young)
            return (
                400,
                ec2_error("InvalidVolume.NotFound", f"The volume '{missing}' does not exist."),
                {},
            )
        return status, data, reply

    def _listing(
        self, path: str, params: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        wanted = int(params.pop("MaxResults", ["0"])[0] or 0)
        start = int((params.pop("NextToken", [""])[0] or "0").split(".")[0])
        body = urllib.parse.urlencode({k: v[0] for k, v in params.items()}).encode()
        status, data, reply = self.forward("POST", path, body, headers)
        if status != 200 or not wanted:  # without MaxResults EC2 answers everything at once
            return status, data, reply
        root = ET.fromstring(data)
        volume_set = _child(root, "volumeSet")
        items = [item for item in self._items(root) if not self._young(item)]
        with self._lock:
            self.pages += 1
            serial = self.pages
        every = self.harshness.empty_page_every
        empty = bool(every) and serial % every == 0
        size = 0 if empty else min(wanted, self.harshness.page_items or wanted)
        if volume_set is not None:
            for item in list(volume_set):
                volume_set.remove(item)
            volume_set.extend(items[start : start + size])
        if start + size < len(items):
            # Opaque, and never the same twice (an empty page must not repeat the token).
            ET.SubElement(root, _name(root, "nextToken")).text = f"{start + size}.{serial}"
        ET.register_namespace("", _name(root, "")[1:-1])
        return (
            status,
            ET.tostring(root, xml_declaration=True, encoding="UTF-8"),
            {"Content-Type": "text/xml"},
        )

    def _items(self, root: ET.Element) -> list[ET.Element]:
        volume_set = _child(root, "volumeSet")
        return [] if volume_set is None else list(volume_set)

    def _young(self, item: ET.Element) -> bool:
        if not self.harshness.invisible_s:
            return False
        # moto's createTime has whole seconds: the volume may be up to one second younger.
        created = datetime.fromisoformat(_text(item, "createTime").replace("Z", "+00:00"))
        age = datetime.now(UTC) - created - timedelta(seconds=1)
        return age < timedelta(seconds=self.harshness.invisible_s)


def _name(element: ET.Element, name: str) -> str:
    """`name` in the namespace of `element` (moto's and EC2's differ by a slash)."""
    return element.tag[: element.tag.index("}") + 1] + name if element.tag.startswith("{") else name


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return element.find(_name(element, name))


def _text(item: ET.Element, name: str) -> str:
    return item.findtext(_name(item, name)) or ""
