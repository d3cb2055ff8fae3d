"""cx.alerts (and cx.work_items) without losses or duplicates across crashes: the topic is checked
against the table.

The detection table (changelog) and cx.alerts are written by the same producer but are not one
transaction: a crash can leave an alert change in the table and not on the topic, or on the
topic and not in the table (the change is then computed again when its events are replayed).
So after every recovery the stage flushes its producer, reads what its partitions of cx.alerts
already hold, sends the current version of every alert in its table that is missing there, and from then on never sends
an (alert_id, version) the topic already has. Alerts are keyed by customer, like the stage's
input, so both live on the same partition numbers.
"""

from __future__ import annotations

import orjson

from streams.runtime.bounded import BoundedSet

TAIL = 200_000  # alert changes read back per partition after a recovery


def on_topic(kafka_config: dict, topic: str, partitions: list[int], id_field: str = "alert_id") -> set[tuple[str, int]]:
    """(id, version) of the newest TAIL records of each partition (blocking; run in a thread)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(enable_auto_commit=False, consumer_timeout_ms=1000, **kafka_config)
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return set()
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        starts = consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(starts[tp], ends[tp] - TAIL))
        found: set[tuple[str, int]] = set()
        remaining = {tp for tp in tps if consumer.position(tp) < ends[tp]}
        while remaining:
            batch = consumer.poll(timeout_ms=1000, max_records=5000)
            if not batch:
                remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
                continue
            for tp, records in batch.items():
                for r in records:
                    record = orjson.loads(r.value)
                    found.add((record[id_field], record["version"]))
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return found
    finally:
        consumer.close()


class Published:
    """(id, version) pairs known to be on cx.alerts or cx.work_items (alert and item ids never collide):
    read back after recovery, then sent."""

    def __init__(self, size: int = 500_000) -> None:
        self._seen = BoundedSet(size)

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._seen

    def claim(self, key: tuple[str, int]) -> bool:
        """True the first time only: the caller sends it. Claimed before the send is awaited, since
        the agent's sends and a recovery's resends interleave at that await (a producer blocked by a
        broker outage holds the agent there while the group rebalances)."""
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def update(self, keys) -> None:
        for key in keys:
            self._seen.add(key)
