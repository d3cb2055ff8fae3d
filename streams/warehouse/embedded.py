"""chDB backend: ClickHouse in-process, data under one directory.

chDB allows one data path per process, and a second process cannot open a path the first holds:
while a worker runs, query it through its warehouse, or use a ClickHouse server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from streams.warehouse import Result, WarehouseError

_INSERT_SETTINGS = "date_time_input_format='best_effort', async_insert=0"
USERS = Path(__file__).with_name("chdb_users.xml")
# The engine's caches, in bytes (entries for mmap_cache_size), sized for a worker that shares its
# process with the pipeline: ClickHouse's defaults are a server's (5 GiB each for marks, primary
# indexes and skip-index marks), which a worker running for weeks and reading its parts for the
# floor figures would fill. What the cx tables' queries need fits well within these; a miss reads
# the part's file again, from the OS page cache.
CACHES = {"mark_cache_size": 32 << 20, "primary_index_cache_size": 16 << 20, "index_mark_cache_size": 8 << 20,
          "uncompressed_cache_size": 0, "query_condition_cache_size": 8 << 20,
          "compiled_expression_cache_size": 16 << 20, "mmap_cache_size": 256}

# With `keep_logs` (clickhouse.chdb_query_log) chDB keeps its own query, view and part logs: what each
# insert, view, lookup and merge cost (benchmarks/profile_pipeline.py reads them). chDB holds its
# system tables in memory, so a clean close copies them into LOG_DATABASE, in the data directory.
# Off by default: the logs are tables of their own, written and merged in the worker's process.
LOG_DATABASE = "chdb_logs"
_LOG_TABLES = ("query_log", "query_views_log", "part_log")
_LOGS = "".join(f"<{name}><database>system</database><table>{name}</table>"
                f"<flush_interval_milliseconds>1000</flush_interval_milliseconds></{name}>" for name in _LOG_TABLES)


def open_session(path: Path, users: Path = USERS, logs: bool = False):
    """A chDB session on `path` whose only user, `default`, is the one `users` defines (a
    clickhouse-local users.xml; its config file is written next to the data, since chDB takes
    the config by file name only)."""
    from chdb import session

    config = path / "chdb-config.xml"
    caches = "".join(f"<{name}>{size}</{name}>" for name, size in CACHES.items())
    config.write_text(f"<clickhouse><users_config>{users.resolve()}</users_config>{caches}"
                      f"{_LOGS if logs else ''}</clickhouse>\n")
    return session.Session(f"{path}?config-file={config}")


class ChdbWarehouse:
    def __init__(self, path: Path, keep_logs: bool = False) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path, self.keep_logs = path, keep_logs
        try:
            self._session = open_session(path, logs=keep_logs)
        except RuntimeError as exc:
            raise WarehouseError(
                f"cannot open the chDB data directory {path}: another cxpulse process (a running worker "
                f"or demo?) holds it. Stop it, or point CXPULSE_CLICKHOUSE_URL at a ClickHouse server. ({exc})"
            ) from exc

    def _run(self, sql: str, fmt: str = "CSV"):
        try:
            return self._session.query(sql, fmt)
        except Exception as exc:  # chDB raises plain RuntimeError with the server message
            raise WarehouseError(str(exc)) from exc

    def execute(self, sql: str) -> None:
        self._run(sql)

    def query(self, sql: str) -> Result:
        out = self._run(sql + "\nSETTINGS output_format_json_quote_64bit_integers=0", "JSONCompact")
        raw = out.bytes() if hasattr(out, "bytes") else bytes(out)
        if not raw.strip():
            return Result([], [])
        doc = orjson.loads(raw)
        return Result([c["name"] for c in doc["meta"]], [tuple(r) for r in doc["data"]])

    def insert(self, table: str, rows: list[dict[str, Any]], token: str) -> None:
        if not rows:
            return
        # One JSON array for the batch: JSONEachRow reads [{...}, ...] as well, and one orjson call
        # for the list costs a sixth of one call per row (2.5-3 against 17-20 µs a row, 5,000 rows).
        body = orjson.dumps(rows, option=orjson.OPT_NAIVE_UTC).decode()
        self._run(f"INSERT INTO {table} SETTINGS insert_deduplication_token='{token}', {_INSERT_SETTINGS} "
                  f"FORMAT JSONEachRow\n{body}")

    def close(self) -> None:
        if self.keep_logs:
            self._keep_logs()
        self._session.close()

    def _keep_logs(self) -> None:
        self._run("SYSTEM FLUSH LOGS")
        self._run(f"CREATE DATABASE IF NOT EXISTS {LOG_DATABASE}")
        for name in _LOG_TABLES:
            self._run(f"CREATE TABLE IF NOT EXISTS {LOG_DATABASE}.{name} ENGINE = MergeTree ORDER BY tuple() "
                      f"EMPTY AS SELECT * FROM system.{name}")
            self._run(f"INSERT INTO {LOG_DATABASE}.{name} SELECT * FROM system.{name} WHERE event_time_microseconds > "
                      f"(SELECT max(event_time_microseconds) FROM {LOG_DATABASE}.{name})")  # each of a worker's handles closes
