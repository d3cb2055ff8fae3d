"""Proactive outreach: the team's work list, how their alerts end, and whether outreach helped.

Open alerts come from cx.board_open_alerts (cx.alerts_open_now, cx.open_alerts without grouping
the resolved ones, with identifiers masked: the board user reads no raw identifier); the alert contract is schemas/alerts/v1); counts over the range, how resolved alerts were resolved and
the time to resolve from cx.alerts_per_minute. The effect panels read the work items opened in the
range from cx.outreach_effect_between / cx.outreach_effect_by_rule_between (0012_outreach_effect.sql),
which read only those items' customers' events (docs/outreach-effect.md).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, bargauge, piechart, table
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import piechart as piechart_model

from streams.boards.common import (AMBER, BLUE, P1_PRIORITY, P2_PRIORITY, RED, WAIT_RAG, Board, Sql, all_rows,
                                   big_number, colored_cells, column_unit, series, thresholds)

UID = "cx-outreach"

OPEN = Sql("SELECT count() AS open_alerts FROM cx.board_open_alerts", ("open_alerts",))
ESCALATED = Sql("SELECT countIf(state = 'escalated') AS escalated FROM cx.board_open_alerts", ("escalated",))
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
FROM cx.board_open_alerts
WHERE outreach
ORDER BY priority DESC, waiting_since
LIMIT 200""", ("priority", "severity", "state", "rule", "customer", "channel", "waiting_since", "waiting_seconds",
               "reason", "suggested_action", "identifiers", "contact_id"))
BY_RULE_AND_PRIORITY = Sql(f"""
SELECT rule,
       countIf(priority >= {P1_PRIORITY}) AS p1,
       countIf(priority >= {P2_PRIORITY} AND priority < {P1_PRIORITY}) AS p2,
       countIf(priority < {P2_PRIORITY}) AS p3
FROM cx.board_open_alerts
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

# The work items opened in the dashboard's range, and their per-rule worked/unworked comparison.
ITEMS_IN_RANGE = "cx.outreach_effect_between(start = $__fromTime, stop = $__toTime)"
BY_RULE_IN_RANGE = "cx.outreach_effect_by_rule_between(start = $__fromTime, stop = $__toTime)"
FUNNEL = Sql(f"""
SELECT s.1 AS stage, s.2 AS items
FROM (SELECT count() AS opened, countIf(worked) AS claimed, countIf(reached) AS reached,
             countIf(resolved_by_outreach) AS resolved
      FROM {ITEMS_IN_RANGE})
ARRAY JOIN [('opened', opened), ('claimed', claimed), ('reached', reached),
            ('resolved by outreach', resolved)] AS s""", ("stage", "items"))
TIME_TO_CLAIM = Sql(f"""
SELECT if(countIf(worked) = 0, NULL, quantileExactIf(0.5)(time_to_claim_seconds, worked)) AS median,
       if(countIf(worked) = 0, NULL, quantileExactIf(0.9)(time_to_claim_seconds, worked)) AS p90
FROM {ITEMS_IN_RANGE}""", ("median", "p90"))
# One row per rule, the worked and unworked cohorts side by side (NULL where a cohort has no item).
WORKED_VS_UNWORKED = Sql(f"""
SELECT rule,
       if(countIf(cohort = 'worked') = 0, NULL, anyIf(repeat_contact_rate, cohort = 'worked')) AS worked_repeat_contact,
       if(countIf(cohort = 'unworked') = 0, NULL, anyIf(repeat_contact_rate, cohort = 'unworked')) AS unworked_repeat_contact,
       if(countIf(cohort = 'worked') = 0, NULL, anyIf(abandonment_rate, cohort = 'worked')) AS worked_abandonment,
       if(countIf(cohort = 'unworked') = 0, NULL, anyIf(abandonment_rate, cohort = 'unworked')) AS unworked_abandonment
FROM {BY_RULE_IN_RANGE}
GROUP BY rule
ORDER BY rule""", ("rule", "worked_repeat_contact", "unworked_repeat_contact", "worked_abandonment",
                   "unworked_abandonment"))
EFFECT_BY_RULE = Sql(f"""
SELECT rule, cohort, items, open_windows, reached, resolved_by_outreach, median_time_to_claim_seconds,
       repeat_contact_rate, abandonment_rate, negative_survey_rate, journey_finish_rate
FROM {BY_RULE_IN_RANGE}""", ("rule", "cohort", "items", "open_windows", "reached", "resolved_by_outreach",
                            "median_time_to_claim_seconds", "repeat_contact_rate", "abandonment_rate",
                            "negative_survey_rate", "journey_finish_rate"))


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
    b.row("Did outreach help? (work items opened in the range)")
    b.add("Outreach funnel", bargauge.Panel().unit("short").reduce_options(all_rows()).thresholds(thresholds(BLUE))
          .orientation(common_model.VizOrientation.HORIZONTAL), FUNNEL, width=8, height=7,
          description="Work items opened in the range: claimed (or attempted) by an agent, the customer reached on "
                      "an attempt, completed with outcome resolved.")
    b.add("Time to claim", big_number("s", color=AMBER), TIME_TO_CLAIM, width=4, height=7,
          description="Item opened -> first claimed, median and 90th percentile over the items claimed.")
    b.add("Repeat contact and abandonment: worked vs unworked", barchart.Panel().unit("percentunit")
          .x_field("rule").orientation(common_model.VizOrientation.HORIZONTAL),
          WORKED_VS_UNWORKED, width=12, height=7,
          description="Share of items whose customer contacted again (inbound, any channel) or abandoned a contact "
                      "within kpi.outreach_effect_window_seconds (24 h by default) of the item opening. Unworked "
                      "items are the comparison group; docs/outreach-effect.md.")
    b.add("Effect by rule", table.Panel().show_header(True).overrides([
              column_unit("median_time_to_claim_seconds", "s"), column_unit("repeat_contact_rate", "percentunit"),
              column_unit("abandonment_rate", "percentunit"), column_unit("negative_survey_rate", "percentunit"),
              column_unit("journey_finish_rate", "percentunit")]),
          EFFECT_BY_RULE, width=24, height=8,
          description="An item counts under every rule it held. open_windows: items whose window has not ended, "
                      "still being watched. journey_finish_rate: of the items whose customer was stuck at a journey "
                      "step, the share who completed it.")
    return b


def dashboard() -> dict:
    return board().json()
