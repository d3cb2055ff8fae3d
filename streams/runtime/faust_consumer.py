"""Faust's aiokafka consumer and producer, fixed where faust-streaming 0.15.3 (pinned) loses, repeats
or stalls events. Each fix, the test that found it and the numbers, is in docs/faust-pitfalls.md:

- a gap never covers an offset delivered since the assignment (`_add_gap`), and an offset acked
  twice counts once (`next_commit`): after a restart's seek Faust took delivered offsets for a gap;
- a commit never passes an unacked offset (`next_commit`; Faust's head-gap check is off by one),
  and a partition whose commit such a hole held for `kafka.hole_timeout` is read again from its
  committed offset (`_read_holes_again`);
- a partition with no committed offset is read from its beginning and commits start there
  (`perform_seek`): records fetched before Faust's seek were skipped unacked;
- the wait for in-flight messages before a rebalance or a stop ends after `kafka.wait_empty_timeout`;
- highwaters (how far table recovery reads a changelog) are the true log ends (streams.runtime.log_end);
- the fetch wait is `kafka.fetch_max_wait` (Faust fixes it at 1.5 s);
- the producer drops a connection whose metadata request has had no answer for METADATA_TIMEOUT,
  tracks the metadata of every topic it sends to, and is idempotent where the broker grants producer ids.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiokafka import AIOKafkaProducer, errors
from aiokafka.client import AIOKafkaClient
from aiokafka.conn import CloseReason
from aiokafka.protocol.transaction import InitProducerIdRequest
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.utils.functional import consecutive_numbers
from kafka import TopicPartition

from streams.runtime import metrics
from streams.runtime.connections import kafka_client_config
from streams.runtime.log_end import true_ends_with

log = logging.getLogger(__name__)


def next_commit(acked: list[int], index: set[int], gaps, committed: int | None) -> int | None:
    """The offset to commit: one past the run of acked offsets (gap offsets count as acked) that
    starts at `committed`; None while `committed` itself is not acked. Takes the run out of
    `acked`/`index` and the gap offsets it used out of `gaps` (an IntervalTree), as Faust does."""
    if not acked:
        return None
    if gaps:
        top = max(acked)
        covered = [n for iv in sorted(gaps.overlap(0, top), key=lambda iv: iv.begin) for n in range(iv.begin, iv.end)]
        if covered:
            acked.extend(covered)
            gaps.chop(0, max(covered[-1], top) + 1)
    if committed is not None and min(acked) < committed:  # gap offsets before the committed one
        acked[:] = [a for a in acked if a >= committed]
        if not acked:
            return None
    if len(acked) != len(set(acked)):
        acked[:] = set(acked)
    acked.sort()
    if committed is not None and acked[0] > committed:
        return None
    run = next(consecutive_numbers(acked))
    acked[: len(run)] = []
    index.difference_update(run)
    return run[-1] + 1


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = int(self.app.cx_settings.kafka.fetch_max_wait * 1000)  # read by start()
        return consumer


class GapSafeConsumer(aiokafka_driver.Consumer):
    """Gaps only over offsets never delivered; commits never past an unacked offset (holes are
    read again); bounded waits for in-flight messages; true highwaters."""

    def __post_init__(self) -> None:  # mode.Service hook, runs at the end of __init__
        super().__post_init__()
        self._delivered: dict[TP, int] = {}  # highest offset handed to the streams, per assigned partition
        self._hole_since: dict[TP, float] = {}  # when a partition's commit started waiting on a hole

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

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._delivered.pop(tp, None)
            self._hole_since.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def perform_seek(self) -> None:
        """Seek to the committed offsets, and partitions with none to their beginning."""
        await super().perform_seek()
        await self._seek_unknown_to_beginning()

    async def _seek_unknown_to_beginning(self) -> None:
        """Seek each partition with no committed offset to its beginning and take that as its committed
        offset, so commits start there (Faust clears it on revoke; the first commit replaces it)."""
        unknown = [tp for tp in self.assignment()
                   if self._committed_offset[tp] is None and self.app.topics.acks_enabled_for(tp.topic)]
        if not unknown:
            return
        for tp, offset in (await self.earliest_offsets(*unknown)).items():
            await self.seek(tp, offset)
            self._committed_offset[tp] = offset

    def _new_offset(self, tp: TP) -> int | None:
        offset = next_commit(self._acked[tp], self._acked_index[tp], self._gap[tp], self._committed_offset[tp])
        if offset is None and self._acked[tp]:
            self._hole_since.setdefault(tp, time.monotonic())
        else:
            self._hole_since.pop(tp, None)
        return offset

    async def commit(self, *args, **kwargs) -> bool:
        committed = await super().commit(*args, **kwargs)
        await self._read_holes_again()
        return committed

    async def _read_holes_again(self) -> None:
        """Seek a partition whose commit has waited on a hole for hole_timeout back to its committed offset."""
        if self.app.rebalancing or self.app.should_stop or not self._hole_since:
            return
        limit = self.app.cx_settings.kafka.hole_timeout
        now, assigned = time.monotonic(), self.assignment()
        stuck = {tp: self._committed_offset[tp] for tp, since in list(self._hole_since.items())
                 if now - since >= limit and tp in assigned and self._committed_offset[tp] is not None}
        if not stuck:
            return
        for tp, offset in stuck.items():
            log.warning("%s: offset %d was never acked and held commits for %.0f s; reading from it again "
                        "(%d later offsets acked)", tp, offset, now - self._hole_since.pop(tp), len(self._acked[tp]))
            metrics.HOLES_READ_AGAIN.inc()
            self._acked[tp].clear()
            self._acked_index[tp].clear()
            self._gap.pop(tp, None)
            self._delivered.pop(tp, None)
        await self.seek_wait(stuck)

    async def wait_empty(self) -> None:
        """Faust's wait for in-flight messages to be acked, for at most kafka.wait_empty_timeout."""
        deadline = time.monotonic() + self.app.cx_settings.kafka.wait_empty_timeout
        while not self.should_stop and self._pending_acks():
            if time.monotonic() >= deadline:
                left = sorted((m.tp.topic, m.tp.partition, m.offset) for m in self._pending_acks())
                log.warning("gave up waiting for %d messages to be acked (they are not committed and will be "
                            "read again): %s", len(left), left[:10])
                break
            await self.commit()
            if not self._pending_acks():
                break
            await self._wait_for_ack(timeout=1)
            self._clean_unacked_messages()
        await self.commit_and_end_transactions()

    def _pending_acks(self) -> list:
        """Unacked messages of the current generation (older ones are read again after the seek)."""
        generation = self.app.consumer_generation_id
        return [m for m in list(self._unacked_messages) if not m.acked and m.generation_id == generation]

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        reported = await super().highwaters(*partitions)
        config = kafka_client_config(self.app.cx_settings)
        ends = await asyncio.get_running_loop().run_in_executor(
            None, true_ends_with, config, {TopicPartition(tp.topic, tp.partition): end for tp, end in reported.items()})
        return {TP(tp.topic, tp.partition): end for tp, end in ends.items()}

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


METADATA_TIMEOUT = 30.0  # seconds; the Java client's request.timeout.ms


class _MetadataBoundClient(AIOKafkaClient):
    """The producer's client: a metadata request unanswered for METADATA_TIMEOUT drops its connection,
    and every topic sent to is tracked."""

    async def _wait_on_metadata(self, topic):
        # aiokafka tracks a topic only when its partitions are unknown at the first send; a topic
        # listed by a refresh made while it tracked none (every topic's metadata) is not, so the
        # next refresh (of tracked topics only) drops its leaders and its batches wait for a leader
        # for good: producer.flush() hung at start-up with "unknown leaders" (the 8-partition
        # rebalance test on Apache Kafka, 2 of 2 with the idempotent producer, now and then before).
        if topic not in self._topics:
            await self.add_topic(topic)
        return await super()._wait_on_metadata(topic)

    async def _metadata_update(self, cluster_metadata, topics):
        try:
            async with asyncio.timeout(METADATA_TIMEOUT):
                return await super()._metadata_update(cluster_metadata, topics)
        except TimeoutError:
            log.warning("producer: no answer to a metadata request within %.0fs; reconnecting", METADATA_TIMEOUT)
            for conn in list(self._conns.values()):
                conn.close(reason=CloseReason.CONNECTION_TIMEOUT)
            cluster_metadata.failed_update(None)
            return False  # the synchronizer's waiters ask again, on a new connection


_COORDINATOR_NOT_READY = (errors.CoordinatorLoadInProgressError, errors.CoordinatorNotAvailableError,
                          errors.NotCoordinatorError)
PRODUCER_ID_WAIT = 30.0  # seconds a new cluster gets to load its transaction coordinator


async def grants_producer_ids(producer: AIOKafkaProducer) -> bool:
    """Whether the broker hands out producer ids (InitProducerId), which idempotent writes need.
    Apache Kafka does; the embedded Tansu's memory engine answers with an unknown error."""
    await producer.start()
    try:
        client, deadline = producer.client, time.monotonic() + PRODUCER_ID_WAIT
        while True:
            answer = await client.send(client.get_random_node(),
                                       InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60_000))
            error = errors.for_code(answer.error_code)
            if error not in _COORDINATOR_NOT_READY or time.monotonic() > deadline:
                return error is errors.NoError
            await asyncio.sleep(0.2)  # a new cluster creates its transaction state topic first
    finally:
        await producer.stop()


class Producer(aiokafka_driver.Producer):
    """Idempotent where the broker allows it: a batch sent again after a lost connection (a broker
    restart) is then written once, where it was appended twice before (an alert change twice on
    cx.alerts in the broker-outage test)."""

    idempotent = False

    async def on_start(self) -> None:
        self.idempotent = await grants_producer_ids(super()._new_producer())
        if not self.idempotent:
            log.warning("producer: the broker grants no producer ids; writes retried after a lost "
                        "connection may be appended twice")
        await super().on_start()

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), **({"acks": "all", "enable_idempotence": True} if self.idempotent else {})}

    def _new_producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        producer = super()._new_producer(transactional_id)
        producer.client.__class__ = _MetadataBoundClient  # built inside __init__ and shared with the sender
        return producer


class Transport(aiokafka_driver.Transport):
    Consumer = GapSafeConsumer
    Producer = Producer
