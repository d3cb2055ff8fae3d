"""Stage state: a table per stage, one RocksDB per input partition, changelogged, rebuilt on assignment.

A stage that keeps state (dedup's window, the identity graph's nodes, detection's customers) keeps
each key in the DB of the input partition its records arrive on, so the state moves with the
partition. Every batch's writes are coalesced (a key touched many times costs one record), put in the
local DB and sent to the table's changelog, the compacted topic `<app_id>-<table>-changelog` with one
partition per input partition, before the batch's offsets are committed (streams.runtime.batch_source
flushes the producer first). So the changelog holds at least what the committed offsets imply, and a
batch read again after a crash recomputes the rest.

When a source is assigned partitions, their DBs are dropped and rebuilt from the changelog read to its
true end (streams.runtime.log_end); when partitions are revoked, their DBs are closed and removed. Why
not keep a DB across a rebalance: a worker whose membership lapsed (a long pause) gets its partitions
back after another worker wrote them, and its copy would be stale. Why RocksDB and not the heap: a
worker would grow with its customers and the dedup window (about 40 MiB a minute at 1,000 events/s).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import rocksdict
from kafka import KafkaConsumer, TopicPartition
from rocksdict import Rdict, WriteBatch

from streams.process import metrics
from streams.process.connections import kafka_client_config
from streams.runtime.envelopes import send_records
from streams.runtime.log_end import true_ends

log = logging.getLogger(__name__)

# One memory budget for every table partition of the worker (tables x partitions DBs: 20 on the
# harness's 4 partitions, 40 on 8): their memtables share WRITE_BUFFERS through one write buffer
# manager (a DB flushes when its memtable reaches WRITE_BUFFER or the total reaches the budget),
# and their blocks share one BLOCK_CACHE. A cap per DB (2 x 1 MiB buffers and a 1 MiB cache each)
# grew with the partitions a worker holds: 60 MiB on 20 DBs. Reads that miss the decoded cache in
# front (`cache`) and the block cache come from the OS page cache. 4 MiB each against 8 (with the
# smaller decoded caches of 2026-12-07): 22-28 MiB less growth in the backlog row, no slower
# (docs/benchmarks.md).
WRITE_BUFFER = 1 << 20
WRITE_BUFFERS = 4 << 20
BLOCK_CACHE = 4 << 20
RESTORE_STALL_S = 60.0  # a changelog read that makes no progress this long fails the assignment


def changelog_topic(app_id: str, table: str) -> str:
    return f"{app_id}-{table}-changelog"


@functools.cache
def _options() -> rocksdict.Options:
    """The options every table partition opens with: one object, so one budget (see WRITE_BUFFERS)."""
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(WRITE_BUFFER)
    options.set_max_write_buffer_number(2)
    options.set_write_buffer_manager(rocksdict.WriteBufferManager(WRITE_BUFFERS, False))
    table = rocksdict.BlockBasedOptions()
    table.set_bloom_filter(10, block_based=True)
    table.set_block_cache(rocksdict.Cache(BLOCK_CACHE))
    options.set_block_based_table_factory(table)
    return options


@functools.cache
def _write_options() -> rocksdict.WriteOptions:
    """No write-ahead log: a DB is never reopened, only rebuilt from its changelog (see the module's
    docstring), so the log would be written and never read. A put costs 0.6-1.4 µs less without it."""
    options = rocksdict.WriteOptions()
    options.disable_wal = True
    return options


class Table:
    """A stage's keyed state; `get`/`set`/`delete` during a batch, `commit` before its offsets move.

    Keys are str, stored as JSON strings; values are what `decode`/`encode` make of bytes, stored as
    they are. That is the format Faust's tables wrote to these changelogs before (until 2026-12-06),
    so a worker upgraded across the change rebuilds the state they hold. `ttl` (seconds) lets RocksDB drop a
    key at compaction once it is that old (dedup's window); `topic_configs` are the changelog's.
    `cache` > 0 keeps that many committed values decoded, least recently used out: a key that comes
    back (a customer's next event, an identifier seen again) skips the DB read and the decode, a fifth
    of the detection stage's time at 5,000 ev/s. Only the owning stage writes its partitions while
    they are assigned, so the cache is exact; it is emptied at every assignment. A value taken from the
    cache may be changed in place: it is the one the next `set` stores.
    """

    def __init__(self, settings, name: str, decode: Callable[[bytes], Any], encode: Callable[[Any], bytes],
                 cache: int = 0, ttl: int | None = None, topic_configs: dict[str, str] | None = None) -> None:
        self.settings, self.name, self.decode, self.encode = settings, name, decode, encode
        self.topic = changelog_topic(settings.kafka.app_id, name)
        self.topic_configs = {"cleanup.policy": "compact", **(topic_configs or {})}
        self.path = settings.data_path / "state" / name
        self.ttl = ttl
        self._dbs: dict[int, Rdict] = {}
        self._pending: dict[str, tuple[int, Any]] = {}
        self._cache_size = cache
        self._cache: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        metrics.STATE_KEYS.labels(table=name).set_function(self.stored_keys)

    # --- assignment (streams.runtime.batch_source calls these with no batch in flight) ---

    async def assign(self, partitions: set[int]) -> None:
        """Drop the local DBs of `partitions` and rebuild them from the changelog, read to its end."""
        self.revoke(set(self._dbs))
        for p in partitions:
            self._dbs[p] = self._open(p)
        started = time.monotonic()
        restored = await asyncio.get_running_loop().run_in_executor(None, self._restore, sorted(partitions))
        log.info("table %s: partitions %s rebuilt from %d changelog records in %.2f s", self.name,
                 sorted(partitions), restored, time.monotonic() - started)

    def revoke(self, partitions: set[int]) -> None:
        self._cache.clear()
        self._pending = {}
        for p in partitions:
            db = self._dbs.pop(p, None)
            if db is not None:
                db.close()
            shutil.rmtree(self.path / str(p), ignore_errors=True)

    def close(self) -> None:
        self.revoke(set(self._dbs))

    def _open(self, partition: int) -> Rdict:
        """An empty DB for `partition` (whatever an earlier run left there is removed first)."""
        path = self.path / str(partition)
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        access = rocksdict.AccessType.read_write() if self.ttl is None else rocksdict.AccessType.with_ttl(self.ttl)
        db = Rdict(str(path), options=_options(), access_type=access)
        db.set_write_options(_write_options())
        return db

    def _restore(self, partitions: list[int]) -> int:
        """Apply the changelog of `partitions` from its start to its true end; the records applied.

        Runs on a thread with a blocking consumer of its own (no group): the worker's loop keeps its
        group heartbeats while a large changelog is read."""
        consumer = KafkaConsumer(enable_auto_commit=False, max_partition_fetch_bytes=8 << 20,
                                 **kafka_client_config(self.settings))
        try:
            tps = [TopicPartition(self.topic, p) for p in partitions]
            ends = true_ends(consumer, consumer.end_offsets(tps))
            pending = {tp for tp in tps if ends[tp] > 0}
            if not pending:
                return 0
            consumer.assign(sorted(pending))
            consumer.seek_to_beginning(*pending)
            applied, progress = 0, time.monotonic()
            while pending:
                for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
                    batch = WriteBatch(raw_mode=True)
                    for r in records:
                        if r.offset >= ends[tp]:
                            break
                        if r.value is None:
                            batch.delete(r.key)
                        else:
                            batch.put(r.key, r.value)
                        applied += 1
                    self._dbs[tp.partition].write(batch)
                    progress = time.monotonic()
                pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
                if time.monotonic() - progress > RESTORE_STALL_S:
                    raise TimeoutError(f"table {self.name}: changelog {sorted(pending)} not read to its end")
            return applied
        finally:
            consumer.close()

    # --- a batch's reads and writes ---

    def get(self, key: str, partition: int):
        """The value as this batch left it, else the cached one, else the partition's DB's (decoded), else None."""
        pending = self._pending.get(key)
        if pending is not None and pending[0] == partition:
            return None if pending[1] is _DELETED else pending[1]
        cached = self._cache.get(key)
        if cached is not None and cached[0] == partition:  # a record sent to every partition asks each
            self._cache.move_to_end(key)
            return cached[1]
        raw = self._dbs[partition].get(orjson.dumps(key))
        return None if raw is None else self.decode(raw)

    def set(self, key: str, value, partition: int) -> None:
        self._pending[key] = (partition, value)

    def delete(self, key: str, partition: int) -> None:
        self._pending[key] = (partition, _DELETED)

    async def commit(self, producer) -> None:
        """Store every pending value locally, then send its changelog record through `producer`."""
        records = [(p, orjson.dumps(key), None if value is _DELETED else self.encode(value))
                   for key, (p, value) in self._pending.items()]
        await self._write_local(records)
        self._remember()
        self._pending = {}
        if records:
            await send_records(producer, self.topic, records)

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every (key, value) held on this worker's partitions."""
        for db in list(self._dbs.values()):
            for key, raw in db.items():
                if raw:
                    yield orjson.loads(key), self.decode(raw)

    def stored_keys(self) -> int:
        """RocksDB's estimate of the keys held here (exact counting reads every key); metrics thread."""
        try:
            return sum(db.property_int_value("rocksdb.estimate-num-keys") or 0 for db in list(self._dbs.values()))
        except Exception:  # a DB closed by a revoke meanwhile: the next scrape reads the new assignment
            return 0

    def _remember(self) -> None:
        if not self._cache_size:
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

    async def _write_local(self, records: list[tuple[int, bytes, bytes | None]]) -> None:
        """One write batch per partition, retried with backoff while that fails (a full disk): the
        stage waits, and its input waits in Kafka. Puts and deletes are idempotent, so a retry rewrites
        what had been written; a write batch is spent even by a failed write, so each attempt builds its own."""
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
                    self._dbs[partition].write(batch)
                return
            except Exception as exc:  # rocksdict raises a plain Exception("IO error: ...")
                metrics.STORE_FAILURES.labels(table=self.name).inc()
                log.warning("writing table %s locally failed (%s); retrying in %.1fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)


_DELETED = object()


def drop_all(data_path: Path) -> None:
    """Remove every table's local DBs before the worker starts (each assignment rebuilds its own)."""
    shutil.rmtree(data_path / "state", ignore_errors=True)
