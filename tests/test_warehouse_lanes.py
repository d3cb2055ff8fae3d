"""cx.events inserts have a warehouse connection of their own: they do not wait for the other calls."""

from __future__ import annotations

import asyncio
import time

from streams.stages.sink import BatchStore, event_row
from streams.warehouse.embedded import ChdbWarehouse
from tests.test_warehouse import _event

SLOW = "SELECT sum(sleepEachRow(0.001)) FROM numbers(1000) SETTINGS max_block_size = 10"  # ~1 s


def test_an_events_insert_does_not_wait_for_a_query_under_way_on_the_other_connection(warehouse):
    store = BatchStore(lambda: ChdbWarehouse(warehouse.path), retry_initial=0.05, retry_max=0.05)

    async def scenario() -> tuple[float, bool]:
        slow = asyncio.create_task(store.with_warehouse(lambda w: w.query(SLOW)))
        await asyncio.sleep(0.2)  # the slow query is under way
        started = time.perf_counter()
        await store.store("cx.events", [event_row(_event(1), 0, 1)], "lanes-events-1")
        took, slow_still_running = time.perf_counter() - started, not slow.done()
        await slow
        await store.store("cx.alerts", [], "lanes-alerts-0")  # the other connection is free again
        return took, slow_still_running

    try:
        took, slow_still_running = asyncio.run(scenario())
    finally:
        store.close()  # its own two handles; the test's engine stays open
    assert slow_still_running and took < 0.5, took
    assert warehouse.query("SELECT count() FROM cx.events").scalar() == 1  # seen through another handle


def test_the_other_tables_the_rollups_and_erasures_share_the_second_connection():
    opened, used = [], []

    class Recording:
        def __init__(self) -> None:
            opened.append(self)

        def insert(self, table, rows, token) -> None:
            used.append((table, opened.index(self)))

    store = BatchStore(Recording, retry_initial=0.05, retry_max=0.05)
    rows = {"cx.events": [event_row(_event(1), 0, 1)], "cx.work_items": [{"n": 1}], "cx.identity_links": [{"n": 1}]}

    async def scenario() -> None:  # made after the last assignment (0): no replay to look up
        for table in ("cx.work_items", "cx.events", "cx.identity_links", "cx.events"):
            await store.store(table, rows[table], f"token-{table}")
        await store.with_warehouse(lambda w: used.append(("rollup", opened.index(w))))

    asyncio.run(scenario())
    events = {lane for table, lane in used if table == "cx.events"}
    others = {lane for table, lane in used if table != "cx.events"}
    assert len(events) == 1 and len(others) == 1 and events != others, used
