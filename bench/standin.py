"""A small local stand-in for the calls one registration makes, for the cold-start benchmark.

Loopback only, stateless and cheap, so both bundles wait on it alike and the figures are the
function's own: AWS over HTTP (EC2 query protocol: CreateTags, DescribeVolumes; EKS rest-json:
DescribeCluster, answering with the Kubernetes stand-in's endpoint and CA) and Kubernetes over
TLS (POST of a PersistentVolume, a PersistentVolumeClaim or an Event is answered 201 with the
object back, as the API server does). Every request is counted by (service, call).
Correctness against the real peers is the tests' business (moto, the local control plane).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from devcluster.standins.certs import make_tls

EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
REQUEST_ID = "11111111-2222-3333-4444-555555555555"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # As Go's net/http (the API server) and AWS' front ends do: without it, Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to each small answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", REQUEST_ID)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.route(self, "GET", b"")

    def do_POST(self) -> None:
        self.server.route(self, "POST", self._body())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: StandIn, kind: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner, self.kind = owner, kind

    def route(self, handler: _Handler, method: str, body: bytes) -> None:
        answer = (self.owner.aws if self.kind == "aws" else self.owner.kube)(
            method, handler.path, body
        )
        handler._send(*answer)


class StandIn:
    """`aws_url` for AWS_ENDPOINT_URL; the cluster named in DescribeCluster points at the
    Kubernetes stand-in, whose CA is in `ca_pem`."""

    def __init__(self, folder: Path) -> None:
        tls = make_tls(folder)
        self.ca_pem = tls.ca_pem
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._aws = _Server(self, "aws")
        self._kube = _Server(self, "kube")
        self._kube.socket = tls.server_context().wrap_socket(self._kube.socket, server_side=True)
        self.aws_url = f"http://127.0.0.1:{self._aws.server_address[1]}"
        self.kube_url = f"https://127.0.0.1:{self._kube.server_address[1]}"
        self._threads = [
            threading.Thread(target=s.serve_forever, daemon=True) for s in (self._aws, self._kube)
        ]

    def __enter__(self) -> StandIn:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self._aws, self._kube):
            server.shutdown()
            server.server_close()

    def _count(self, service: str, call: str) -> None:
        with self._lock:
            self.calls[(service, call)] += 1

    def aws(self, method: str, path: str, body: bytes) -> tuple[int, bytes, str]:
        if method == "GET" and path.startswith("/clusters/"):
            name = path.removeprefix("/clusters/").split("?")[0]
            self._count("eks", "DescribeCluster")
            return 200, json.dumps({"cluster": self._cluster(name)}).encode(), "application/json"
        if path == "/v1/traces":  # OTLP/HTTP: accepted as a collector would (an empty answer)
            self._count("otlp", "traces")
            return 200, b"", "application/x-protobuf"
        action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        self._count("ec2", action or f"{method} {path}")
        if action == "CreateTags":
            xml = f'<CreateTagsResponse xmlns="{EC2_NS}"><requestId>{REQUEST_ID}</requestId>'
            return 200, f"{xml}<return>true</return></CreateTagsResponse>".encode(), "text/xml"
        if action == "DescribeVolumes":
            xml = f'<DescribeVolumesResponse xmlns="{EC2_NS}"><requestId>{REQUEST_ID}</requestId>'
            return 200, f"{xml}<volumeSet/></DescribeVolumesResponse>".encode(), "text/xml"
        return 400, b'{"message": "not in the stand-in"}', "application/json"

    def _cluster(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "arn": f"arn:aws:eks:us-east-1:111122223333:cluster/{name}",
            "endpoint": self.kube_url,
            "status": "ACTIVE",
            "certificateAuthority": {"data": base64.b64encode(self.ca_pem).decode()},
        }

    def kube(self, method: str, path: str, body: bytes) -> tuple[int, bytes, str]:
        kind = path.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        self._count("kubernetes", f"{method} {kind}")
        if method != "POST":
            return 404, b'{"kind":"Status","code":404,"reason":"NotFound"}', "application/json"
        obj = json.loads(body or b"{}")
        metadata = obj.setdefault("metadata", {})
        metadata.setdefault("uid", "00000000-0000-0000-0000-000000000001")
        metadata.setdefault("resourceVersion", "1")
        metadata.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        return 201, json.dumps(obj).encode(), "application/json"
