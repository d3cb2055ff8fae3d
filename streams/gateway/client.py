"""Post Kafka-binding messages to the gateway over one keep-alive connection (the demo's help desks)."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

from streams.gateway.http_binding import from_kafka


class GatewayClient:
    def __init__(self, url: str, token: str = "", attempts: int = 5) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self._auth = {"authorization": f"Bearer {token}"} if token else {}
        self._attempts = attempts
        self.posted = 0

    def post(self, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """POST one event; a 503 is retried after its Retry-After, any other refusal raises."""
        http_headers, body = from_kafka(value, headers)
        for attempt in range(self._attempts):
            self._connection.request("POST", "/v1/events", body=body, headers={**http_headers, **self._auth})
            answer = self._connection.getresponse()
            text = answer.read()
            if answer.status == 202:
                self.posted += 1
                return
            if answer.status != 503 or attempt == self._attempts - 1:
                raise RuntimeError(f"gateway answered {answer.status}: {text[:300]!r}")
            time.sleep(float(answer.getheader("retry-after", "1")))

    def close(self) -> None:
        self._connection.close()
