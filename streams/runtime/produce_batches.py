"""Send many records to a topic as produce batches built in one go (aiokafka's BatchBuilder).

Why: a per-record `send` costs a metadata wait, a partition check, a future and a completion
callback each; for the records a stage emits per event (changelog writes, identity links) that
was a large share of a worker's CPU. A batch costs those once. Batches go into the same
aiokafka producer Faust flushes before it commits offsets, so "sent before acked" still holds.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from aiokafka.partitioner import DefaultPartitioner

Record = tuple[bytes | None, bytes | None]  # key, value
_partitioner = DefaultPartitioner()


async def send_records(producer, topic: str, records: Iterable[tuple[int | None, bytes | None, bytes | None]]) -> int:
    """Send (partition, key, value) records; a None partition hashes the key as Kafka clients do.

    `producer` is Faust's producer (its aiokafka producer does the work). Returns records sent.
    """
    aio = producer._ensure_producer()
    await aio.client._wait_on_metadata(topic)
    partitions = sorted(aio.client.cluster.partitions_for_topic(topic))
    by_partition: dict[int, list[Record]] = defaultdict(list)
    for partition, key, value in records:
        if partition is None:
            partition = _partitioner(key, partitions, partitions)
        by_partition[partition].append((key, value))
    sent = 0
    for partition, items in by_partition.items():
        batch = aio.create_batch()
        for key, value in items:
            if batch.append(timestamp=None, key=key, value=value) is None:  # full
                await aio.send_batch(batch, topic, partition=partition)
                batch = aio.create_batch()
                if batch.append(timestamp=None, key=key, value=value) is None:
                    raise ValueError(f"a record of {len(value or b'')} bytes does not fit a produce batch")
        await aio.send_batch(batch, topic, partition=partition)
        sent += len(items)
    return sent
