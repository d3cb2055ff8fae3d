"""ClickHouse server backend over the native protocol (clickhouse-driver)."""

from __future__ import annotations

from typing import Any

from clickhouse_driver.errors import Error as DriverError

from streams.config import ClickHouseSettings
from streams.process.connections import clickhouse_client
from streams.warehouse import Result, WarehouseError


class ServerWarehouse:
    def __init__(self, settings: ClickHouseSettings) -> None:
        self._client = clickhouse_client(settings)

    def execute(self, sql: str) -> None:
        try:
            self._client.execute(sql)
        except (DriverError, OSError) as exc:
            raise WarehouseError(str(exc)) from exc

    def query(self, sql: str) -> Result:
        try:
            rows, columns = self._client.execute(sql, with_column_types=True)
        except (DriverError, OSError) as exc:
            raise WarehouseError(str(exc)) from exc
        return Result([name for name, _ in columns], [tuple(r) for r in rows])

    def insert(self, table: str, rows: list[dict[str, Any]], token: str) -> None:
        if not rows:
            return
        columns = list(rows[0])
        try:
            self._client.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES",
                                 [tuple(r[c] for c in columns) for r in rows],
                                 settings={"insert_deduplication_token": token})
        except (DriverError, OSError) as exc:
            raise WarehouseError(str(exc)) from exc

    def close(self) -> None:
        self._client.disconnect()
