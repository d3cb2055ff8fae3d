"""The I/O behind `cxpulse alerts claim|...`: find the item named, publish the action, read its verdict.

Alerts and work items are read from their public topics, not the warehouse (a running worker
holds the embedded chDB), as `cxpulse alerts` does; the newest version gives the identifiers the
action is stitched by. The verdict is the work item version whose `action.event_id` is the
published event's id: the detection stage writes one for every action it applies, accepted or not.
"""

from __future__ import annotations

import time

import orjson

from streams.cli.replay import STRUCTURED
from streams.process.connections import kafka_client_config


def consumer_of(settings, *topics: str):
    """A consumer assigned every partition of the topics (no group: nothing committed), and those partitions."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(enable_auto_commit=False, **kafka_client_config(settings))
    tps = [TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(tps)
    return consumer, tps


def newest(settings, topic: str, id_field: str, wanted: str) -> dict | None:
    """The newest version of the record whose `id_field` is `wanted`, reading the topic to its end."""
    consumer, tps = consumer_of(settings, topic)
    try:
        if not tps:
            return None
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        found = None
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                for r in records:
                    record = orjson.loads(r.value)
                    if record[id_field] == wanted and (found is None or record["version"] > found["version"]):
                        found = record
        return found
    finally:
        consumer.close()


def ends(settings, topic: str) -> dict:
    """The topic's end offsets now: the verdict on an action published after this is beyond them."""
    consumer, tps = consumer_of(settings, topic)
    try:
        return consumer.end_offsets(tps) if tps else {}
    finally:
        consumer.close()


def verdict(settings, topic: str, since: dict, event_id: str, timeout: float) -> dict | None:
    """The work item version carrying the verdict on event `event_id`, or None after `timeout` seconds."""
    consumer, tps = consumer_of(settings, topic)
    try:
        for tp in tps:
            consumer.seek(tp, since.get(tp, 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                for r in records:
                    record = orjson.loads(r.value)
                    if (record.get("action") or {}).get("event_id") == event_id:
                        return record
        return None
    finally:
        consumer.close()


def producer_of(settings):
    from kafka import KafkaProducer

    return KafkaProducer(acks="all", **kafka_client_config(settings))


def publish(settings, event: dict, key: str, producer=None) -> None:
    """Send one structured-mode event to the first input topic and wait for the broker's ack.

    producer: a client's long-lived one (producer_of); by default one for this event only."""
    own = producer is None
    producer = producer_of(settings) if own else producer
    try:
        producer.send(settings.kafka.input_topics[0], key=key.encode(), value=orjson.dumps(event),
                      headers=STRUCTURED).get(timeout=30)
    finally:
        if own:
            producer.close()
