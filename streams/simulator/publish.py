"""Publish the simulated stream to Kafka in real time (kafka-python), with progress on stderr."""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import math
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator

from prometheus_client import Counter as PromCounter

from streams.simulator.generate import Emission, generate
from streams.simulator.scenarios import SHARED_PHONE_FRACTION

# What the gateway accepts (202) of the simulated stream: valid events and repeats of them (dropped by dedup).
POSTABLE = frozenset({"valid", "duplicate"})

PUBLISHED = PromCounter("cxpulse_simulator_events_published_total", "Simulated events published",
                        ["channel", "expect"])


@dataclass
class PublishStats:
    produced: int = 0
    valid: int = 0
    by_channel: Counter = field(default_factory=Counter)
    by_expect: Counter = field(default_factory=Counter)
    elapsed: float = 0.0


def _emissions(seed: int, start: dt.datetime, rate: float, bad_fraction: float, max_event_bytes: int,
               count: int | None, duration: float | None,
               shared_phone_fraction: float = SHARED_PHONE_FRACTION) -> Iterator[Emission]:
    """The simulated stream from `start`, cut at `count` events or `duration` virtual seconds."""
    stream = generate(seed, start, rate, bad_fraction, max_event_bytes=max_event_bytes,
                      shared_phone_fraction=shared_phone_fraction)
    if count is not None:
        stream = itertools.islice(stream, count)
    if duration is not None:
        stream = itertools.takewhile(lambda e: e.at <= duration, stream)
    return stream


def generate_ahead(seed: int, rate: float, bad_fraction: float, max_event_bytes: int, count: int | None,
                   duration: float, progress: bool,
                   shared_phone_fraction: float = SHARED_PHONE_FRACTION) -> tuple[dt.datetime, list[Emission]]:
    """Every emission, made before publishing starts, with times from the moment it will.

    Generating costs about 0.1 ms per event, half a core at 5,000 events/s, which a load test
    would take from the worker it measures. A short first pass times the generator, so the start
    can be set far enough ahead for the whole stream to be ready by then."""
    now = dt.datetime.now(dt.UTC)
    sample = min(2000, count or 2000)
    timer = time.perf_counter()
    stream = _emissions(seed, now, rate, bad_fraction, max_event_bytes, sample + 1, duration, shared_phone_fraction)
    next(stream, None)  # the generator's warm-up (stories already running at second 0) comes first
    warmup = time.perf_counter() - timer
    n = sum(1 for _ in stream)
    per_event = (time.perf_counter() - timer - warmup) / max(n, 1)
    expected = min(count or math.inf, rate * duration * 1.05)
    start = now + dt.timedelta(seconds=1.5 * (warmup + per_event * expected) + 2.0)
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)  # events carry milliseconds
    if progress:
        print(f"simulate: generating ~{expected:,.0f} events ahead, publishing from {start:%H:%M:%S}",
              file=sys.stderr, flush=True)
    emissions = list(_emissions(seed, start, rate, bad_fraction, max_event_bytes, count, duration,
                                shared_phone_fraction))
    # The stream lives until the last send: keep the collector's full passes off it. Each walked every
    # emission while sends waited, 0.9 s at most in a 96,000-event run, so events went out up to that
    # late and a load test counted the publisher's pause as pipeline latency.
    gc.freeze()
    return start, emissions


def publish(bootstrap: str, topic: str, *, rate: float, count: int | None = None, duration: float | None = None,
            seed: int = 1, bad_fraction: float = 0.0, start: dt.datetime | None = None,
            max_event_bytes: int = 65536, progress: bool = True, stop: threading.Event | None = None,
            on_emit: Callable[[Emission], None] | None = None, producer_config: dict | None = None,
            ahead: bool = False, gateway: str = "", gateway_channels: frozenset[str] = frozenset(),
            shared_phone_fraction: float = SHARED_PHONE_FRACTION) -> PublishStats:
    """ahead: generate the whole stream first (generate_ahead; needs `duration`), then only send.
    gateway: the HTTP gateway's URL, to which events of `gateway_channels` that it will accept are posted
    instead (help desks post webhooks; broken ones still go to Kafka, where ingest dead-letters them)."""
    from kafka import KafkaProducer

    from streams.gateway.client import GatewayClient

    if ahead:
        if duration is None:
            raise ValueError("generating ahead needs a duration")
        start, stream = generate_ahead(seed, rate, bad_fraction, max_event_bytes, count, duration, progress,
                                       shared_phone_fraction)
        # virtual second 0 is due at `start`: the monotonic clock's reading then
        wall0 = time.monotonic() + (start - dt.datetime.now(dt.UTC)).total_seconds()
        late = time.monotonic() - wall0
        if late > 0:
            print(f"simulate: generating took {late:.1f} s longer than planned; event times are that far behind",
                  file=sys.stderr, flush=True)
    else:
        start = start or dt.datetime.now(dt.UTC)
        stream = _emissions(seed, start, rate, bad_fraction, max_event_bytes, count, duration, shared_phone_fraction)
        wall0 = time.monotonic()
    producer = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5,
                             max_request_size=max(2 * max_event_bytes, 1_048_576), **(producer_config or {}))
    poster = GatewayClient(gateway) if gateway else None
    stats = PublishStats()
    last_report = time.monotonic()
    try:
        for emission in stream:
            if stop is not None and stop.is_set():
                break
            wait = emission.at - (time.monotonic() - wall0)
            if wait > 0:
                if stop is not None:
                    if stop.wait(wait):
                        break
                else:
                    time.sleep(wait)
            if poster is not None and emission.channel in gateway_channels and emission.expect in POSTABLE:
                poster.post(emission.value, emission.headers)
            else:
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
                print(f"simulate: {stats.produced:,} events ({stats.produced / max(now - wall0, 1e-3):,.0f}/s), "
                      f"{stats.produced - stats.valid:,} malformed", file=sys.stderr, flush=True)
        producer.flush()
    finally:
        producer.close()
        if poster is not None:
            poster.close()
    stats.elapsed = time.monotonic() - wall0
    return stats
