"""What stages send, batched: records in produce batches built in one go, and many records packed
into one Kafka message (an envelope) on the internal topics (validated, accepted, graph, resolved).

Why produce batches: a per-record `send` costs a metadata wait, a partition check, a future and a
completion callback each; for the records a stage emits per event (changelog writes, identity
links) that was a large share of a worker's CPU. A batch (aiokafka's BatchBuilder) costs those once.

Why envelopes: Faust spends tens of microseconds of bookkeeping on every message it consumes or
produces (futures, flow-control queues, offset tracking), far more than a stage's own work on a
record; with a record per message the identity loop alone made ~6 of them per event. A stage
collects what it sends during a batch and sends one envelope per (topic, partition) at the end of
the batch, before the batch is acked.

Both go into the aiokafka producer Faust flushes before it commits offsets (and the batch sources
flush before theirs), so "sent before acked" holds.

Routing: a record's partition is `crc32(key) mod partitions`, so one key always lands on one
partition and the stage that keeps state per key (dedup, identity nodes, detection) sees every
record of that key there, as Kafka's key partitioning would give. A record's place in the
stream is (partition, offset, index in the envelope): stable across replays, because a replayed
envelope holds the same records in the same order.
"""

from __future__ import annotations

import functools
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable

import msgspec
from aiokafka.partitioner import DefaultPartitioner, murmur2

MAX_ENVELOPE_BYTES = 256 * 1024  # well under the broker's default 1 MiB message limit

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[bytes]).decode
_partitioner = DefaultPartitioner()


async def send_records(producer, topic: str, records: Iterable[tuple[int | None, bytes | None, bytes | None]],
                       partition_by: Callable[[bytes, int], int] | None = None) -> None:
    """Send (partition, key, value) records through Faust's `producer` (its aiokafka producer does
    the work); a None partition is `partition_by(key, partitions)`, by default as Kafka clients
    hash keys (`kafka_partition`)."""
    partition_by = partition_by or kafka_partition
    aio = producer._ensure_producer()
    await aio.client._wait_on_metadata(topic)
    partitions = sorted(aio.client.cluster.partitions_for_topic(topic))
    by_partition: dict[int, list[tuple[bytes | None, bytes | None]]] = defaultdict(list)
    for partition, key, value in records:
        if partition is None:
            partition = _partitioner(key, partitions, partitions) if key is None else \
                partitions[partition_by(key, len(partitions))]
        by_partition[partition].append((key, value))
    for partition, items in by_partition.items():
        batch = aio.create_batch()
        for key, value in items:
            if batch.append(timestamp=None, key=key, value=value) is None:  # full
                await aio.send_batch(batch, topic, partition=partition)
                batch = aio.create_batch()
                if batch.append(timestamp=None, key=key, value=value) is None:
                    raise ValueError(f"a record of {len(value or b'')} bytes does not fit a produce batch")
        await aio.send_batch(batch, topic, partition=partition)


@functools.lru_cache(maxsize=1 << 16)
def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's clients give `key` (murmur2, as aiokafka's DefaultPartitioner and Java's).
    Cached: aiokafka's murmur2 is pure Python, an eighth of the identity stage's CPU in a backlog
    (benchmarks/results/profile-2026-12-06T231036+0000.md), and a run sends one key many times (an
    identifier's link versions, a customer's records)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partition_of(key: bytes, partitions: int) -> int:
    return zlib.crc32(key) % partitions


def unpack(value: bytes) -> list[bytes]:
    """The records of one envelope, in the order they were added."""
    return _decode(value)


class Envelopes:
    """Records waiting to be sent, grouped by topic and partition."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._open: dict[tuple[str, int], list[bytes]] = defaultdict(list)
        self._sizes: dict[tuple[str, int], int] = defaultdict(int)
        self._full: list[tuple[str, int, list[bytes]]] = []

    def add(self, topic: str, key: bytes, value: bytes) -> None:
        slot = (topic, partition_of(key, self.partitions))
        if self._sizes[slot] + len(value) > MAX_ENVELOPE_BYTES and self._open[slot]:
            self._full.append((*slot, self._open.pop(slot)))
            self._sizes[slot] = 0
        self._open[slot].append(value)
        self._sizes[slot] += len(value) + 5

    def drain(self) -> list[tuple[str, int, bytes]]:
        """Every envelope as (topic, partition, encoded records); the collector is empty afterwards."""
        envelopes = self._full + [(topic, partition, records) for (topic, partition), records in self._open.items()]
        self._full, self._open, self._sizes = [], defaultdict(list), defaultdict(int)
        return [(topic, partition, _encode(records)) for topic, partition, records in envelopes]

    async def flush(self, producer) -> None:
        """Send every envelope through `producer` (send_records)."""
        by_topic: dict[str, list] = defaultdict(list)
        for topic, partition, value in self.drain():
            by_topic[topic].append((partition, None, value))
        for topic, messages in by_topic.items():
            await send_records(producer, topic, messages)
