"""Run in a subprocess by tests/test_board_access.py (chDB allows one data path per process): load
simulated traffic as the in-process admin, then reopen the same data as a `default` user that holds
exactly the GRANTs and settings of schemas/clickhouse/access/cx_boards.sql and run every board
panel's expanded SQL, the variables' queries, and raw-identifier probes, as it. Prints one JSON
object: panels (rows, or the error; which stored identifier values a panel shows, how many
masks •••), variables,
probes (the refusal), hidden_values (how many values were looked for)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import orjson

from streams.boards import simulated
from streams.config import Settings
from streams.warehouse import board_access, macros, view_settings
from streams.warehouse.embedded import ChdbWarehouse, open_session
from streams.warehouse.migrate import migrate

# What the board user must be refused: each raw column, the views that pass them through, writes,
# and changing its settings.
PROBES = (*(f"SELECT {column} FROM cx.{table}" for table, columns in board_access.RAW_COLUMNS.items()
            for column in columns),
          "SELECT identifiers FROM cx.alerts_open_now", "SELECT identifiers FROM cx.work_list",
          "SELECT phone FROM cx.timeline(customer = 'c')", "SELECT count() FROM cx.events_resolved",
          "SELECT count() FROM cx.identity_map", "SELECT customer_key FROM cx.contacts",
          "INSERT INTO cx.settings (name, value) VALUES ('x', 1)", "SET readonly = 0", "SET max_memory_usage = 1")


def users_xml() -> str:
    """A users.xml whose `default` is the board user: its grants and its settings profile. Without
    the profile's CHANGEABLE_IN_READONLY constraints: clickhouse-local refuses them (they need the
    server's access_control_improvements.settings_constraints_replace_previous, which it does not read)."""
    queries = "".join(f"<query>{escape(g)}</query>" for g in board_access.grants())
    settings, _ = board_access.profile()
    values = "".join(f"<{name}>{value}</{name}>" for name, value in settings.items())
    return (f"<clickhouse><users><default><password></password><networks><ip>::/0</ip></networks>"
            f"<profile>boards</profile><quota>default</quota><grants>{queries}</grants></default></users>"
            f"<profiles><default/><boards>{values}</boards></profiles>"
            f"<quotas><default/></quotas></clickhouse>\n")


def panel_queries(warehouse: ChdbWarehouse, now: dt.datetime) -> tuple[dict[str, str], list[str]]:
    """Every panel's SQL as Grafana sends it, and the variables' queries (run here as the admin to
    resolve the variables; replayed as the board user)."""
    from streams.boards.build import dashboards

    out, variable_queries = {}, []

    def run(sql: str):
        variable_queries.append(sql)
        return warehouse.query(sql).rows

    for dashboard in dashboards():
        targets = list(macros.clickhouse_targets(dashboard))
        if not targets:
            continue
        default = macros.TimeRange.of(dashboard["time"], now)
        time_range = macros.TimeRange(min(default.start, now - dt.timedelta(hours=1)), default.end)
        given = {"identifier": simulated_identifier(warehouse)} if dashboard["uid"] == "cx-journey" else {}
        variables = macros.resolve_variables(dashboard, time_range, run, given)
        for panel, target in targets:
            out[f"{dashboard['uid']}/{panel['title']}"] = macros.panel_sql(panel, target, time_range, variables)
    return out, variable_queries


# The stored identifier values (after kind:) and survey comments: no board may show one.
HIDDEN_VALUES = """
SELECT DISTINCT substring(identifier, position(identifier, ':') + 1) FROM cx.identity_links
UNION DISTINCT SELECT DISTINCT JSONExtractString(attributes, 'comment') FROM cx.events"""


def simulated_identifier(warehouse: ChdbWarehouse) -> str:
    from streams.boards.journey import EXAMPLE_IDENTIFIER

    return warehouse.query(EXAMPLE_IDENTIFIER).scalar()


def _outcome(session, sql: str, success: str) -> str:
    """`success`, or the error ClickHouse answered with."""
    try:
        session.query(sql, "CSV")
    except Exception as exc:  # chDB raises RuntimeError with the server's message
        return str(exc)
    return success


def main(data: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    admin = ChdbWarehouse(data)
    migrate(admin)
    view_settings.publish(admin, Settings())
    simulated.load(admin, end=now, minutes=20, rate=6, seed=11)
    queries, variable_queries = panel_queries(admin, now)
    hidden = [v for (v,) in admin.query(HIDDEN_VALUES).rows if len(v) >= 6]
    admin.close()

    users = data / "boards-users.xml"
    users.write_text(users_xml())
    session = open_session(data, users)
    out: dict[str, object] = {"panels": {}, "variables": {}, "probes": {}, "hidden_values": len(hidden)}
    for name, sql in queries.items():
        try:
            text = session.query(sql, "JSONCompact").bytes().decode()
            out["panels"][name] = {"rows": len(orjson.loads(text or '{"data": []}')["data"]),
                                   "shows": [v for v in hidden if v in text], "masks": text.count("•••")}
        except Exception as exc:  # chDB raises RuntimeError with the server's message
            out["panels"][name] = {"error": str(exc)}
    out["variables"] = {sql: _outcome(session, sql, "ok") for sql in variable_queries}
    out["probes"] = {sql: _outcome(session, sql, "allowed") for sql in PROBES}
    session.close()
    sys.stdout.write(orjson.dumps(out).decode())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
