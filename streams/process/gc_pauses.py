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

`collect_on_schedule`: the collector's own trigger still ran a full collection every ~2 s under
load (27-28 in a live run of 40 s of traffic at 1,300 ev/s on Apache Kafka, 3.3-4.7 s of pauses,
16 of them over 0.1 s, against 40.5-45.2 s of the worker's CPU), because each batch's objects outlive two young collections and the decoded state caches
churn, so a quarter of the old generation is always new. The worker holds no reference cycles of
its own that must go soon (stage state is msgpack-decoded structs, lists and dicts), so full
collections run on a timer instead, and the young generation is collected less often, after
most of a batch's objects have died by reference counting.
"""

from __future__ import annotations

import gc
import time

from streams.process import metrics


def freeze_survivors() -> int:
    """Collect once, then freeze what survived; returns the objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


YOUNG_THRESHOLD = 20_000     # allocations between young collections (CPython's default: 700)
FULL_COLLECTION_EVERY_S = 60.0


def collect_on_schedule(app, every: float = FULL_COLLECTION_EVERY_S) -> None:
    """Full collections only every `every` seconds (a timer on `app`), young ones every YOUNG_THRESHOLD."""
    _, middle, _ = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, 2**31 - 1)  # the old generation: never by itself

    @app.timer(interval=every)
    async def full_collection() -> None:
        gc.collect()


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
