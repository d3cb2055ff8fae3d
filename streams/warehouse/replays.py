"""Which rows of a batch the warehouse holds already, so that the sink stores only the others.

After a kill -9 the sink reads its last batch again from its last commit, and the stages upstream
emit again what they processed since theirs (up to `kafka.commit_interval`): the same events and
alert changes come back in batches cut elsewhere, under other insert tokens. The tables collapse
them (ReplacingMergeTree keys), but the materialized views that count (the per-minute rollups,
cx.customer_channels_daily) count whatever an insert brings: after one kill -9 in the mid-stream test of
tests/integration/test_pipeline.py, 26,251-29,933 events were counted for 20,000 stored (three runs).

A crash makes the sink's consumer groups rebalance (aiokafka assigns every partition again), so
only rows made before the sink's last assignment can be such a replay. Those are looked up, by each
table's sort key: one query per batch for a while after a restart or a rebalance, none in steady
state. Only tables with counting views are guarded; the others' replays just collapse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.warehouse import Warehouse, sql_string

Row = dict[str, Any]
CLOCK_SKEW_S = 5.0  # how far ahead of this worker's clock the one that made a row may be
LOOKUP_ROWS = 1000  # keys per query: the server parses at most max_query_size (256 KiB) of SQL


def _strings(values: set[str]) -> str:
    return ", ".join(map(sql_string, sorted(values)))


def stored_events(warehouse: Warehouse, rows: list[Row]) -> set[tuple[str, str]]:
    """(source, event_id) of the rows cx.events holds. Its sort key (channel, type, event_time, ...)
    narrows the read to the rows' channels, types and time span."""
    times = [r["event_time"].timestamp() for r in rows]
    keys = ", ".join(f"({sql_string(r['source'])}, {sql_string(r['event_id'])})" for r in rows)
    return set(warehouse.query(
        f"SELECT source, event_id FROM cx.events WHERE channel IN ({_strings({r['channel'] for r in rows})}) "
        f"AND type IN ({_strings({r['type'] for r in rows})}) AND event_time BETWEEN "
        f"fromUnixTimestamp64Milli({int(min(times) * 1000)}, 'UTC') "
        f"AND fromUnixTimestamp64Milli({int(max(times) * 1000) + 1}, 'UTC') "
        f"AND (source, event_id) IN ({keys})").rows)


def stored_alerts(warehouse: Warehouse, rows: list[Row]) -> set[tuple[str, int]]:
    """(alert_id, version) of the rows cx.alerts holds (its sort key)."""
    keys = ", ".join(f"({sql_string(r['alert_id'])}, {int(r['version'])})" for r in rows)
    return set(warehouse.query(f"SELECT alert_id, version FROM cx.alerts WHERE (alert_id, version) IN ({keys})").rows)


# table: (a row's key, the column with the wall time its row was made at, the keys the table holds)
GUARDED: dict[str, tuple[Callable[[Row], tuple], str, Callable[[Warehouse, list[Row]], set]]] = {
    "cx.events": (lambda r: (r["source"], r["event_id"]), "received_at", stored_events),
    "cx.alerts": (lambda r: (r["alert_id"], r["version"]), "detected_at", stored_alerts),
}


def unstored(warehouse: Warehouse, table: str, rows: list[Row], replays_before: float) -> list[Row]:
    """`rows` once each (the last copy of a key: a sink that was behind reads a row and its replay in one
    batch), without those `table` holds already, looked up among the rows made before `replays_before`
    (the sink's last partition assignment, wall clock)."""
    guard = GUARDED.get(table)
    if guard is None or not rows:
        return rows
    key, made_at, stored = guard
    once = {key(r): r for r in rows}
    if len(once) < len(rows):
        rows = list(once.values())
    suspects = [r for r in rows if r[made_at].timestamp() < replays_before + CLOCK_SKEW_S]
    held = set().union(*(stored(warehouse, suspects[i:i + LOOKUP_ROWS]) for i in range(0, len(suspects), LOOKUP_ROWS)))
    return [r for r in rows if key(r) not in held] if held else rows
