"""Fault injection on a real broker: bad input floods, failing webhooks. Nothing lost, nothing twice."""

from __future__ import annotations

import datetime as dt
import json
import random
import time

import pytest
from kafka import KafkaConsumer

from streams.simulator.generate import generate
from tests.integration.pipeline import Pipeline
from tests.integration.webhooks import Receiver

pytestmark = pytest.mark.integration


def fuzz(rng: random.Random, value: bytes) -> bytes:
    """One random damage to a payload: flipped, cut, inserted, repeated or replaced bytes."""
    op = rng.randrange(5)
    if op == 0:
        raw = bytearray(value)
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    if op == 1:
        return value[: rng.randrange(len(value))]
    if op == 2:
        at = rng.randrange(len(value))
        return value[:at] + rng.randbytes(rng.randint(1, 16)) + value[at:]
    if op == 3:
        at = rng.randrange(len(value))
        return value[:at] + value[at: at + rng.randint(1, 64)] * rng.randint(2, 5) + value[at:]
    return rng.randbytes(rng.randint(0, 256))


def topic_records(pipeline: Pipeline, setting: str) -> list[dict]:
    consumer = KafkaConsumer(pipeline.env[setting], bootstrap_servers=pipeline.bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        return [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()


@pytest.mark.same_on_any_broker(reason="what is refused and why is the parser's; "
                                       "one worker, no restart (losses under kill -9 and outages run on both brokers)")
def test_a_flood_of_malformed_events_among_good_ones_loses_nothing_and_stores_nothing_twice(pipeline):
    """10,000 fuzzed payloads plus 10,000 simulated events (20% of them broken the ways channel systems break them)."""
    rng = random.Random(7)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    simulated = []
    for e in generate(seed=7, start=start, rate=1000, bad_fraction=0.2):
        simulated.append(e)
        if len(simulated) == 20_000:
            break
    fuzzed, clean = simulated[:10_000], simulated[10_000:]
    pipeline.start_worker()
    for i, e in enumerate(clean):
        pipeline.producer.send(pipeline.input_topic, key=e.key, value=e.value, headers=e.headers)
        damaged = fuzzed[i]
        headers = [(n, fuzz(rng, v) if rng.random() < 0.2 else v) for n, v in damaged.headers]
        pipeline.producer.send(pipeline.input_topic, key=damaged.key, value=fuzz(rng, damaged.value), headers=headers)
    pipeline.flush()
    published = len(clean) + len(fuzzed)
    pipeline.wait_drained(timeout=300)
    assert pipeline.worker.poll() is None, "the worker died on bad input"
    alerts = topic_records(pipeline, "CXPULSE_KAFKA_ALERTS_TOPIC")
    assert pipeline.stop_worker() == 0

    stored = pipeline.query("SELECT source, event_id FROM cx.events FINAL")
    physical = pipeline.scalar("SELECT count() FROM cx.events")
    dead = pipeline.scalar("SELECT count() FROM cx.dead_letters FINAL")
    reasons = {r["reason"]: r["n"] for r in pipeline.query("SELECT reason, count() AS n FROM cx.dead_letters FINAL GROUP BY reason")}
    changes = [(a["alert_id"], a["state"]) for a in alerts]
    print(f"fuzz flood: published {published:,} ({len(fuzzed):,} fuzzed), stored {len(stored):,}, "
          f"dead-lettered {dead:,} {reasons}, alerts {len(alerts):,}, duplicate rows {physical - len(stored)}, "
          f"duplicate alerts {len(changes) - len(set(changes))}")
    assert len(stored) + dead == published, "an event neither stored nor dead-lettered"
    keys = {(r["source"], r["event_id"]) for r in stored}
    valid = {(e.source, e.id) for e in clean if e.expect == "valid"}
    assert valid <= keys, f"{len(valid - keys)} good events lost"
    assert physical == len(stored), "duplicate rows visible"
    assert len(changes) == len(set(changes)), "duplicate alert changes"


@pytest.mark.same_on_any_broker(reason='the webhook is the fault; one worker, no restart')
def test_a_webhook_that_hangs_then_fails_does_not_hold_up_the_pipeline(pipeline, tmp_path):
    """The endpoint hangs past the timeout, then answers 500; alerts still flow, deliveries end up retried or dead-lettered."""
    receiver = Receiver(hang_then_fail)
    n = 20
    try:
        with_fast_alerts(pipeline, tmp_path, receiver.url, timeout=1, max_attempts=3)
        pipeline.start_worker()
        base = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
        for i in range(n):  # queued half an hour ago (live clock): every threshold has passed
            pipeline.send(queued(i, base + dt.timedelta(seconds=i)))
        pipeline.flush()
        pipeline.wait_stored(events=n, dead_letters=n, timeout=240)  # every open alert given up on, dead-lettered
        assert pipeline.worker.poll() is None
        assert pipeline.stop_worker() == 0
        undelivered = pipeline.scalar("SELECT count() FROM cx.dead_letters FINAL WHERE stage = 'webhook'")
        opened = pipeline.scalar("SELECT count() FROM cx.alerts FINAL WHERE state = 'open'")
        print(f"hanging webhook: {n} events stored, {opened} alerts opened, {len(receiver.calls)} calls, "
              f"{undelivered} deliveries dead-lettered")
        assert opened == n and undelivered == n and len(receiver.calls) == 3 * n
    finally:
        receiver.close()


def hang_then_fail(call: int, since_first: float) -> int:
    """Every other call hangs past a 1 s client timeout; every call ends in HTTP 500."""
    if call % 2:
        time.sleep(3)
    return 500


def with_fast_alerts(pipeline: Pipeline, tmp_path, url: str, *, timeout: float, max_attempts: int,
                     retry_max: float = 30.0) -> None:
    """Queue-wait alerts 5 s after queueing, delivered to url with the secret `s3cret`."""
    rules = tmp_path / "rules.toml"
    rules.write_text("[long_queue_wait]\nopen_seconds = 5\nescalate_seconds = 7200\n")
    pipeline.env |= {"CXPULSE_DETECT_RULES_FILE": str(rules), "CXPULSE_WEBHOOK_URLS": url,
                     "CXPULSE_WEBHOOK_SECRET": "s3cret", "CXPULSE_WEBHOOK_TIMEOUT_SECONDS": str(timeout),
                     "CXPULSE_WEBHOOK_MAX_ATTEMPTS": str(max_attempts),
                     "CXPULSE_WEBHOOK_RETRY_INITIAL_SECONDS": "0.2", "CXPULSE_WEBHOOK_RETRY_MAX_SECONDS": str(retry_max)}


def queued(i: int, at: dt.datetime) -> dict:
    return {"specversion": "1.0", "id": f"q-{i}", "source": "/fault/voice", "type": "cx.contact.queued",
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data": {"channel": "voice", "customer": {"email": f"waiting{i}@example.com"}, "contact_id": f"call-{i}",
                     "queue": "billing"}}
