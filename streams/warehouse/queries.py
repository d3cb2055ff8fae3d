"""The SQL the boards and the worker share, free of Grafana: a panel's query with the columns it
returns, the contact KPIs over the per-minute rollup, and the live floor's headline figures.

The worker computes the floor's headlines (streams.warehouse.floor_kpis) with the same SQL the Live floor
board shows, without loading the boards (grafana-foundation-sdk) to get it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sql:
    """A panel's SQL (Grafana macros and variables allowed) and the columns it must return."""

    text: str
    columns: tuple[str, ...]
    time_series: bool = False  # format 0: the plugin makes one series per string column value


# The counts behind every contact KPI, summed over cx.contacts_per_minute rows (see the rollup's
# comments in schemas/clickhouse/0009_rollups.sql), and the KPIs from them: the same definitions
# as cx.kpis, so the boards, `cxpulse query` and the demo board agree.
ROLLUP_SUMS = """toInt64(sum(queued)) - toInt64(sum(short_abandons)) AS offered,
         sum(answered) AS answered,
         sum(answered_within_sl) AS answered_within_sl,
         greatest(toInt64(sum(abandons)) - toInt64(sum(abandons_called_back)), 0) AS abandoned,
         sum(handled) AS handled,
         sum(wait_seconds_sum) AS wait_seconds,
         sum(handle_seconds_sum) AS handle_seconds,
         sum(csat_responses) AS csat_responses,
         sum(csat_satisfied) AS csat_satisfied,
         sum(nps_responses) AS nps_responses,
         toInt64(sum(promoters)) - toInt64(sum(detractors)) AS net_promoters"""
KPIS = {
    "service_level": "if(offered > 0, answered_within_sl / offered, NULL)",
    "asa_seconds": "if(answered > 0, wait_seconds / answered, NULL)",
    "abandonment_rate": "if(offered > 0, abandoned / offered, NULL)",
    "aht_seconds": "if(handled > 0, handle_seconds / handled, NULL)",
    "csat": "if(csat_responses > 0, csat_satisfied / csat_responses, NULL)",
    "nps": "if(nps_responses > 0, 100 * net_promoters / nps_responses, NULL)",
}


def rollup_kpis(select: list[str], *, keys: tuple[str, ...] = (), where: str = "$__timeFilter(minute)",
                having: str = "", order_by: str = "") -> str:
    """SQL over cx.contacts_per_minute. `select` names KPIs (service_level, asa_seconds, ...), sums
    (offered, answered, ...) or key aliases; `keys` are grouping expressions ("channel",
    "$__timeInterval(minute) AS time")."""
    aliases = [k.split(" AS ")[-1] for k in keys]
    columns = ",\n       ".join(f"{KPIS[c]} AS {c}" if c in KPIS else c for c in select)
    inner_keys = "".join(f"{k},\n         " for k in keys)
    group = f"\n      GROUP BY {', '.join(aliases)}" if keys else ""
    sql = (f"SELECT {columns}\nFROM (SELECT {inner_keys}{ROLLUP_SUMS}\n"
           f"      FROM cx.contacts_per_minute\n      WHERE {where}{group})")
    if having:
        sql += f"\nWHERE {having}"
    if order_by:
        sql += f"\nORDER BY {order_by}"
    return sql


# The live floor's headline figures (Live floor board, and cxpulse_floor{kpi} from the worker).
WAITING = Sql("SELECT count() AS waiting FROM cx.contacts_waiting", ("waiting",))
OLDEST_WAIT = Sql("SELECT ifNull(max(wait_seconds), 0) AS oldest_wait_seconds FROM cx.contacts_waiting",
                  ("oldest_wait_seconds",))
SERVICE_LEVEL = Sql(rollup_kpis(["service_level"]), ("service_level",))
ASA = Sql(rollup_kpis(["asa_seconds"]), ("asa_seconds",))
ABANDONMENT = Sql(rollup_kpis(["abandonment_rate"]), ("abandonment_rate",))
OPEN_ALERTS = Sql("SELECT count() AS open_alerts, countIf(state = 'escalated') AS escalated FROM cx.board_open_alerts",
                  ("open_alerts", "escalated"))
FLOOR_HEADLINES = (WAITING, OLDEST_WAIT, SERVICE_LEVEL, ASA, ABANDONMENT, OPEN_ALERTS)
