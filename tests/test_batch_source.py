"""When a batch source closes a batch: `within` after its oldest record was produced, bounded; and
how long its stop may wait for the group."""

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.config import Settings
from streams.runtime import batch_source
from streams.runtime.batch_source import BatchSource, batch_deadline

seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False)


def test_a_fresh_record_waits_the_whole_window():
    assert batch_deadline(now=100.0, wall=5000.0, oldest_produced=5000.0, within=0.5) == 100.5


def test_a_record_that_waited_during_the_last_store_waits_only_what_is_left():
    assert batch_deadline(now=100.0, wall=5000.0, oldest_produced=4999.8, within=0.5) == pytest.approx(100.3)


def test_a_record_older_than_the_window_closes_the_batch_at_once():
    assert batch_deadline(now=100.0, wall=5000.0, oldest_produced=4990.0, within=0.5) == 100.0


@given(now=seconds, wall=seconds, produced=seconds, within=st.floats(min_value=0, max_value=60))
def test_never_before_now_nor_later_than_the_window_whatever_the_producer_clock(now, wall, produced, within):
    deadline = batch_deadline(now, wall, produced, within)
    assert now <= deadline <= now + within


class _GroupThatNeverAnswers:
    """aiokafka's stop waits for a join in progress; here the join never ends."""

    async def stop(self) -> None:
        await asyncio.Event().wait()


def test_a_stage_being_stopped_leaves_within_the_bound_when_its_group_never_answers(monkeypatch, caplog):
    monkeypatch.setattr(batch_source, "LEAVE_TIMEOUT", 0.2)
    source = BatchSource(None, Settings(), "detect", ["cx.events.resolved"], 10, 0.1)

    async def stage() -> None:  # as BatchSource.run: the worker's stop cancels it, its finally leaves
        try:
            await asyncio.Event().wait()
        finally:
            await source.leave(_GroupThatNeverAnswers())

    async def stop() -> float:
        task = asyncio.create_task(stage())
        await asyncio.sleep(0.05)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
        return time.monotonic() - started

    assert asyncio.run(stop()) < 1.0
    assert "did not let this worker leave within" in caplog.text
