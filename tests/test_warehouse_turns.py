"""The one warehouse thread takes the sink's cx.events inserts before the other calls waiting for it."""

from __future__ import annotations

import asyncio
import threading

from streams.stages.sink import BatchStore


def _store() -> BatchStore:
    return BatchStore(lambda: None, retry_initial=0.05, retry_max=0.05)


def test_events_inserts_go_before_the_calls_waiting_and_the_rest_keep_their_order():
    async def scenario() -> list[str]:
        store, ran, gate = _store(), [], threading.Event()
        busy = asyncio.create_task(store.run(gate.wait, 5))  # an insert under way on the thread
        await asyncio.sleep(0.05)
        names = ("cx.identity_links", "kpi rollup", "cx.events 1", "cx.alerts", "cx.events 2")
        waiting = [asyncio.create_task(store.run(ran.append, name, urgent=name.startswith("cx.events")))
                   for name in names]
        await asyncio.sleep(0.05)
        assert ran == []  # one call at a time: all wait for the one under way
        gate.set()
        await asyncio.gather(busy, *waiting)
        store.close()
        return ran

    assert asyncio.run(scenario()) == ["cx.events 1", "cx.events 2", "cx.identity_links", "kpi rollup", "cx.alerts"]


def test_a_call_cancelled_while_it_waits_leaves_its_turn_to_the_next():
    async def scenario() -> list[str]:
        store, ran, gate = _store(), [], threading.Event()
        busy = asyncio.create_task(store.run(gate.wait, 5))
        await asyncio.sleep(0.05)
        cancelled = asyncio.create_task(store.run(ran.append, "cancelled", urgent=True))
        after = asyncio.create_task(store.run(ran.append, "after"))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        gate.set()
        await asyncio.wait_for(asyncio.gather(busy, after), 5)
        assert cancelled.cancelled()
        await asyncio.wait_for(store.run(ran.append, "later"), 5)  # the thread is free again
        store.close()
        return ran

    assert asyncio.run(scenario()) == ["after", "later"]
