"""Faust's aiokafka consumer, with gaps limited to offsets that were never delivered.

Faust 0.15 records a "gap" when a partition's next message is more than one
offset past its read offset (compacted or transactional topics), and counts the
gap's offsets as done for commits. After every restart, table recovery seeks
the stream partitions to their committed offsets, which resets the read offset,
while aiokafka goes on handing out records it fetched before: the jump looks
like a gap over offsets that were delivered moments ago and may not be stored
yet. A commit could then pass them (loss on a crash in that window), and when
they are acked the acked list holds them twice, so commits creep forward one
offset per interval (minutes of lag after a kill -9; logged in issue 2).

Here a gap never covers an offset already delivered since the partition was
assigned (those commit when they are acked), and the acked list is kept free
of duplicates. Seen in a kill -9 test: every stream partition got a spurious
gap of ~40 offsets right after "Seek stream partitions to committed offsets".

Highwaters (how far table recovery reads a changelog) are corrected by reading
the last batch: the embedded broker under-reports them (see streams.log_end).

Faust fixes the fetch wait at 1.5 s; the embedded broker holds a fetch for about a quarter of it
even when records arrive, which cost ~0.4 s per stage hop. It is kafka.fetch_max_wait here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Mapping, Set

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from kafka import TopicPartition

from streams import metrics
from streams.connections import kafka_client_config
from streams.log_end import true_ends_with

log = logging.getLogger(__name__)


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = int(self.app.cx_settings.kafka.fetch_max_wait * 1000)  # read by start()
        return consumer


class GapSafeConsumer(aiokafka_driver.Consumer):
    """Records gaps only over offsets never delivered; dedupes acked offsets; true highwaters."""

    def __post_init__(self) -> None:  # mode.Service hook, runs at the end of __init__
        super().__post_init__()
        self._delivered: dict[TP, int] = {}  # highest offset handed to the streams, per assigned partition

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        delivered = self._delivered
        async for tp, message in super().getmany(timeout):
            yield tp, message
            if message.offset > delivered.get(tp, -1):
                delivered[tp] = message.offset

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # _drain_messages calls this for the message at offset_to before handing it over;
        # `delivered` is updated only once it has been, so it holds what came before.
        delivered = self._delivered.get(tp, -1)
        if delivered >= offset_from:
            metrics.SPURIOUS_GAP_OFFSETS.inc(min(delivered, offset_to) - offset_from + 1)
            log.debug("%s: offsets %d-%d were delivered already; not a gap", tp, offset_from,
                      min(delivered, offset_to))
            offset_from = delivered + 1
        if offset_from <= offset_to:
            await super()._add_gap(tp, offset_from, offset_to)

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        for tp in revoked:
            self._delivered.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        reported = await super().highwaters(*partitions)
        config = kafka_client_config(self.app.cx_settings)
        ends = await asyncio.get_running_loop().run_in_executor(
            None, true_ends_with, config, {TopicPartition(tp.topic, tp.partition): end for tp, end in reported.items()})
        return {TP(tp.topic, tp.partition): end for tp, end in ends.items()}

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        if len(acked) != len(set(acked)):
            acked[:] = sorted(set(acked))
        return super()._new_offset(tp)


class Transport(aiokafka_driver.Transport):
    Consumer = GapSafeConsumer
