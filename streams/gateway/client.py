"""Post Kafka-binding messages to the gateway over one keep-alive connection (the demo's help desks)."""

from __future__ import annotations

import http.client
import subprocess
import time
import urllib.error
import urllib.request
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
        """POST one event; a 503 is retried after its Retry-After, and a keep-alive connection the
        gateway closed meanwhile is opened again and the event sent again (the gateway and dedup take
        a repeated source+id as one event); any other refusal raises."""
        http_headers, body = from_kafka(value, headers)
        for attempt in range(self._attempts):
            try:
                self._connection.request("POST", "/v1/events", body=body, headers={**http_headers, **self._auth})
                answer = self._connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._connection.close()  # the next request connects again
                if attempt == self._attempts - 1:
                    raise
                continue
            text = answer.read()
            if answer.status == 202:
                self.posted += 1
                return
            if answer.status != 503 or attempt == self._attempts - 1:
                raise RuntimeError(f"gateway answered {answer.status}: {text[:300]!r}")
            time.sleep(float(answer.getheader("retry-after", "1")))

    def close(self) -> None:
        self._connection.close()


def wait_ready(url: str, process: subprocess.Popen, log_path, timeout: float = 60.0) -> None:
    """Until the gateway at `url` answers /readyz 200 (its producer reached the broker); the demo, the
    tests and the benchmark start it as a child `process`, whose log is at `log_path`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with code {process.returncode}; see {log_path}")
        try:
            if urllib.request.urlopen(url + "/readyz", timeout=1).status == 200:
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the gateway was not ready after {timeout:.0f}s; see {log_path}")
