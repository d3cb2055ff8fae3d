"""Dedup stage: each (source, id) is processed once within the configured window.

Records in: `Validated` envelopes on the validated topic, routed by source+id (every copy on one
partition). Records out: `CxEvent` envelopes on the accepted topic, routed by the customer's
strongest identifier; true duplicates go to the DLQ with reason "duplicate".

The seen-table is a changelogged Faust table, so the window survives restarts. Its value is
[origin, position, seen_ts]: origin = where the inbound message was, position = where this
stage read it (partition:offset:index in the envelope). That tells three cases apart after a
crash (at-least-once delivery):
- same position: this stage re-reads its own input -> emit again (the sink is idempotent);
- same origin, new position: ingest re-ran on the same inbound message -> drop silently;
- different origin: the channel system sent the event twice -> dead-letter as duplicate.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from enum import Enum

import msgspec

from streams import metrics
from streams.envelopes import unpack
from streams.faust_batches import BatchWrites, batches
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
                     key_type=str, value_type=bytes)  # values: JSON [origin, position, seen_ts]
    expiry = Expiry(window)
    metrics.STATE_KEYS.labels(table="dedup_seen").set_function(lambda: len(seen.data))

    @seen.on_recover
    async def _rebuild_expiry() -> None:
        expiry.rebuild((key, msgspec.json.decode(value)) for key, value in list(seen.data.items()))

    accepted = topics.name(topics.accepted)
    consumed, valid = metrics.CONSUMED.labels(stage="dedup"), metrics.Children(metrics.VALID)

    @app.agent(topics.validated, name="dedup", concurrency=1)
    async def dedup(stream):
        # msgspec, not orjson, encodes the kept values: orjson 3.13 returns each as a 4 KiB allocation
        # whatever its length, which made the dedup window cost 4 KiB per event (found in the soak run)
        writes = BatchWrites(seen, msgspec.json.decode, msgspec.json.encode)
        async for batch in batches(stream, settings.sink.batch_size, within=0.05):
            out, duplicates = topics.envelopes(), []
            for event in batch:
                message = event.message
                p, now_ts = message.partition, message.timestamp  # Faust gives seconds
                for seen_ts, old in expiry.due(p, now_ts):
                    value = writes.get(old)
                    if value and value[2] == seen_ts:
                        writes.delete(old, p)
                for index, value in enumerate(unpack(message.value)):
                    consumed.inc()
                    record = decode_validated(value)
                    ev = record.event
                    key, position = ev.dedup_key, f"{p}:{message.offset}:{index}"
                    prior = writes.get(key)
                    verdict = judge(prior, ev.origin, position)
                    if verdict is Verdict.NEW:
                        writes.set(key, [ev.origin, position, now_ts], p)
                        expiry.note(p, now_ts, key)
                    if verdict in (Verdict.NEW, Verdict.REPLAY):
                        valid(ev.channel).inc()
                        out.add(accepted, ev.customer_key.encode(), encode(ev))
                    elif verdict is Verdict.REDELIVERY:
                        metrics.REDELIVERIES.inc()
                    else:
                        metrics.DUPLICATES.inc()
                        duplicates.append((record, prior[0]))
            await writes.commit(app.producer)
            await topics.send_envelopes(out)
            for record, first in duplicates:
                ev = record.event
                await topics.dead_letter(
                    record.raw, Rejected(Reason.DUPLICATE, f"source+id already seen at {first}"),
                    stage="dedup", origin=ev.origin, source=ev.source, event_id=ev.id)
