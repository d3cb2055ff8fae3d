"""The simulation engine: stories arrive as a Poisson process and interleave on a virtual clock.

A heap holds each running story's next step; popping it in time order gives a time-ordered
stream of CloudEvents whose `time` is start + virtual seconds. Everything is drawn from one
seeded RNG, so (seed, start, rate, fractions) fixes every byte.

Stories last minutes (a call, an email thread), so the clock starts a warm-up before 0 and
events before 0 are not emitted: the first emitted second already has calls ending, surveys
arriving and the full event rate, like a contact center that was open before you looked.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass
from typing import Iterator

import orjson

from streams.domain.rejections import Reason
from streams.domain.times import rfc3339
from streams.simulator import malformed
from streams.simulator.scenarios import SHARED_PHONE_FRACTION, SOURCES, STORIES, new_customer

STRUCTURED = [("content-type", b"application/cloudevents+json")]


@dataclass(frozen=True)
class Emission:
    at: float  # virtual seconds since start
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    channel: str
    type: str
    expect: str  # "valid" (stored, identifier issues included) or the Reason ingest/dedup must give it
    source: str
    id: str


def _mean_events_per_story(seed: int, horizon: float) -> float:
    """Events a story has within `horizon` seconds of its start, on average: measured once per seed on
    a private RNG, so the arrival rate hits the requested event rate. Only the events within the
    warm-up count: a story's later steps (an email answered hours on) fall after the stream has
    ended, and counting them made the stream 10 % (200/s) to 55 % (5,000/s) thinner than asked."""
    rng = random.Random(seed ^ 0x5EED)
    stories, weights = zip(*STORIES)
    total = 0
    for n in range(400):
        story = rng.choices(stories, weights)[0]
        elapsed = 0.0
        for delay, _, _ in story(rng, new_customer(rng, n)):
            elapsed += delay
            if elapsed > horizon:
                break
            total += 1
    return total / 400


def _key(data: dict) -> bytes:
    if data.get("contact_id"):
        return data["contact_id"].encode()
    kind, value = next(iter(data["customer"].items()))
    return f"{kind}:{value}".encode()


def generate(seed: int, start: dt.datetime, rate: float, bad_fraction: float = 0.0, binary_fraction: float = 0.3,
             max_event_bytes: int = 65536, shared_phone_fraction: float = SHARED_PHONE_FRACTION) -> Iterator[Emission]:
    """shared_phone_fraction: the share of customers who call from a switchboard number others share."""
    rng = random.Random(seed)
    stories, weights = zip(*STORIES)
    warmup = min(900.0, 450_000 / rate)  # bounded: skipping costs ~8 µs per unemitted event
    arrivals_per_s = rate / _mean_events_per_story(seed, warmup)
    heap: list = []
    seq = 0
    recent: deque[Emission] = deque(maxlen=500)

    def schedule(at: float, steps) -> None:
        nonlocal seq
        for delay, type_, data in steps:
            heapq.heappush(heap, (at + delay, seq, type_, data, steps))
            seq += 1
            return

    next_arrival = -warmup + rng.expovariate(arrivals_per_s)
    customers = 0
    numbers = itertools.count()  # own phone numbers, in the order stories first use them
    while True:
        while not heap or next_arrival <= heap[0][0]:
            customers += 1
            story = rng.choices(stories, weights)[0]
            schedule(next_arrival, story(rng, new_customer(rng, customers, shared_phone_fraction, numbers)))
            next_arrival += rng.expovariate(arrivals_per_s)
        clock, _, type_, data, steps = heapq.heappop(heap)
        schedule(clock, steps)
        if clock < 0:
            continue
        channel = data["channel"]
        event = {"specversion": "1.0", "id": f"{rng.getrandbits(128):032x}", "source": SOURCES[channel],
                 "type": type_, "time": rfc3339(start + dt.timedelta(seconds=clock)),
                 "datacontenttype": "application/json", "data": data}
        key = _key(data)
        if bad_fraction and rng.random() < bad_fraction:
            kind = rng.choice(malformed.KINDS)
            if kind is Reason.DUPLICATE and recent:
                twin = rng.choice(recent)
                yield Emission(clock, twin.key, twin.value, twin.headers, twin.channel, twin.type,
                               str(Reason.DUPLICATE), twin.source, twin.id)
                continue
            if kind is not Reason.DUPLICATE:
                expect = "valid" if kind == malformed.IDENTIFIER_ISSUE else str(kind)
                yield Emission(clock, key, malformed.break_event(rng, kind, event, max_event_bytes), STRUCTURED,
                               channel, type_, expect, event["source"], event["id"])
                continue
        if rng.random() < binary_fraction:
            headers = [(f"ce_{name}", str(event[name]).encode()) for name in ("specversion", "id", "source", "type", "time")]
            emission = Emission(clock, key, orjson.dumps(data), headers + [("content-type", b"application/json")],
                                channel, type_, "valid", event["source"], event["id"])
        else:
            emission = Emission(clock, key, orjson.dumps(event), STRUCTURED, channel, type_, "valid",
                                event["source"], event["id"])
        recent.append(emission)
        yield emission
