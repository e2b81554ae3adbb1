"""The kube-apiserver's token webhook (`--authentication-token-webhook-config-file`):
an HTTPS server thread answering TokenReview v1 with EksAuthenticator's verdict."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devcluster.standins.certs import ServerTls
from devcluster.standins.eks_authn import EksAuthenticator, TokenError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Review:
    """What the webhook decided, for tests to look at (never the token)."""

    authenticated: bool
    username: str
    reason: str


class TokenReviewServer:
    def __init__(self, authenticator: EksAuthenticator, tls: ServerTls) -> None:
        self.reviews: list[Review] = []
        self._authenticator = authenticator
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                review = json.loads(self.rfile.read(length) or b"{}")
                payload = json.dumps(server.review(review)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = tls.server_context().wrap_socket(self._httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._httpd.server_address[1]}/authenticate"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def review(self, request: dict[str, Any]) -> dict[str, Any]:
        token = str((request.get("spec") or {}).get("token") or "")
        answer = {
            "apiVersion": request.get("apiVersion", "authentication.k8s.io/v1"),
            "kind": "TokenReview",
        }
        try:
            who = self._authenticator.authenticate(token)
        except TokenError as exc:
            self.reviews.append(Review(False, "", str(exc)))
            return answer | {"status": {"authenticated": False, "error": str(exc)}}
        except Exception as exc:  # STS unreachable, bad answer: refuse, keep serving
            log.exception("token review failed")
            self.reviews.append(Review(False, "", f"{type(exc).__name__}: {exc}"))
            return answer | {"status": {"authenticated": False, "error": "internal error"}}
        self.reviews.append(Review(True, who.username, ""))
        user = {
            "username": who.username,
            "uid": f"aws-iam-authenticator:{who.arn.split(':')[4]}:{who.access_key_id}",
            "groups": list(who.groups),
            "extra": {"arn": [who.arn], "accessKeyId": [who.access_key_id]},
        }
        return answer | {"status": {"authenticated": True, "user": user}}

    def close(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._httpd.server_close()
