"""Dedup stage: each (source, id) is processed once within the configured window.

Records in: `Validated` envelopes on the validated topic, routed by source+id (every copy on one
partition). Records out: `CxEvent` envelopes on the accepted topic, routed by the customer's
strongest identifier (source+id when it has none: an anonymous contact); true duplicates go to
the DLQ with reason "duplicate". Identifiers refused at ingest are counted here, once per
accepted event, beside the valid events.

The seen-table is a changelogged Faust table, so the window survives restarts; its values and
what they tell apart after a crash are in streams.domain.dedup.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from streams.domain.dedup import Verdict, judge
from streams.domain.records import decode_validated, encode
from streams.domain.rejections import Reason, Rejected
from streams.runtime import metrics, state_store
from streams.runtime.envelopes import unpack
from streams.runtime.faust_batches import BatchWrites, batches
from streams.stages import forget


def register(app, settings, topics) -> None:
    window = settings.ingest.dedup_window_seconds
    # JSON for keys too: with the app default ("raw") str keys would come back as bytes on recovery.
    # Entries leave by age, not by deletes: RocksDB drops them at compaction after the window (TTL),
    # the changelog deletes segments older than twice the window, and `judge` ignores any entry
    # older than the window that is still there. Nothing per key stays in memory.
    seen = app.Table("dedup_seen", default=None, partitions=settings.kafka.partitions,
                     key_type=str, value_type=bytes,  # values: JSON [origin, position, seen_ts]
                     options=state_store.table_options(ttl=int(window) + 1),
                     extra_topic_configs={"cleanup.policy": "compact,delete",
                                          "retention.ms": str(int(2 * window * 1000))})
    metrics.STATE_KEYS.labels(table="dedup_seen").set_function(lambda: state_store.stored_keys(seen))

    accepted = topics.name(topics.accepted)
    consumed, valid = metrics.CONSUMED.labels(stage="dedup"), metrics.Children(metrics.VALID)
    identifiers_refused = metrics.Children(metrics.IDENTIFIERS_REFUSED)

    @app.agent(topics.validated, name="dedup", concurrency=1)
    async def dedup(stream):
        # msgspec, not orjson, encodes the kept values: orjson 3.13 returns each as a 4 KiB allocation
        # whatever its length, which made the dedup window cost 4 KiB per event (found in the soak run)
        writes = BatchWrites(seen, msgspec.json.decode, msgspec.json.encode)
        size, within = settings.ingest.dedup_batch_size, settings.ingest.dedup_batch_seconds
        async for batch in batches(stream, size, within=within):
            out, duplicates, read, by_channel, refused = topics.envelopes(), [], 0, Counter(), Counter()
            for event in batch:
                message = event.message
                p, now_ts = message.partition, message.timestamp  # Faust gives seconds
                if message.key == forget.FORGET:  # an erasure: these source+id pairs were never seen
                    for key in forget.decode(message.value).keys:
                        writes.delete(key, p)
                    continue
                for index, value in enumerate(unpack(message.value)):
                    read += 1
                    record = decode_validated(value)
                    ev = record.event
                    key, position = ev.dedup_key, f"{p}:{message.offset}:{index}"
                    prior = writes.get(key, p)
                    verdict = judge(prior, ev.origin, position, now_ts - window)
                    if verdict is Verdict.NEW:
                        writes.set(key, [ev.origin, position, now_ts], p)
                    if verdict in (Verdict.NEW, Verdict.REPLAY):
                        by_channel[ev.channel] += 1
                        refused.update((issue.kind, issue.reason) for issue in ev.identifier_issues)
                        out.add(accepted, ev.route_key.encode(), encode(ev))
                    elif verdict is Verdict.REDELIVERY:
                        metrics.REDELIVERIES.inc()
                    else:
                        metrics.DUPLICATES.inc()
                        duplicates.append((record, prior[0]))
            consumed.inc(read)  # counters once per batch: an update per record showed in profiles
            for channel, n in by_channel.items():
                valid(channel).inc(n)
            for labels, n in refused.items():
                identifiers_refused(*labels).inc(n)
            await writes.commit(app.producer)
            await topics.send_envelopes(out)
            for record, first in duplicates:
                ev = record.event
                await topics.dead_letter(
                    record.raw, Rejected(Reason.DUPLICATE, f"source+id already seen at {first}"),
                    stage="dedup", origin=ev.origin, source=ev.source, event_id=ev.id)
