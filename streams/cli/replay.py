"""`cxpulse replay FILE --speed X`: publish recorded CloudEvents keeping their rhythm.

The file holds structured-mode CloudEvents, one JSON object per line, in any order; they are
sent in event-time order, the gap between two events divided by the speed (--speed 0: no
pauses). Event times are kept as recorded, so with `detect.clock = "event"` a replay raises the
same alerts at any speed (tests/integration/test_alerts.py checks 1x, 10x and 1000x).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import IO

import orjson

STRUCTURED = [("content-type", b"application/cloudevents+json")]


@dataclass
class Recorded:
    at: float
    line: bytes
    key: bytes | None


def read(stream: IO[bytes]) -> list[Recorded]:
    """Parse the file; raise ValueError naming the line that has no usable time."""
    out = []
    for n, line in enumerate(stream, 1):
        line = line.strip()
        if not line:
            continue
        try:
            event = orjson.loads(line)
            at = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"line {n}: not a CloudEvent with a time ({exc})") from None
        data = event.get("data") or {}
        key = (data.get("contact_id") or "").encode() or None
        out.append(Recorded(at, line, key))
    out.sort(key=lambda r: r.at)
    return out


def replay(records: list[Recorded], bootstrap: str, topic: str, speed: float, producer_config: dict | None = None,
           progress: IO[str] = sys.stderr) -> float:
    """Send them paced by event time / speed; return the wall seconds it took."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5, **(producer_config or {}))
    started = time.monotonic()
    try:
        first = records[0].at if records else 0.0
        for i, r in enumerate(records, 1):
            if speed > 0:
                wait = (r.at - first) / speed - (time.monotonic() - started)
                if wait > 0:
                    producer.flush()
                    time.sleep(wait)
            producer.send(topic, key=r.key, value=r.line, headers=STRUCTURED)
            if i % 1000 == 0:
                print(f"replay: {i:,}/{len(records):,} events", file=progress, flush=True)
        producer.flush()
    finally:
        producer.close()
    return time.monotonic() - started
