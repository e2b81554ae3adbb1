"""A stand-in for CloudTrail's LookupEvents over HTTP (moto has none): it answers with the
records a test adds, newest first, in pages."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CloudTrailRecord:
    """Answers CloudTrail LookupEvents (which moto lacks) with the records it is given, newest
    first, in pages of MaxResults with a NextToken as CloudTrail does."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.calls = 0
        records = self.records
        trail = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                trail.calls += 1
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                volume_id = request["LookupAttributes"][0]["AttributeValue"]
                start = int(request.get("NextToken") or 0)
                size = int(request.get("MaxResults") or 50)
                newest_first = list(reversed(records.get(volume_id, [])))
                events = [
                    {"EventName": r["eventName"], "CloudTrailEvent": json.dumps(r)}
                    for r in newest_first[start : start + size]
                ]
                answer: dict[str, Any] = {"Events": events}
                if start + size < len(newest_first):
                    answer["NextToken"] = str(start + size)
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
