"""Retention: the [retention] settings as ClickHouse TTLs, one per table, and a column TTL that
blanks dead-letter payloads sooner than their rows.

Applied by `cxpulse migrate` and at worker start, only where a TTL differs from its setting, so a
rerun changes nothing and a changed setting changes the TTL. The ALTERs only change metadata
(materialize_ttl_after_modify = 0): expired rows go at the next merge of their part (ClickHouse runs
TTL merges at least every merge_with_ttl_timeout, 4 h by default), row by row, not whole monthly
parts (ttl_only_drop_parts off), so nothing stays up to a month past its TTL.
"""

from __future__ import annotations

import re

from streams.config import RetentionSettings
from streams.warehouse import Warehouse

# table -> (setting, the time a row is dated by). Event-time tables count from the time the
# business event happened (what the boards filter on and what ingest bounds by max_age);
# cx.dead_letters from its rejection, when the time to fix and replay it starts.
TABLES = {
    "cx.events": ("events_days", "event_time"),
    "cx.contact_facts": ("contacts_days", "last_event_at"),
    "cx.identity_links": ("identity_links_days", "changed_at"),
    "cx.alerts": ("alerts_days", "changed_at"),
    "cx.work_items": ("work_items_days", "changed_at"),
    "cx.dead_letters": ("dead_letters_days", "rejected_at"),
    # the rollups' tables (streams/warehouse/rollups.py; cx.alerts_per_minute: a materialized view)
    "cx.contacts_per_minute": ("rollups_days", "minute"),
    "cx.alerts_per_minute": ("rollups_days", "minute"),
    "cx.journey_steps_per_minute": ("rollups_days", "minute"),
    "cx.customer_channels_daily": ("rollups_days", "day"),
}
# Blanked (to their default, '') after dead_letter_payloads_days; reason, detail, origin and size stay.
PAYLOAD_COLUMNS = ("message_key", "payload_base64", "payload_preview", "headers")
PAYLOAD_TABLE, PAYLOAD_SETTING = "cx.dead_letters", "dead_letter_payloads_days"

_TTL_DAYS = re.compile(r"toIntervalDay\((\d+)\)")


def ttl_expression(column: str, days: int) -> str:
    return f"toDateTime({column}) + toIntervalDay({days})"


def _create_query(warehouse: Warehouse, table: str) -> str:
    database, name = table.split(".")
    return warehouse.query(f"SELECT create_table_query FROM system.tables WHERE database = '{database}' "
                           f"AND name = '{name}'").scalar() or ""


def ttl_days(create_query: str, column: str | None = None) -> int:
    """The days of the table's TTL (or of a column's, given one) in its CREATE query; 0 when none."""
    if column is None:
        match = re.search(r"\)\s*ENGINE\b.*?\bTTL\s+(.*?)(?:\s+SETTINGS\b|$)", create_query, flags=re.S)
    else:
        match = re.search(rf"`{column}` [^`]*?\bTTL\s+(toDateTime\([^)]*\) \+ toIntervalDay\(\d+\))", create_query)
    days = _TTL_DAYS.search(match[1]) if match else None
    return int(days[1]) if days else 0


def current_days(warehouse: Warehouse, table: str, column: str | None = None) -> int:
    return ttl_days(_create_query(warehouse, table), column)


def apply(warehouse: Warehouse, retention: RetentionSettings) -> list[str]:
    """Set each table's and the payload columns' TTL to the setting; return what changed, as
    `table` or `table.column`."""
    changed = []
    for table, (key, column) in TABLES.items():
        days, query = getattr(retention, key), _create_query(warehouse, table)
        if "ttl_only_drop_parts = 1" in query:  # set by earlier versions: whole monthly parts only
            warehouse.execute(f"ALTER TABLE {table} RESET SETTING ttl_only_drop_parts")
        if ttl_days(query) == days:
            continue
        if days:
            warehouse.execute(f"ALTER TABLE {table} MODIFY TTL {ttl_expression(column, days)} "
                              "SETTINGS materialize_ttl_after_modify = 0")
        else:
            warehouse.execute(f"ALTER TABLE {table} REMOVE TTL")
        changed.append(table)
    days, column = getattr(retention, PAYLOAD_SETTING), TABLES[PAYLOAD_TABLE][1]
    query = _create_query(warehouse, PAYLOAD_TABLE)
    for payload in PAYLOAD_COLUMNS:
        if ttl_days(query, payload) == days:
            continue
        ttl = f"TTL {ttl_expression(column, days)}" if days else "REMOVE TTL"
        warehouse.execute(f"ALTER TABLE {PAYLOAD_TABLE} MODIFY COLUMN {payload} {ttl} "
                          "SETTINGS materialize_ttl_after_modify = 0")
        changed.append(f"{PAYLOAD_TABLE}.{payload}")
    return changed
