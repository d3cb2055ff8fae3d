"""The live floor's headline KPIs as worker gauges, computed with the board's own SQL.

Why in the worker: the embedded warehouse (chDB) opens in one process only, so the demo's terminal
board cannot query it while the worker runs. With `metrics.floor_kpis_seconds` > 0 the worker runs
the live floor's headline queries (streams.warehouse.queries: waiting now, oldest wait, service
level, ASA and abandonment today, open alerts) at that interval, on the warehouse connection the
other tables share, and exposes the answers as `cxpulse_floor{kpi}`, which the board reads with the
other metrics.
Off by default: Grafana queries ClickHouse itself.
"""

from __future__ import annotations

import datetime as dt
import logging

from streams.process import metrics
from streams.warehouse import Warehouse, WarehouseError
from streams.warehouse.macros import TimeRange, expand, relative
from streams.warehouse.queries import FLOOR_HEADLINES

log = logging.getLogger(__name__)



def today(now: dt.datetime) -> TimeRange:
    """The live floor's range: today (UTC) so far."""
    return TimeRange(relative("now/d", now, end=False), now)


def read(warehouse: Warehouse, now: dt.datetime) -> dict[str, float]:
    """{column: value} of every headline query's first row, as the board would show it (0 when empty)."""
    values: dict[str, float] = {}
    for sql in FLOOR_HEADLINES:
        rows = warehouse.query(expand(sql.text, today(now), {}, 60)).dicts()
        row = rows[0] if rows else {}
        values |= {column: float(row.get(column) or 0.0) for column in sql.columns}
    return values


def register(app, settings, store) -> None:
    every = settings.metrics.floor_kpis_seconds
    if not every:
        return
    gauge = metrics.Children(metrics.FLOOR)

    @app.timer(interval=every, name="floor-kpis")
    async def measure_floor() -> None:
        try:
            values = await store.with_warehouse(lambda warehouse: read(warehouse, dt.datetime.now(dt.UTC)))
        except WarehouseError as exc:  # the sink retries the warehouse; the board shows the last values
            log.warning("live floor KPIs not read: %s", exc)
            return
        for kpi, value in values.items():
            gauge(kpi).set(value)
