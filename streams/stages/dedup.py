"""Dedup stage: each (source, id) is processed once within the configured window.

Records in: `Validated` envelopes on the validated topic, routed by source+id (every copy on one
partition). What it accepts it routes to the identity graph itself (streams.stages.identity.Router:
an Observe per identifier on the graph topic, or the event on the resolved topic when it has none);
true duplicates go to the DLQ with reason "duplicate". Identifiers refused at ingest are counted
here, once per accepted event, beside the valid events.

The seen-table is changelogged (streams.runtime.state), so the window survives restarts; its values and
what they tell apart after a crash are in streams.domain.dedup.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from streams.domain.dedup import Verdict, judge
from streams.domain.records import decode_validated, encode
from streams.domain.rejections import Reason, Rejected
from streams.process import metrics
from streams.runtime.batch_source import Batch, BatchSource
from streams.runtime.envelopes import unpack
from streams.runtime.state import Table
from streams.stages import forget


def register(app, settings, topics, router) -> BatchSource:
    """router: streams.stages.identity.Router, where accepted events go."""
    window = settings.ingest.dedup_window_seconds
    # Entries leave by age, not by deletes: RocksDB drops them at compaction after the window (TTL),
    # the changelog deletes segments older than twice the window, and `judge` ignores any entry
    # older than the window that is still there. Nothing per key stays in memory.
    # msgspec, not orjson, encodes the kept values: orjson 3.13 returns each as a 4 KiB allocation
    # whatever its length, which made the dedup window cost 4 KiB per event (found in the soak run)
    seen = Table(settings, "dedup_seen", msgspec.json.decode, msgspec.json.encode,  # values: [origin, position, seen_ts]
                 ttl=int(window) + 1, topic_configs={"cleanup.policy": "compact,delete",
                                                    "retention.ms": str(int(2 * window * 1000))})
    source = BatchSource(app, settings, "dedup", [topics.validated], settings.ingest.dedup_batch_size,
                         settings.ingest.dedup_batch_seconds, tables=(seen,))
    consumed, valid = metrics.CONSUMED.labels(stage="dedup"), metrics.Children(metrics.VALID)
    identifiers_refused = metrics.Children(metrics.IDENTIFIERS_REFUSED)

    async def handle(batch: Batch) -> None:
        out, duplicates, read, by_channel, refused, blocked = topics.envelopes(), [], 0, Counter(), Counter(), []
        for tp, messages in batch.items():
            p = tp.partition
            for message in messages:
                now_ts = message.timestamp / 1000
                if message.key == forget.FORGET:  # an erasure: these source+id pairs were never seen
                    for key in forget.decode(message.value).keys:
                        seen.delete(key, p)
                    continue
                for index, value in enumerate(unpack(message.value)):
                    read += 1
                    record = decode_validated(value)
                    ev = record.event
                    key, position = ev.dedup_key, f"{p}:{message.offset}:{index}"
                    prior = seen.get(key, p)
                    verdict = judge(prior, ev.origin, position, now_ts - window)
                    if verdict is Verdict.NEW:
                        seen.set(key, [ev.origin, position, now_ts], p)
                    if verdict in (Verdict.NEW, Verdict.REPLAY):
                        by_channel[ev.channel] += 1
                        refused.update((issue.kind, issue.reason) for issue in ev.identifier_issues)
                        router.route(ev, encode(ev), out, blocked)
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
        await seen.commit(app.producer)
        await topics.send_envelopes(out)
        await router.send_blocked(app.producer, blocked)
        for record, first in duplicates:
            ev = record.event
            await topics.dead_letter(
                record.raw, Rejected(Reason.DUPLICATE, f"source+id already seen at {first}"),
                stage="dedup", origin=ev.origin, source=ev.source, event_id=ev.id)

    @app.task
    async def dedup() -> None:
        await source.run(handle)

    return source
