"""Publish the simulated stream to Kafka in real time (kafka-python), with progress on stderr."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from prometheus_client import Counter as PromCounter

from streams.simulator.generate import Emission, generate

PUBLISHED = PromCounter("cxpulse_simulator_events_published_total", "Simulated events published",
                        ["channel", "expect"])


@dataclass
class PublishStats:
    produced: int = 0
    valid: int = 0
    by_channel: Counter = field(default_factory=Counter)
    by_expect: Counter = field(default_factory=Counter)
    elapsed: float = 0.0


def publish(bootstrap: str, topic: str, *, rate: float, count: int | None = None, duration: float | None = None,
            seed: int = 1, bad_fraction: float = 0.0, start: dt.datetime | None = None,
            max_event_bytes: int = 65536, progress: bool = True, stop: threading.Event | None = None,
            on_emit: Callable[[Emission], None] | None = None, producer_config: dict | None = None) -> PublishStats:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5,
                             max_request_size=max(2 * max_event_bytes, 1_048_576), **(producer_config or {}))
    stats = PublishStats()
    wall0 = time.monotonic()
    start = start or dt.datetime.now(dt.UTC)
    last_report = wall0
    try:
        for emission in generate(seed, start, rate, bad_fraction, max_event_bytes=max_event_bytes):
            if (count is not None and stats.produced >= count) or (stop is not None and stop.is_set()):
                break
            if duration is not None and emission.at > duration:
                break
            wait = emission.at - (time.monotonic() - wall0)
            if wait > 0:
                if stop is not None:
                    if stop.wait(wait):
                        break
                else:
                    time.sleep(wait)
            producer.send(topic, key=emission.key, value=emission.value, headers=emission.headers)
            stats.produced += 1
            stats.by_channel[emission.channel] += 1
            stats.by_expect[emission.expect] += 1
            stats.valid += emission.expect == "valid"
            PUBLISHED.labels(channel=emission.channel, expect=emission.expect).inc()
            if on_emit is not None:
                on_emit(emission)
            now = time.monotonic()
            if progress and now - last_report >= 1.0:
                last_report = now
                print(f"simulate: {stats.produced:,} events ({stats.produced / (now - wall0):,.0f}/s), "
                      f"{stats.produced - stats.valid:,} malformed", file=sys.stderr, flush=True)
        producer.flush()
    finally:
        producer.close()
    stats.elapsed = time.monotonic() - wall0
    return stats
