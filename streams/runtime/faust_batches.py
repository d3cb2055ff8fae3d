"""Batch iteration over a Faust stream, and table writes coalesced per batch.

Stages read `Stream.take_events()` batches and ack them only after the loop body has finished
with the whole batch ("process/store, then commit"). Table writes do not go through Faust's
`table[key] = value`: that picks the changelog partition from Faust's "current event", which
take_events' background buffering moves to the newest buffered event while a batch is being
processed (A's state would land on B's partition and be lost on the next rebalance), and it
sends one changelog record per write. `BatchWrites` names the partition explicitly instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from faust.serializers import codecs
from rocksdict import WriteBatch

from streams.runtime import metrics
from streams.runtime.envelopes import send_records

log = logging.getLogger(__name__)


async def batches(stream, size: int, within: float) -> AsyncIterator[Sequence]:
    async for batch in stream.take_events(size, within=within):
        yield batch


class BatchWrites:
    """A table's writes during one batch, coalesced, with the changelog sent straight to the producer.

    A key touched by many records of a batch costs one changelog record instead of one per
    record. `commit` puts each key's last value into the table's local RocksDB (one DB per
    partition, streams.runtime.state_store) and sends the changelog records in produce batches through
    the app's producer (the one Faust flushes before it commits offsets), skipping Faust's
    per-write send path (a future, a buffer and three callbacks per write, the largest cost of a
    table write). Reads and writes name the partition: the one the key's records arrive on. Keys
    and values are serialized with the table's own codecs, so the local DB and the changelog hold
    what Faust's own write would have, and recovery reads them alike.
    `commit` must be awaited before the batch is acked.

    `cache` > 0 keeps that many committed values decoded (least recently used out): a stage whose
    keys come back (a customer's next event, an identifier seen again) skips the DB read and the
    decode, a fifth of the detection stage's time at 5,000 ev/s. Only this agent writes these
    partitions between rebalances, so the cache is exact until the next one; it is dropped and unused
    while one runs (a partition may come back rebuilt from another worker's writes).
    A value taken from the cache may be changed in place: it is the one the next `set` stores, and
    an agent that fails mid-batch is restarted with a new BatchWrites.
    """

    def __init__(self, table, decode: Callable[[bytes], Any], encode: Callable[[Any], bytes], cache: int = 0) -> None:
        self.table, self.decode, self.encode = table, decode, encode
        self._pending: dict[str, tuple[int, Any]] = {}
        self._cache_size = cache
        self._cache: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._generation = table.app.consumer_generation_id

    def get(self, key: str, partition: int):
        """The value as this batch left it, else the table's (decoded), else None.

        Read from the partition's DB directly: Faust's own lookup takes the partition from its
        "current event", which take_events moves ahead of the batch being processed.
        """
        pending = self._pending.get(key)
        if pending is not None and pending[0] == partition:
            return None if pending[1] is _DELETED else pending[1]
        cache = self._cache
        cached = cache.get(key) if self._cache_usable() else None
        if cached is not None and cached[0] == partition:  # a record sent to every partition asks each
            cache.move_to_end(key)
            return cached[1]
        table = self.table
        raw = table.data._db_for_partition(partition).get(codecs.dumps(table.key_serializer, key))
        return None if raw is None else self.decode(codecs.loads(table.value_serializer, raw))

    def set(self, key: str, value, partition: int) -> None:
        self._pending[key] = (partition, value)

    def delete(self, key: str, partition: int) -> None:
        self._pending[key] = (partition, _DELETED)

    async def commit(self, producer) -> None:
        """Store every pending value locally, then send its changelog record."""
        table = self.table
        key_codec, value_codec = table.key_serializer, table.value_serializer  # what recovery decodes with
        records = []
        for key, (partition, value) in self._pending.items():
            raw_key = codecs.dumps(key_codec, key)
            raw = None if value is _DELETED else codecs.dumps(value_codec, self.encode(value))
            records.append((partition, raw_key, raw))
        await _write_local(table, records)
        self._remember()
        self._pending = {}
        if records:
            await send_records(producer, table.changelog_topic_name, records)

    def _cache_usable(self) -> bool:
        """False, with the cache emptied, during a rebalance (recovery may still be writing the DBs) and
        the first time after one (what was read before it may have changed)."""
        app = self.table.app
        if app.rebalancing or app.consumer_generation_id != self._generation:
            self._cache.clear()
            self._generation = app.consumer_generation_id
            return False
        return True

    def _remember(self) -> None:
        """Keep the values just stored decoded, unless a rebalance came since they were read."""
        if not self._cache_size or not self._cache_usable():
            return
        cache = self._cache
        for key, (partition, value) in self._pending.items():
            if value is _DELETED:
                cache.pop(key, None)
            else:
                cache[key] = (partition, value)
                cache.move_to_end(key)
        while len(cache) > self._cache_size:
            cache.popitem(last=False)


_DELETED = object()


async def _write_local(table, records: list[tuple[int, bytes, bytes | None]]) -> None:
    """Write (partition, key, value or None for a delete) to the partitions' local DBs, one write
    batch each, retrying with backoff while that fails (a full disk): the stage waits, and its input
    waits in Kafka, instead of the agent crashing mid-batch (Faust restarts a crashed agent, but the
    batch it held stays unacked and commits stop behind it). Puts and deletes are idempotent, so a
    retry rewrites what had been written; a write batch is spent even by a failed write, so each
    attempt builds its own."""
    delay = 0.5
    while True:
        batches: dict[int, WriteBatch] = defaultdict(lambda: WriteBatch(raw_mode=True))
        for partition, key, value in records:
            if value is None:
                batches[partition].delete(key)
            else:
                batches[partition].put(key, value)
        try:
            for partition, batch in batches.items():
                table.data._db_for_partition(partition).write(batch)
            return
        except Exception as exc:  # rocksdict raises a plain Exception("IO error: ...")
            metrics.STORE_FAILURES.labels(table=table.name).inc()
            log.warning("writing table %s locally failed (%s); retrying in %.1fs", table.name, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
