"""Keep the cyclic garbage collector's pauses short in a worker, and measure them.

Every stage runs on one event loop, so a collection stops all of them at once. A full collection
walks every object the collector tracks; in a live run at 2,400 ev/s (issue 6) a worker made
30-35 of them in about 100 s, 0.35-0.47 s each at the most, and every hop's p99 latency carried
them. What a worker holds once it consumes (modules, Faust's and aiokafka's state, the app) lives
as long as the process: `freeze_survivors` moves it out of the collector's sight, so full
collections walk only what was made since (reference counting still frees frozen objects; only a
reference cycle among them would wait for `gc.unfreeze`, and start-up objects are not garbage).
`observe` records each collection's pause in cxpulse_gc_pause_seconds, so the pipeline board can
tell a pause from a slow stage.
"""

from __future__ import annotations

import gc
import time

from streams.runtime import metrics


def freeze_survivors() -> int:
    """Collect once, then freeze what survived; returns the objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def observe() -> None:
    """Time every collection into the pause histogram (a callback costs ~1 µs per collection)."""
    started = [0.0]
    children = [metrics.GC_PAUSE.labels(str(generation)) for generation in range(3)]

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            children[info["generation"]].observe(time.perf_counter() - started[0])

    gc.callbacks.append(callback)
