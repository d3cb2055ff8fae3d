"""`cxpulse forget`: the erasure request as an event, and the wait for its receipt.

The CLI does not erase by itself: the worker's privacy stage owns the state stores and, with chDB,
the warehouse. It publishes cx.privacy.erasure_requested on the input topic, as any automation
would, and reads the receipts topic (from before it published) for the one of its request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import orjson

from streams.domain.erasure import erasure_id
from streams.domain.times import rfc3339_at
from streams.warehouse.customers import CUSTOMER_ID, candidates

SOURCE = "/cxpulse/cli/forget"


def request_event(text: str, region: str, now: float, event_id: str | None = None) -> dict | None:
    """The CloudEvent asking to forget whoever has `text` (as `cxpulse timeline` reads it), or None
    when it is no identifier. A customer id goes in `subject` (data.customer still names it)."""
    text = text.strip()
    if CUSTOMER_ID.fullmatch(text):
        customer, subject = {"customer_id": text}, {"subject": text}
    else:
        customer = {kind: value for kind, _, value in (c.partition(":") for c in candidates(text, region)) if value}
        subject = {}
    if not customer:
        return None
    return {"specversion": "1.0", "id": event_id or uuid.uuid4().hex, "source": SOURCE,
            "type": "cx.privacy.erasure_requested", "time": rfc3339_at(now), "datacontenttype": "application/json",
            **subject, "data": {"customer": customer}}


def await_receipt(consumer, erasure: str, timeout: float, progress: Callable[[float], None]) -> dict | None:
    """The receipt of `erasure` from a consumer assigned to the receipts topic, or None at the timeout."""
    started = last = time.monotonic()
    while time.monotonic() - started < timeout:
        for records in consumer.poll(timeout_ms=500).values():
            for r in records:
                if r.key == erasure.encode() and r.value:
                    return orjson.loads(r.value)
        if time.monotonic() - last >= 5:
            last = time.monotonic()
            progress(last - started)
    return None


def forget(settings, text: str, timeout: float, progress: Callable[[str], None]) -> tuple[dict | None, str]:
    """Publish the request and wait for its receipt: (receipt or None, erasure id); raises ValueError
    when `text` is no identifier."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from streams.process.connections import kafka_client_config

    event = request_event(text, settings.ingest.default_phone_region, time.time())
    if event is None:
        raise ValueError(f"{text!r} is no identifier (an email, a phone, kind:value or a customer id c_...)")
    erasure = erasure_id(event["source"], event["id"])
    config = kafka_client_config(settings)
    consumer = KafkaConsumer(enable_auto_commit=False, **config)
    producer = KafkaProducer(acks="all", **config)
    try:
        topic = settings.kafka.erasures_topic
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not tps:
            raise ValueError(f"topic {topic} does not exist: run `cxpulse topics create` (or start a worker) first")
        consumer.assign(tps)
        consumer.seek_to_end(*tps)
        for tp in tps:
            consumer.position(tp)  # resolve the end now, before the request can be answered
        producer.send(settings.kafka.input_topics[0], orjson.dumps(event)).get(30)
        progress(f"erasure {erasure} requested; waiting up to {timeout:g} s for the worker's receipt")
        return await_receipt(consumer, erasure, timeout, lambda s: progress(f"still erasing after {s:.0f} s")), erasure
    finally:
        producer.close()
        consumer.close()
