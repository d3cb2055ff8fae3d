"""Give memory the C heap has freed back to the OS, so a worker's RSS follows what it holds, not its peak.

Why: every stage reads batches of thousands of events, and Python allocates each payload over 512
bytes, each list and each large dict with glibc's malloc. A batch's memory is freed when it is done,
but glibc only returns the top of a heap to the OS, so pages freed between long-lived allocations
(RocksDB memtables, cached states) stay in the RSS; and each thread that allocates gets an arena of
its own (up to 8 per core), each with its own such peak. Measured on the harness's backlog row
(50,000 events, 41,600 customers, 2026-12-06): the C heaps held 190-290 MiB, of which 80-245 MiB
free; two arenas took ~100 MiB off the worker's RSS growth, and trimming every 2 s ~100 MiB more.

glibc only: elsewhere (musl, macOS) both are skipped, and MALLOC_ARENA_MAX set in the environment
wins over ARENAS.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # mallopt parameters, <malloc.h>
_M_MMAP_THRESHOLD = -3
ARENAS = 2  # the event loop's thread and one for every other (the warehouse's threads, RocksDB, metrics)
# A trim walks every free chunk with the arena locked (10-80 ms measured at 5 s intervals); a thread
# that mallocs in that arena meanwhile waits. Every 1 s (with the mmap threshold below and chDB's
# purge, since removed) the backlog row's RSS growth was 182-198 MiB against 208-279 (docs/benchmarks.md).
TRIM_EVERY_S = 1.0
# Blocks this large or larger (envelopes of up to 256 KiB, a warehouse insert's JSON of several MiB)
# get a mapping of their own, unmapped when freed. glibc's default threshold starts at 128 KiB but
# rises to the largest block freed (up to 32 MiB), after which such blocks come from the heap and
# leave holes only a trim gives back.
MMAP_THRESHOLD = 128 * 1024


def _glibc():
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


def limit_arenas(libc=None) -> bool:
    """At most ARENAS malloc arenas from now on (call before the worker starts its threads), and
    blocks of MMAP_THRESHOLD bytes or more mapped on their own."""
    libc = libc or _glibc()
    if libc is None:
        return False
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    return libc.mallopt(_M_ARENA_MAX, ARENAS) == 1


def trim(libc=None) -> bool:
    """Return every whole free page of every arena to the OS; True when some memory was released."""
    libc = libc or _glibc()
    return bool(libc and libc.malloc_trim(0))


def start_trimming(every: float = TRIM_EVERY_S) -> threading.Thread | None:
    """A daemon thread that trims every `every` seconds (ctypes releases the GIL for the call, so
    Python keeps running; only a malloc in the arena being trimmed waits)."""
    libc = _glibc()
    if libc is None:
        log.info("not glibc: freed C heap memory is left to the allocator")
        return None

    def loop() -> None:
        while True:
            time.sleep(every)
            started = time.perf_counter()
            trim(libc)
            log.debug("malloc_trim took %.1f ms", (time.perf_counter() - started) * 1e3)

    thread = threading.Thread(target=loop, name="cxpulse-heap-trim", daemon=True)
    thread.start()
    return thread
