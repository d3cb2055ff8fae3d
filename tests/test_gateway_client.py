"""The gateway client (the demo's help desks) survives the gateway closing its keep-alive connection."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

from streams.gateway.client import GatewayClient
from streams.simulator import generate


class _ClosesAfterEachAnswer(BaseHTTPRequestHandler):
    """Answers 202 on HTTP/1.1 without `Connection: close`, then drops the connection: what a
    keep-alive connection looks like to the client once the server closed it between requests."""
    protocol_version = "HTTP/1.1"
    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.received.append(orjson.loads(self.rfile.read(int(self.headers["content-length"])))["id"])
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


def test_a_connection_the_gateway_closed_is_opened_again_and_no_event_is_lost():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClosesAfterEachAnswer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = GatewayClient(f"http://127.0.0.1:{server.server_port}")
        events = list(itertools.islice(generate(seed=3, start=dt.datetime.now(dt.UTC), rate=10, bad_fraction=0.0), 5))
        for e in events:
            client.post(e.value, e.headers)
        client.close()
    finally:
        server.shutdown()
    assert client.posted == 5
    assert _ClosesAfterEachAnswer.received == [orjson.loads(e.value)["id"] for e in events]
