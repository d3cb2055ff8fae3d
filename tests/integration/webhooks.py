"""A webhook endpoint on loopback for delivery tests: each call is answered by a policy function."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# policy(call number from 1, seconds since the first call) -> HTTP status to answer (after any delay it takes)
Policy = Callable[[int, float], int]


def fail_first(n: int) -> Policy:
    return lambda call, _: 500 if call <= n else 204


class Receiver:
    """Records every call; a call answered 2xx is `accepted` (headers, body)."""

    def __init__(self, policy: Policy) -> None:
        self.calls: list[float] = []
        self.accepted: list[tuple[dict, bytes]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer._lock:
                    outer.calls.append(time.monotonic())
                    call, since_first = len(outer.calls), outer.calls[-1] - outer.calls[0]
                status = policy(call, since_first)
                if 200 <= status < 300:
                    with outer._lock:
                        outer.accepted.append((dict(self.headers), body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/cxpulse"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
