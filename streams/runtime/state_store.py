"""Where the stages' tables live: RocksDB (rocksdict) on local disk, rebuilt from the changelog at each start.

Why on disk: the memory:// store kept every key in the worker's heap, so a worker grew with its
customers and its dedup window (about 40 MiB a minute at 1,000 events/s in the soak run). RocksDB
keeps them on disk behind a small cache and write buffer per table partition.

Why rebuilt: a batch's table writes reach the local DB before their changelog records are
acknowledged, and the batch's input offsets are committed only after both. A crash in between
leaves the local DB ahead of the changelog, and processing the batch again on top of it would
apply its events twice. So the local DBs are dropped when a worker starts and recovered from the
changelog alone, which is exact (what memory:// did, without holding the result in the heap).
"""

from __future__ import annotations

import shutil

STORE_URL = "rocksdb://"
# Per table partition: 2 write buffers of 1 MiB and a 1 MiB block cache (Faust's defaults are
# 3 x 64 MiB and 256 MiB per partition, gigabytes for five tables on a dozen partitions). A worker
# holds tables x partitions DBs (20 on the harness's 4 partitions): at 4 + 4 + 8 MiB each their
# memtables alone reached 28-41 MiB of its RSS on 50,000-100,000 events. Reads that miss the
# decoded caches in front (BatchWrites) and the block cache come from the OS page cache.
_OPTIONS = {"driver": "rocksdict", "write_buffer_size": 1 << 20, "max_write_buffer_number": 2,
            "block_cache_size": 1 << 20}


def table_options(**extra) -> dict:
    """A fresh options dict per table (Faust's store pops keys from the one it is given)."""
    return {**_OPTIONS, **extra}


def drop_local(app) -> None:
    """Remove the local table DBs before the worker starts; recovery rebuilds them from the changelogs."""
    shutil.rmtree(app.conf.tabledir, ignore_errors=True)


def stored_keys(table) -> int:
    """RocksDB's estimate of the keys a table holds on this worker (exact counting reads every key).

    Called from the metrics server's thread, so it must not create the table's store: `table.data`
    would, and would bind the table to that thread's event loop. The table's tasks would then never
    run, and its stop would wait for them forever (the worker hung at SIGTERM until killed).
    """
    store = table._data  # None until the worker starts the table
    if store is None:
        return 0
    return sum(db.property_int_value("rocksdb.estimate-num-keys") or 0 for db in list(store._dbs.values()))
