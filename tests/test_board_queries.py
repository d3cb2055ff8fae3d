"""Every ClickHouse panel query of every board, as Grafana would send it (macros and variables
expanded by streams.warehouse.macros), runs on chDB against simulated traffic and returns rows with
the columns its panel declares."""

from __future__ import annotations

import datetime as dt
import importlib
import re
from pathlib import Path

import msgspec
import pytest

from streams.boards import BOARDS, simulated
from streams.boards.build import dashboards
from streams.config import Settings
from streams.warehouse import macros, view_settings
from tests.conftest import WAREHOUSE_TABLES

NOW = dt.datetime.now(dt.UTC)
ROOT = Path(__file__).resolve().parents[1]
BUILT = {d["uid"]: d for d in dashboards()}
MODULES = {importlib.import_module(name).board().uid: importlib.import_module(name) for name in BOARDS
           if hasattr(importlib.import_module(name), "board")}
PANELS = [(uid, panel["title"]) for uid, d in BUILT.items() for panel, _ in macros.clickhouse_targets(d)]
CLICKHOUSE_BOARDS = sorted({uid for uid, _ in PANELS})

# Objects that read raw events (or views over them, for every contact or customer): a board may
# use them only where it looks at one customer by primary key / bloom filter (the journey board).
RAW = re.compile(r"cx\.(events|events_resolved|contacts|contact_kpis|kpis|timeline|board_timeline|alerts_current)\b(?!_)")
ONE_CUSTOMER = {("cx-journey", "This customer"), ("cx-journey", "Stitched timeline"), ("cx-journey", "Journeys")}


def _clear(warehouse):
    for table in WAREHOUSE_TABLES:
        warehouse.execute(f"TRUNCATE TABLE {table}")


def around_the_clock(directory) -> Settings:
    """The default rules without quiet hours: the simulated team works items whatever the time of day
    the suite runs (with them, at 06:00 UTC nearly every simulated customer is in quiet hours and no
    item is worked)."""
    rules = (ROOT / "config" / "rules.toml").read_text().replace("quiet_end = 08:00:00", "quiet_end = 21:00:00")
    (directory / "rules.toml").write_text(rules)
    settings = Settings()
    return msgspec.structs.replace(settings, detect=msgspec.structs.replace(
        settings.detect, rules_file=str(directory / "rules.toml")))


@pytest.fixture(scope="module")
def traffic(chdb_warehouse, tmp_path_factory):
    """45 minutes of simulated traffic ending now, stored as the pipeline stores it."""
    _clear(chdb_warehouse)
    view_settings.publish(chdb_warehouse, Settings())
    loaded = simulated.load(chdb_warehouse, end=NOW, minutes=45, rate=12, seed=11,
                            settings=around_the_clock(tmp_path_factory.mktemp("rules")))
    yield chdb_warehouse, loaded
    _clear(chdb_warehouse)


def _range(dashboard) -> macros.TimeRange:
    """The dashboard's default range, widened to the last hour at least (so "today" has the
    simulated traffic even just after midnight)."""
    default = macros.TimeRange.of(dashboard["time"], NOW)
    return macros.TimeRange(min(default.start, NOW - dt.timedelta(hours=1)), default.end)


@pytest.fixture(scope="module")
def states(traffic):
    """Per board: its time range and its variables, resolved as Grafana resolves them on load."""
    warehouse, _ = traffic
    out = {}
    for uid in CLICKHOUSE_BOARDS:
        dashboard, module = BUILT[uid], MODULES[uid]
        given = {}
        if hasattr(module, "EXAMPLE_IDENTIFIER"):
            given["identifier"] = warehouse.query(module.EXAMPLE_IDENTIFIER).scalar()
        time_range = _range(dashboard)
        out[uid] = time_range, macros.resolve_variables(dashboard, time_range, lambda sql: warehouse.query(sql).rows,
                                                        given)
    return out


def test_the_simulated_traffic_fills_every_table_the_boards_read(traffic):
    warehouse, loaded = traffic
    assert loaded.events > 20_000 and loaded.alerts > 100 and loaded.links > 1000
    assert loaded.work_items > 100 and loaded.actions > 100
    worked, unworked, resolved = warehouse.query("SELECT countIf(worked), countIf(NOT worked), "
                                                 "countIf(resolved_by_outreach) FROM cx.outreach_effect").rows[0]
    assert worked > 50 and unworked > 50 and resolved > 10, "the outreach board compares worked and unworked items"
    for table in ("contacts_per_minute", "alerts_per_minute", "journey_steps_per_minute", "customer_channels_daily",
                  "contact_progress"):
        assert warehouse.query(f"SELECT count() FROM cx.{table}").scalar() > 0, table


def test_variables_resolve_like_grafana(states):
    _, journey = states["cx-journey"]
    assert re.fullmatch(r"c_[0-9a-f]{16}", journey["customer"].values[0])
    _, kpis = states["cx-kpis"]
    assert kpis["channel"].all and {"voice", "chat"} <= set(kpis["channel"].values)
    assert kpis["queue"].all and "billing" in kpis["queue"].values


@pytest.mark.parametrize(("uid", "title"), PANELS, ids=[f"{u}/{t}" for u, t in PANELS])
def test_panel_query_returns_its_columns(traffic, states, uid, title):
    warehouse, _ = traffic
    time_range, variables = states[uid]
    panel, target = next((p, t) for p, t in macros.clickhouse_targets(BUILT[uid]) if p["title"] == title)
    sql = macros.panel_sql(panel, target, time_range, variables)
    assert "$" not in sql.replace("'$", ""), f"unexpanded macro or variable in:\n{sql}"
    result = warehouse.query(sql)
    assert tuple(result.columns) == MODULES[uid].board().expected[title]
    assert result.rows, f"no rows:\n{sql}"


@pytest.mark.parametrize(("uid", "title"), PANELS, ids=[f"{u}/{t}" for u, t in PANELS])
def test_range_panels_read_rollups_not_raw_events(uid, title):
    panel = next(p for p, _ in macros.clickhouse_targets(BUILT[uid]) if p["title"] == title)
    sql = " ".join(t["rawSql"] for t in panel["targets"])
    if (uid, title) not in ONE_CUSTOMER:
        assert not RAW.search(sql), f"{uid}/{title} reads {RAW.search(sql)[0]}"


def test_every_clickhouse_panel_declares_its_columns():
    assert len(CLICKHOUSE_BOARDS) >= 4
    for uid in CLICKHOUSE_BOARDS:
        titles = {p["title"] for p, _ in macros.clickhouse_targets(BUILT[uid])}
        assert titles == set(MODULES[uid].board().expected), uid


def test_alerts_open_now_are_the_open_alerts(traffic):
    warehouse, _ = traffic
    now = warehouse.query("SELECT alert_id, version, state FROM cx.alerts_open_now ORDER BY alert_id").rows
    assert now and now == warehouse.query("SELECT alert_id, version, state FROM cx.open_alerts ORDER BY alert_id").rows


def test_snapshot_draws_every_board(traffic, tmp_path):
    from PIL import Image

    from streams.boards.snapshot import snapshot

    warehouse, _ = traffic
    paths = snapshot(warehouse.query, tmp_path, NOW)
    assert sorted(p.name for p in paths) == [f"{uid}.png" for uid in CLICKHOUSE_BOARDS]
    for path in paths:
        with Image.open(path) as image:
            assert image.width > 1000 and image.height > 500
            assert len(image.convert("L").getcolors(256)) > 50, f"{path.name} is nearly blank"


def test_the_workers_live_floor_kpis_agree_with_the_contact_and_alert_views(traffic):
    """streams.warehouse.floor_kpis (the demo board's numbers) reads the live floor's SQL; checked against cx.contacts and cx.open_alerts."""
    from streams.warehouse import floor_kpis

    warehouse, _ = traffic
    values = floor_kpis.read(warehouse, NOW)
    waiting = warehouse.query("""
        SELECT count() FROM cx.contacts
        WHERE queued_at >= now64(3) - INTERVAL 1 DAY AND answered_at IS NULL AND abandoned_at IS NULL
          AND ended_at IS NULL""").scalar()
    open_alerts = warehouse.query("SELECT count() FROM cx.open_alerts").scalar()
    assert values["waiting"] == waiting > 0
    assert values["open_alerts"] == open_alerts > 0
    assert 0 <= values["service_level"] <= 1 and 0 <= values["abandonment_rate"] <= 1
    assert values["oldest_wait_seconds"] > 0
