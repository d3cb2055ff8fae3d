"""How every stage consumes: one consumer group per stage, read in batches by a plain aiokafka consumer.

Why not Faust agents: Faust costs about 115 µs of CPU per consumed message (its consumer thread, an
Event per message, per-message acks; measured with a bare `take_events` loop against 7 µs for a bare
aiokafka loop on the same topic), and it needed ten fixes to its consumer to lose no offset
(docs/faust-pitfalls.md). A stage here is a handler of batches; its state is a streams.runtime.state
Table, rebuilt in the assignment callback before the first fetch.

Delivery is "process, flush, then commit": each batch is handled, the app's producer (the one the
stages send through) is flushed, and only then may the batch's offsets be committed for the stage's
group (`<app_id>-<name>`), at most every `kafka.commit_interval` seconds (a commit per batch cost
a broker round trip on every hop). A rebalance waits for the batch in flight and commits what was
handled (the revoke callback takes the same lock); records of partitions revoked while a batch was
being gathered are left to their new owner, which reads them from the committed offset. After a
crash what was handled since the last commit is read again: dedup drops ingest's output as a
redelivery (same origin), state writes are last-value-wins, and stored rows are idempotent
(streams.warehouse.replays).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, ProducerClosed
from faust.exceptions import NotReady

from streams.process.connections import kafka_client_config
from streams.runtime.state import Table

log = logging.getLogger(__name__)

LEAVE_TIMEOUT = 15.0  # seconds a stopping stage waits to commit and leave its group; a stop stays bounded
Batch = dict[TopicPartition, list]  # aiokafka ConsumerRecords by partition, in offset order
Handler = Callable[[Batch], Awaitable[None]]


def group_of(app_id: str, name: str) -> str:
    """The consumer group of a stage's batch source."""
    return f"{app_id}-{name}"


class _WaitForBatch(ConsumerRebalanceListener):
    def __init__(self, source: BatchSource) -> None:
        self.source = source

    async def on_partitions_revoked(self, revoked) -> None:
        async with self.source._lock:  # the batch in flight is committed before the partitions go
            self.source.epoch += 1  # what was gathered before is read again from the committed offsets
            await self.source._commit_pending()  # the new owners start after what this worker has sent
            for tp in revoked:
                self.source.committed.pop(tp, None)
                self.source.fetched.pop(tp, None)
            for table in self.source.tables:
                table.revoke({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned) -> None:
        source = self.source
        if source.app.should_stop:  # the worker is stopping: no table is rebuilt for partitions it leaves
            return
        source.assigned_at = time.time()
        partitions = {tp.partition for tp in assigned}
        async with source._lock:  # no batch is handled on a table being rebuilt
            try:
                for table in source.tables:
                    await table.assign(partitions)
                if source.on_assigned is not None:
                    await source.on_assigned(partitions)
            except Exception as exc:  # aiokafka would log it and fetch on: the stage stops instead
                source.failed = exc
                raise
            source.ready_epoch = source.epoch
        source.joined.set()  # even with no partitions: the group has more members than partitions


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

    Partitions of several topics are assigned by number alike (range assignment): a stage reading its
    events and its clock ticks gets partition p of both, and its `tables` hold partition p's keys.

    A batch is what arrived until `within` seconds after its oldest record was produced (or `size`
    records; `batch_deadline`), so a busy topic gives large batches and a quiet one a batch per
    record at most `within` late.
    """

    def __init__(self, app, settings, name: str, topics: list[str], size: int, within: float,
                 max_poll_interval: float = 300.0, tables: tuple[Table, ...] = (),
                 on_assigned: Callable[[set[int]], Awaitable[None]] | None = None) -> None:
        self.app, self.settings, self.name, self.topics = app, settings, name, topics
        self.tables, self.on_assigned = tables, on_assigned  # state kept per partition, rebuilt when assigned
        self.size, self.within, self.max_poll_interval = size, within, max_poll_interval
        self.consumer: AIOKafkaConsumer | None = None
        self.committed: dict[TopicPartition, int] = {}
        self.fetched: dict[TopicPartition, int] = {}  # next offset after the last record handed out
        self._lock = asyncio.Lock()
        self._peak: dict[str, int] = {}  # highest lag per topic since the last lag() read
        self.commit_interval = settings.kafka.commit_interval
        self._uncommitted: dict[TopicPartition, int] = {}  # handled and flushed, not yet committed
        self._commit_due = 0.0
        self.epoch, self.ready_epoch = 0, -1  # revocations so far; the one the tables were rebuilt after
        self.failed: Exception | None = None  # a table that could not be rebuilt at an assignment
        self.joined = asyncio.Event()  # set at the first assignment (streams.runtime.consumer_status)
        self.assigned_at = 0.0  # wall clock of the last assignment: records made before may be a replay

    async def run(self, handle: Handler) -> None:
        k = self.settings.kafka
        self.consumer = consumer = AIOKafkaConsumer(
            group_id=group_of(k.app_id, self.name), enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=int(k.session_timeout * 1000), heartbeat_interval_ms=int(k.heartbeat_interval * 1000),
            rebalance_timeout_ms=int(k.rebalance_timeout * 1000),
            max_poll_interval_ms=int(self.max_poll_interval * 1000), max_poll_records=self.size,
            partition_assignment_strategy=(RangePartitionAssignor,),
            fetch_max_wait_ms=int(k.fetch_max_wait * 1000),
            **kafka_client_config(self.settings))
        consumer.subscribe(self.topics, listener=_WaitForBatch(self))
        await consumer.start()
        try:
            while True:
                epoch = self.epoch
                batch = await self._gather()
                if self.failed is not None:
                    raise RuntimeError(f"{self.name}: its state could not be rebuilt") from self.failed
                async with self._lock:
                    if epoch != self.epoch or self.ready_epoch != epoch:
                        self._read_again(batch)
                        continue
                    assigned = consumer.assignment()
                    batch = {tp: records for tp, records in batch.items() if tp in assigned}
                    if batch:
                        self._note_peak()
                        try:
                            await handle(batch)
                            await self.app.producer.flush()  # what the batch sent is in Kafka before its offsets move
                        except (NotReady, ProducerClosed):  # the worker stopped its producer meanwhile (Faust's
                            # NotReady, or aiokafka's ProducerClosed mid-send): the batch stays uncommitted
                            if not self.app.should_stop:
                                raise
                            log.info("%s: stopping; the batch in hand is read again by the partitions' next owner",
                                     self.name)
                            return
                        self._uncommitted.update({tp: records[-1].offset + 1 for tp, records in batch.items()})
                        if time.monotonic() >= self._commit_due:
                            await self._commit_pending()
        finally:
            await self.leave(consumer)
            self.consumer = None
            for table in self.tables:
                table.close()

    async def leave(self, consumer: AIOKafkaConsumer) -> None:
        """At a stop: commit what was handled and flushed (the next owner does not read it again), and
        leave the group, within LEAVE_TIMEOUT: aiokafka's stop first waits for a join in progress, so a
        group that never answers would hold the worker's stop (and a SIGTERM) for good."""
        try:
            async with asyncio.timeout(LEAVE_TIMEOUT):
                if self._uncommitted:
                    try:
                        await self._commit_pending()
                    except Exception as exc:  # noqa: BLE001 -- the next owner reads it again instead
                        log.info("%s: last commit at stop failed (%s)", self.name, exc)
                await consumer.stop()
        except TimeoutError:
            log.warning("%s: the group did not let this worker leave within %.0f s; the broker drops it "
                        "after its session timeout", self.name, LEAVE_TIMEOUT)

    def _read_again(self, batch: Batch) -> None:
        """Drop a batch gathered across a rebalance (part of it may predate the tables' rebuild): each
        partition still assigned is read again from the batch's first record, since the consumer's
        position has moved past what was gathered after the new assignment."""
        assigned = self.consumer.assignment()
        for tp, records in batch.items():
            if tp in assigned:
                self.consumer.seek(tp, min(r.offset for r in records))

    async def _gather(self) -> Batch:
        batch: Batch = {}
        count, deadline = 0, None
        while True:
            wait = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            fetched = await self.consumer.getmany(timeout_ms=int(wait * 1000), max_records=self.size - count)
            if self.failed is not None:
                return batch
            if not fetched and self._uncommitted and time.monotonic() >= self._commit_due:
                async with self._lock:  # idle: what was handled last is committed on time all the same
                    await self._commit_pending()
            for tp, records in fetched.items():
                batch.setdefault(tp, []).extend(records)
                count += len(records)
                self.fetched[tp] = records[-1].offset + 1
            if count and deadline is None:
                oldest = min(gathered[0].timestamp for gathered in batch.values()) / 1000
                deadline = batch_deadline(time.monotonic(), time.time(), oldest, self.within)
            if count >= self.size or (count and time.monotonic() >= deadline):
                return batch

    async def _commit_pending(self) -> None:
        """Commit the offsets past the batches handled (and flushed) since the last commit."""
        offsets, self._uncommitted = self._uncommitted, {}
        self._commit_due = time.monotonic() + self.commit_interval
        if offsets:
            await self._commit(offsets)

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
