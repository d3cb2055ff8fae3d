"""Retention: the [retention] settings as ClickHouse table TTLs.

Applied by `view_settings.publish` (so by `cxpulse migrate` and at worker start), only where a
table's TTL differs from the setting. Existing parts are not rewritten at that moment
(materialize_ttl_after_modify = 0): expired rows go at the next merges, whole expired monthly
parts are dropped (ttl_only_drop_parts), and rows already expired are dropped as they arrive.
"""

from __future__ import annotations

import re

from streams.config import RetentionSettings
from streams.warehouse import Warehouse

TABLES = {
    "events_days": (("cx.events", "event_time"), ("cx.dead_letters", "published_at")),
    "rollups_days": (("cx.contacts_per_minute", "minute"), ("cx.alerts_per_minute", "minute"),
                     ("cx.journey_steps_per_minute", "minute"), ("cx.customer_channels_daily", "day")),
}


def current_days(warehouse: Warehouse, table: str) -> int:
    """The days of the table's TTL now; 0 when it has none."""
    database, name = table.split(".")
    engine = warehouse.query(f"SELECT engine_full FROM system.tables WHERE database = '{database}' "
                             f"AND name = '{name}'").scalar() or ""
    match = re.search(r"\bTTL\b.*?toIntervalDay\((\d+)\)", engine)
    return int(match[1]) if match else 0


def apply(warehouse: Warehouse, retention: RetentionSettings) -> list[str]:
    """Set each table's TTL to its setting; return the tables changed."""
    changed = []
    for key, tables in TABLES.items():
        days = getattr(retention, key)
        for table, column in tables:
            if current_days(warehouse, table) == days:
                continue
            if days:
                warehouse.execute(f"ALTER TABLE {table} MODIFY SETTING ttl_only_drop_parts = 1")
                warehouse.execute(f"ALTER TABLE {table} MODIFY TTL toDateTime({column}) + toIntervalDay({days}) "
                                  "SETTINGS materialize_ttl_after_modify = 0")
            else:
                warehouse.execute(f"ALTER TABLE {table} REMOVE TTL")
            changed.append(table)
    return changed
