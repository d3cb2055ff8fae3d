"""The public topics that carry one record per event, read in batches by a plain aiokafka consumer.

Why not a Faust agent: Faust costs about 115 µs of CPU per consumed message (its consumer thread,
an Event per message, per-message acks; measured with a bare `take_events` loop against 7 µs for
a bare aiokafka loop on the same topic), and the input topic and the identity links topic carry
one message per event each, so that bookkeeping was the largest share of a worker's CPU.
Internal topics carry envelopes (streams.runtime.envelopes) and stay on Faust, which owns the tables.

Delivery is the same "process, flush, then commit": each batch is handled, the app's producer
(the one the stages send through) is flushed, and only then are the batch's offsets committed
for the source's consumer group (`<app_id>-<name>`). A rebalance waits for the batch in flight
(the revoke callback takes the same lock), and records of partitions revoked while a batch was
being gathered are left to their new owner, which reads them from the committed offset. After
a crash the uncommitted records are read again: ingest's output is dropped by dedup as a
redelivery (same origin), and stored rows are idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from faust.exceptions import NotReady

from streams.runtime.connections import kafka_client_config

log = logging.getLogger(__name__)

Batch = dict[TopicPartition, list]  # aiokafka ConsumerRecords by partition, in offset order
Handler = Callable[[Batch], Awaitable[None]]


def group_of(app_id: str, name: str) -> str:
    """The consumer group of a batch source (the Faust stages commit under `app_id` itself)."""
    return f"{app_id}-{name}"


class _WaitForBatch(ConsumerRebalanceListener):
    def __init__(self, source: BatchSource) -> None:
        self.source = source

    async def on_partitions_revoked(self, revoked) -> None:
        async with self.source._lock:  # the batch in flight is committed before the partitions go
            for tp in revoked:
                self.source.committed.pop(tp, None)
                self.source.fetched.pop(tp, None)

    async def on_partitions_assigned(self, assigned) -> None:
        self.source.assigned_at = time.time()
        self.source.joined.set()  # even with no partitions: the group has more members than partitions


def batch_deadline(now: float, wall: float, oldest_produced: float, within: float) -> float:
    """When a batch whose oldest record was produced at `oldest_produced` (wall clock) closes, on the
    clock `now` reads: `within` seconds after that record was produced, never later than `within`
    from now (a producer's clock ahead of ours) and never before now.

    Counting from when the record was produced rather than when it was read: records that arrived
    while the previous batch was being stored are already late, and waiting a whole `within` for
    them again made the resolved events' way into the warehouse the largest hop of live latency
    (p50 0.66-0.90 s at 2,400 ev/s with `sink.batch_seconds` 0.5)."""
    return now + min(within, max(0.0, within - (wall - oldest_produced)))


class BatchSource:
    """One consumer group over `topics`; `run(handle)` feeds batches of up to `size` records.

    A batch is what arrived until `within` seconds after its oldest record was produced (or `size`
    records; `batch_deadline`), so a busy topic gives large batches and a quiet one a batch per
    record at most `within` late.
    """

    def __init__(self, app, settings, name: str, topics: list[str], size: int, within: float,
                 max_poll_interval: float = 300.0) -> None:
        self.app, self.settings, self.name, self.topics = app, settings, name, topics
        self.size, self.within, self.max_poll_interval = size, within, max_poll_interval
        self.consumer: AIOKafkaConsumer | None = None
        self.committed: dict[TopicPartition, int] = {}
        self.fetched: dict[TopicPartition, int] = {}  # next offset after the last record handed out
        self._lock = asyncio.Lock()
        self._peak: dict[str, int] = {}  # highest lag per topic since the last lag() read
        self.joined = asyncio.Event()  # set at the first assignment (streams.runtime.consumer_status)
        self.assigned_at = 0.0  # wall clock of the last assignment: records made before may be a replay

    async def run(self, handle: Handler) -> None:
        k = self.settings.kafka
        self.consumer = consumer = AIOKafkaConsumer(
            group_id=group_of(k.app_id, self.name), enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=int(k.session_timeout * 1000), heartbeat_interval_ms=int(k.heartbeat_interval * 1000),
            max_poll_interval_ms=int(self.max_poll_interval * 1000), max_poll_records=self.size,
            fetch_max_wait_ms=int(k.fetch_max_wait * 1000),
            **kafka_client_config(self.settings))
        consumer.subscribe(self.topics, listener=_WaitForBatch(self))
        await consumer.start()
        try:
            while True:
                batch = await self._gather()
                async with self._lock:
                    assigned = consumer.assignment()
                    batch = {tp: records for tp, records in batch.items() if tp in assigned}
                    if batch:
                        self._note_peak()
                        try:
                            await handle(batch)
                            await self.app.producer.flush()  # what the batch sent is in Kafka before its offsets move
                        except NotReady:  # the worker stopped its producer meanwhile: the batch stays uncommitted
                            if not self.app.should_stop:
                                raise
                            log.info("%s: stopping; the batch in hand is read again by the partitions' next owner",
                                     self.name)
                            return
                        await self._commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
        finally:
            self.consumer = None
            await consumer.stop()

    async def _gather(self) -> Batch:
        batch: Batch = {}
        count, deadline = 0, None
        while True:
            wait = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            fetched = await self.consumer.getmany(timeout_ms=int(wait * 1000), max_records=self.size - count)
            for tp, records in fetched.items():
                batch.setdefault(tp, []).extend(records)
                count += len(records)
                self.fetched[tp] = records[-1].offset + 1
            if count and deadline is None:
                oldest = min(gathered[0].timestamp for gathered in batch.values()) / 1000
                deadline = batch_deadline(time.monotonic(), time.time(), oldest, self.within)
            if count >= self.size or (count and time.monotonic() >= deadline):
                return batch

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # the group moved on (rebalance, or this worker was too slow): the new owner re-reads
            log.warning("%s: commit refused (%s); the partitions' new owner reads them again", self.name, exc)
            return
        self.committed.update(offsets)

    def _current(self) -> dict[str, int]:
        """{topic: messages not yet committed} on this source's assigned partitions, now.

        The end is the log end the last fetch reported, or past the last record handed out when that
        is further (the embedded broker under-reports log ends: streams.runtime.log_end), so a batch in flight
        counts. A partition counts from its first commit here: until then its committed offset is unknown."""
        consumer, lag = self.consumer, {}
        if consumer is None:
            return lag
        for tp in consumer.assignment():
            end, committed = max(consumer.highwater(tp) or 0, self.fetched.get(tp, 0)), self.committed.get(tp)
            if committed is not None:
                lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - committed)
        return lag

    def _note_peak(self) -> None:
        for topic, messages in self._current().items():
            self._peak[topic] = max(self._peak.get(topic, 0), messages)

    def lag(self) -> dict[str, int]:
        """The highest lag per topic since the last call (see _current), then the peaks start again.

        A batch source commits every few tens of milliseconds, so a gauge read once a second between
        batches would almost always see 0 while events flow; the lag a batch started with is what the
        worker was behind."""
        self._note_peak()
        lag, self._peak = self._peak, {}
        return lag
