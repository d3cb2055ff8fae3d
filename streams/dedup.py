"""Dedup stage: each (source, id) is processed once within the configured window.

Records in: `Validated` on the validated topic, keyed by source+id (every copy on one partition).
Records out: `CxEvent` on the accepted topic, keyed by the customer's strongest identifier;
true duplicates go to the DLQ with reason "duplicate".

The seen-table is a changelogged Faust table, so the window survives restarts. Its value is
[origin, position, seen_ts]: origin = where the inbound message was, position = where this
stage read it. That tells three cases apart after a crash (at-least-once delivery):
- same position: this stage re-reads its own input -> emit again (the sink is idempotent);
- same origin, new position: ingest re-ran on the same inbound message -> drop silently;
- different origin: the channel system sent the event twice -> dead-letter as duplicate.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from enum import Enum

import faust

from streams import metrics
from streams.faust_batches import batches, each_event
from streams.records import decode_validated, encode
from streams.rejections import Reason, Rejected


class Verdict(Enum):
    NEW = "new"
    REPLAY = "replay"
    REDELIVERY = "redelivery"
    DUPLICATE = "duplicate"


def judge(prior: list | None, origin: str, position: str) -> Verdict:
    if prior is None:
        return Verdict.NEW
    if prior[1] == position:
        return Verdict.REPLAY
    if prior[0] == origin:
        return Verdict.REDELIVERY
    return Verdict.DUPLICATE


class Expiry:
    """Per-partition min-heaps of (seen_ts, key): which keys left the window, in stream time."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._heaps: dict[int, list[tuple[float, str]]] = defaultdict(list)

    def note(self, partition: int, seen_ts: float, key: str) -> None:
        heapq.heappush(self._heaps[partition], (seen_ts, key))

    def due(self, partition: int, now_ts: float):
        heap = self._heaps[partition]
        while heap and heap[0][0] < now_ts - self.window:
            yield heapq.heappop(heap)

    def rebuild(self, items) -> None:
        """From the recovered table: value[1] is 'partition:offset', value[2] the seen time."""
        self._heaps.clear()
        for key, value in items:
            if value:
                self.note(int(value[1].split(":", 1)[0]), value[2], key)


def register(app, settings, topics) -> None:
    window = settings.ingest.dedup_window_seconds
    # JSON for keys too: with the app default ("raw") str keys would come back as bytes on recovery.
    seen = app.Table("dedup_seen", default=None, partitions=settings.kafka.partitions,
                     schema=faust.Schema(key_serializer="json", value_serializer="json"))
    expiry = Expiry(window)

    @seen.on_recover
    async def _rebuild_expiry() -> None:
        expiry.rebuild(list(seen.data.items()))

    @app.agent(topics.validated, name="dedup", concurrency=1)
    async def dedup(stream):
        async for batch in batches(stream, settings.sink.batch_size, within=0.05):
            for event in each_event(batch):
                message = event.message
                metrics.CONSUMED.labels(stage="dedup").inc()
                record = decode_validated(message.value)
                ev = record.event
                key, now_ts = ev.dedup_key, message.timestamp  # Faust gives seconds
                position = f"{message.partition}:{message.offset}"
                for seen_ts, old in expiry.due(message.partition, now_ts):
                    value = seen.get(old)
                    if value and value[2] == seen_ts:
                        del seen[old]
                verdict = judge(seen.get(key), ev.origin, position)
                if verdict is Verdict.NEW:
                    seen[key] = [ev.origin, position, now_ts]
                    expiry.note(message.partition, now_ts, key)
                if verdict in (Verdict.NEW, Verdict.REPLAY):
                    metrics.VALID.labels(channel=ev.channel).inc()
                    await topics.send(topics.accepted, ev.customer_key.encode(), encode(ev))
                elif verdict is Verdict.REDELIVERY:
                    metrics.REDELIVERIES.inc()
                else:
                    metrics.DUPLICATES.inc()
                    first = seen.get(key)[0]
                    await topics.dead_letter(
                        record.raw, Rejected(Reason.DUPLICATE, f"source+id already seen at {first}"),
                        stage="dedup", origin=ev.origin, source=ev.source, event_id=ev.id)
