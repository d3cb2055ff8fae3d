"""The worker's collector settings: pauses are measured, start-up survivors are frozen."""

import asyncio
import gc

import pytest
from prometheus_client import REGISTRY

from streams.process import gc_pauses


def _count(generation: str) -> float:
    return REGISTRY.get_sample_value("cxpulse_gc_pause_seconds_count", {"generation": generation}) or 0.0


def test_every_collection_is_timed_into_its_generation():
    before = gc.callbacks[:]
    gc_pauses.observe()
    gc.disable()  # no automatic collection in between
    try:
        full_before, young_before = _count("2"), _count("0")
        gc.collect(2)
        gc.collect(0)
        assert _count("2") == full_before + 1
        assert _count("0") == young_before + 1
    finally:
        gc.enable()
        gc.callbacks[:] = before


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


def test_survivors_leave_the_collectors_walks_and_garbage_does_not(unfrozen):
    class Cycle:
        pass

    kept = [Cycle() for _ in range(1000)]
    garbage = Cycle()
    garbage.me = garbage  # only the collector frees a cycle
    del garbage
    frozen = gc_pauses.freeze_survivors()
    assert frozen == gc.get_freeze_count() >= len(kept)
    tracked = gc.get_objects()
    assert not any(o is kept[0] for o in tracked)  # frozen objects are not walked
    assert not any(type(o) is Cycle for o in tracked)  # the cycle was collected before freezing


class _TimerApp:
    """Records what collect_on_schedule registers (faust.App.timer's signature)."""

    def __init__(self) -> None:
        self.timers: list[tuple[float, object]] = []

    def timer(self, interval: float):
        def register(fn):
            self.timers.append((interval, fn))
            return fn
        return register


def _full_collections_during_churn() -> int:
    """Full collections while a long-lived cache churns and batches of containers come and go, as a
    worker's stages do."""
    full = [0]

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            full[0] += 1

    cache = {i: [i, {"k": i}] for i in range(50_000)}
    gc.callbacks.append(count)
    try:
        for batch in range(200):
            rows = [{"n": n, "items": [n]} for n in range(5_000)]  # a batch's objects
            for n in range(0, 5_000, 10):
                cache[batch * 5_000 + n] = rows[n]  # some outlive the batch
                cache.pop(batch * 500 + n // 10, None)
            del rows
    finally:
        gc.callbacks.remove(count)
    return full[0]


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_full_collections_come_from_the_timer_not_from_churn(thresholds):
    assert _full_collections_during_churn() > 0  # CPython's own trigger: the check can fail
    app = _TimerApp()
    gc_pauses.collect_on_schedule(app, every=30.0)
    assert _full_collections_during_churn() == 0
    assert gc.get_threshold()[0] == gc_pauses.YOUNG_THRESHOLD
    [(interval, full_collection)] = app.timers
    assert interval == 30.0

    class Cycle:
        pass

    garbage = Cycle()
    garbage.me = garbage
    del garbage
    asyncio.run(full_collection())  # the timer's body frees cycles
    assert not any(type(o) is Cycle for o in gc.get_objects())
