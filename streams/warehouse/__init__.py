"""The warehouse: one interface, two ClickHouse backends.

`ServerWarehouse` talks to a ClickHouse server over the native protocol (clickhouse-driver);
`ChdbWarehouse` runs ClickHouse in-process (chDB) under the data dir. Same SQL, same DDL.
Rows are dicts of plain Python values; inserts carry a deduplication token so a retried batch
is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from streams.config import Settings


class WarehouseError(RuntimeError):
    """The warehouse refused or could not run a statement."""


@dataclass
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class Warehouse(Protocol):
    def execute(self, sql: str) -> None: ...
    def query(self, sql: str) -> Result: ...
    def insert(self, table: str, rows: list[dict[str, Any]], token: str) -> None: ...
    def close(self) -> None: ...


def open_warehouse(settings: Settings) -> Warehouse:
    """The server when CXPULSE_CLICKHOUSE_URL is set, else chDB under the data dir."""
    if settings.clickhouse.url:
        from streams.warehouse.server import ServerWarehouse

        return ServerWarehouse(settings.clickhouse)
    from streams.warehouse.embedded import ChdbWarehouse

    return ChdbWarehouse(settings.data_path / "chdb", keep_logs=settings.clickhouse.chdb_query_log)


def sql_string(value: str) -> str:
    """A ClickHouse string literal for value (backslashes and quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
