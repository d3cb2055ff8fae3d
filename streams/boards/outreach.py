"""Proactive outreach: the team's work list and how their alerts end.

Open alerts come from cx.alerts_open_now (cx.open_alerts without grouping the resolved ones; the
alert contract is schemas/alerts/v1); counts over the range, how resolved alerts were resolved and
the time to resolve from cx.alerts_per_minute.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, piechart, table
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import piechart as piechart_model

from streams.boards.common import (AMBER, P1_PRIORITY, P2_PRIORITY, RED, WAIT_RAG, Board, Sql, all_rows,
                                   big_number, colored_cells, column_unit, series)

UID = "cx-outreach"

OPEN = Sql("SELECT count() AS open_alerts FROM cx.alerts_open_now", ("open_alerts",))
ESCALATED = Sql("SELECT countIf(state = 'escalated') AS escalated FROM cx.alerts_open_now", ("escalated",))
OPENED = Sql("""
SELECT sumIf(changes, state = 'open') AS opened
FROM cx.alerts_per_minute
WHERE $__timeFilter(minute)""", ("opened",))
RESOLVED = Sql("""
SELECT sumIf(changes, state = 'resolved') AS resolved
FROM cx.alerts_per_minute
WHERE $__timeFilter(minute)""", ("resolved",))
MEDIAN_TO_RESOLVE = Sql("""
SELECT quantilesMerge(0.5, 0.9)(resolve_quantiles)[1] AS median_resolve_seconds
FROM cx.alerts_per_minute
WHERE $__timeFilter(minute) AND state = 'resolved'""", ("median_resolve_seconds",))
WORK_LIST = Sql("""
SELECT round(priority, 1) AS priority, severity, state, rule, customer_id AS customer, channel,
       since AS waiting_since, dateDiff('second', since, now64(3)) AS waiting_seconds,
       reason, suggested_action, identifiers, contact_id
FROM cx.alerts_open_now
WHERE outreach
ORDER BY priority DESC, waiting_since
LIMIT 200""", ("priority", "severity", "state", "rule", "customer", "channel", "waiting_since", "waiting_seconds",
               "reason", "suggested_action", "identifiers", "contact_id"))
BY_RULE_AND_PRIORITY = Sql(f"""
SELECT rule,
       countIf(priority >= {P1_PRIORITY}) AS p1,
       countIf(priority >= {P2_PRIORITY} AND priority < {P1_PRIORITY}) AS p2,
       countIf(priority < {P2_PRIORITY}) AS p3
FROM cx.alerts_open_now
GROUP BY rule
ORDER BY count() DESC, rule""", ("rule", "p1", "p2", "p3"))
RESOLVED_BY = Sql("""
SELECT resolved_by, sum(changes) AS alerts
FROM cx.alerts_per_minute
WHERE $__timeFilter(minute) AND state = 'resolved'
GROUP BY resolved_by
ORDER BY alerts DESC""", ("resolved_by", "alerts"))
OPENED_BY_RULE = Sql("""
SELECT $__timeInterval(minute) AS time, rule, sum(changes) AS opened
FROM cx.alerts_per_minute
WHERE $__timeFilter(minute) AND state = 'open'
GROUP BY time, rule
ORDER BY time, rule""", ("time", "rule", "opened"), time_series=True)
TIME_TO_RESOLVE = Sql("""
SELECT rule, resolved, mean_seconds, q[1] AS p50_seconds, q[2] AS p90_seconds,
       outreach, self_service, agent, expired
FROM (SELECT rule, sum(changes) AS resolved, sum(resolve_seconds_sum) / resolved AS mean_seconds,
             quantilesMerge(0.5, 0.9)(resolve_quantiles) AS q,
             sumIf(changes, resolved_by = 'outreach') AS outreach,
             sumIf(changes, resolved_by = 'self_service') AS self_service,
             sumIf(changes, resolved_by = 'agent') AS agent,
             sumIf(changes, resolved_by IN ('expired', 'gone')) AS expired
      FROM cx.alerts_per_minute
      WHERE $__timeFilter(minute) AND state = 'resolved'
      GROUP BY rule)
ORDER BY resolved DESC, rule""", ("rule", "resolved", "mean_seconds", "p50_seconds", "p90_seconds", "outreach",
                                  "self_service", "agent", "expired"))


def board() -> Board:
    b = Board(UID, "cxpulse · Proactive outreach",
              "The proactive team's work list (open alerts by priority) and how alerts end.",
              refresh="30s", time_from="now-24h")
    b.add("Open alerts", big_number("short"), OPEN, width=5, height=4)
    b.add("Escalated", big_number("short", color=RED), ESCALATED, width=5, height=4)
    b.add("Opened", big_number("short"), OPENED, width=5, height=4, description="Alerts opened in the time range.")
    b.add("Resolved", big_number("short"), RESOLVED, width=4, height=4,
          description="Alerts resolved in the time range.")
    b.add("Median time to resolve", big_number("s", color=AMBER), MEDIAN_TO_RESOLVE, width=5, height=4,
          description="From the threshold being crossed to the alert resolving.")
    b.add("Work list: open alerts by priority", table.Panel().show_header(True).overrides([
              colored_cells("waiting_seconds", "s", WAIT_RAG), column_unit("waiting_since", "dateTimeAsIso")]),
          WORK_LIST, width=24, height=10,
          description="Customer, channel, waiting since and the suggested action; do-not-contact customers left out.")
    b.add("Open alerts by rule and priority", barchart.Panel().stacking(common_model.StackingMode.NORMAL)
          .x_field("rule").orientation(common_model.VizOrientation.HORIZONTAL),
          BY_RULE_AND_PRIORITY, width=8, height=8,
          description=f"Priority bands: p1 >= {P1_PRIORITY}, p2 >= {P2_PRIORITY}, else p3 (priority grows with "
                      "the time past the threshold, the size of the problem, earlier incidents, customer value).")
    b.add("How resolved alerts were resolved", piechart.Panel().reduce_options(all_rows())
          .pie_type(piechart_model.PieChartType.DONUT), RESOLVED_BY, width=6, height=8,
          description="outreach: the resolving event was outbound or a callback; self_service: web, app or "
                      "self-service; agent: an inbound contact; expired/gone: nobody acted.")
    b.add("Alerts opened by rule", series("short", low=0)
          .draw_style(common_model.GraphDrawStyle.BARS)
          .stacking(common_builders.StackingConfig().mode(common_model.StackingMode.NORMAL)),
          OPENED_BY_RULE, width=10, height=8)
    b.add("Time to resolve by rule", table.Panel().show_header(True).overrides([
              column_unit("mean_seconds", "s"), column_unit("p50_seconds", "s"), column_unit("p90_seconds", "s")]),
          TIME_TO_RESOLVE, width=24, height=8)
    return b


def dashboard() -> dict:
    return board().json()
