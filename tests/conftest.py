"""Shared fixtures. chDB allows one data path per process: unit tests share one session-wide engine."""

from __future__ import annotations

import pytest

from hypothesis import HealthCheck, settings

settings.register_profile("cxpulse", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("cxpulse")


@pytest.fixture(scope="session")
def chdb_warehouse(tmp_path_factory):
    from streams.warehouse.embedded import ChdbWarehouse
    from streams.warehouse.migrate import migrate

    warehouse = ChdbWarehouse(tmp_path_factory.mktemp("chdb"))
    migrate(warehouse)
    yield warehouse
    warehouse.close()


@pytest.fixture
def warehouse(chdb_warehouse):
    for table in ("cx.events", "cx.dead_letters"):
        chdb_warehouse.execute(f"TRUNCATE TABLE {table}")
    return chdb_warehouse
