"""Numbered SQL migrations (schemas/clickhouse/NNNN_name.sql), applied once, in order.

The ledger cx.schema_migrations records version, name and checksum; a migration whose file
changed after it was applied is an error (write a new migration instead).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from streams.config import Settings
from streams.domain.contract import schemas_dir
from streams.warehouse import Warehouse, WarehouseError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in re.split(r";[ \t]*$", body, flags=re.M) if s.strip()]


def migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or schemas_dir() / "clickhouse"
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise WarehouseError(f"migration file name must be NNNN_name.sql: {path.name}")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise WarehouseError(f"duplicate migration versions in {directory}")
    return found


def applied(warehouse: Warehouse) -> dict[int, str]:
    exists = warehouse.query("SELECT count() FROM system.tables WHERE database = 'cx' AND name = 'schema_migrations'")
    if not exists.scalar():
        return {}
    result = warehouse.query("SELECT version, argMax(checksum, applied_at) FROM cx.schema_migrations GROUP BY version")
    return {int(v): c for v, c in result.rows}


def migrate(warehouse: Warehouse, directory: Path | None = None) -> list[Migration]:
    """Apply pending migrations in order; return those applied now (DDL is IF NOT EXISTS, so a rerun after a crash is safe)."""
    done = applied(warehouse)
    ran = []
    for migration in migrations(directory):
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                raise WarehouseError(f"migration {migration.version:04d}_{migration.name} changed after it was "
                                     "applied; add a new migration instead of editing an applied one")
            continue
        for statement in migration.statements():
            warehouse.execute(statement)
        warehouse.insert("cx.schema_migrations", [{"version": migration.version, "name": migration.name,
                                                   "checksum": migration.checksum}],
                         token=f"migration-{migration.version}-{migration.checksum}")
        ran.append(migration)
    return ran


def migrate_and_configure(warehouse: Warehouse, settings: Settings) -> tuple[list[Migration], list[str]]:
    """Migrations, then what the config sets in the warehouse: the views' thresholds (cx.settings),
    the retention TTLs and the board user. Returns the migrations applied and the TTLs changed."""
    from streams.warehouse import board_access, retention, view_settings

    applied = migrate(warehouse)
    if settings.clickhouse.boards_password:
        board_access.apply(warehouse, settings.clickhouse.boards_password)
    view_settings.publish(warehouse, settings)
    return applied, retention.apply(warehouse, settings.retention)
