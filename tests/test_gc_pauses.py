"""The worker's collector settings: pauses are measured, start-up survivors are frozen."""

import gc

import pytest
from prometheus_client import REGISTRY

from streams.runtime import gc_pauses


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
