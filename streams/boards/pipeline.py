"""The "Pipeline health" board for operators, on Prometheus: is every worker up, is traffic flowing
per channel, is anything backing up or being refused (by the workers or at the HTTP gateway), how
fast are rows stored and alerts raised.

Every query reads the metrics of streams.process.metrics as the workers expose them (no recording rules, so
the board works on a Prometheus without cxpulse's rule files). The alert rules in
deploy/prometheus/rules/ watch the same series.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import common, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as sdk_dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
)

UID = "cxpulse-pipeline"
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
WORKERS = 'job="cxpulse-worker"'
CHANNEL = 'channel=~"$channel"'


def _rate(metric: str, by: str, selector: str = "") -> str:
    return f"sum by ({by}) (rate({metric}{'{' + selector + '}' if selector else ''}[$__rate_interval]))"


def _quantile(q: float, histogram: str, by: str = "", selector: str = "") -> str:
    rates = _rate(f"{histogram}_bucket", f"le, {by}" if by else "le", selector)
    return f"histogram_quantile({q}, {rates})"


def _targets(queries: list[tuple[str, str]], instant: bool = False) -> list[prometheus.Dataquery]:
    targets = []
    for ref, (expr, legend) in zip("ABCDEFGH", queries):
        target = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(PROMETHEUS)
        targets.append(target.instant() if instant else target.range())
    return targets


def _series(title: str, description: str, unit: str, queries: list[tuple[str, str]]):
    return (timeseries.Panel().title(title).description(description).datasource(PROMETHEUS).unit(unit)
            .targets(_targets(queries)).span(12).height(8).fill_opacity(10).line_width(1)
            .legend(common.VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.LIST)
                    .placement(LegendPlacement.BOTTOM).calcs([]))
            .tooltip(common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI)))


def _stat(title: str, description: str, unit: str, expr: str, red_below: float | None = None):
    panel = (stat.Panel().title(title).description(description).datasource(PROMETHEUS).unit(unit)
             .targets(_targets([(expr, "")])).span(6).height(4)
             .graph_mode(BigValueGraphMode.AREA).color_mode(BigValueColorMode.VALUE)
             .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)))
    if red_below is not None:
        panel = panel.thresholds(sdk_dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
            [Threshold(value=None, color="red"), Threshold(value=red_below, color="green")]))
    return panel


def _alert_changes():
    return (table.Panel().title("Alert changes in range by rule and state")
            .description("Alert state changes sent to cx.alerts over the dashboard's time range.")
            .datasource(PROMETHEUS).span(12).height(8).show_header(True)
            .with_transformation(DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}}))
            .targets([target.format("table") for target in _targets(
                [("sum by (rule, state) (increase(cxpulse_alerts_total[$__range]))", "")], instant=True)]))


def _board() -> sdk_dashboard.Dashboard:
    channel = (sdk_dashboard.QueryVariable("channel").label("Channel").datasource(PROMETHEUS)
               .query("label_values(cxpulse_events_valid_total, channel)")
               .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).multi(True).include_all(True).all_value(".*"))
    return (
        sdk_dashboard.Dashboard("Pipeline health").uid(UID).tags(["cxpulse", "pipeline"]).refresh("10s")
        .time("now-1h", "now").timezone("browser").readonly().with_variable(channel)
        .with_row(sdk_dashboard.Row("Flow"))
        .with_panel(_stat("Workers up", "Worker targets Prometheus scrapes successfully; 0: nothing is processed.",
                          "short", f"sum(up{{{WORKERS}}})", red_below=1))
        .with_panel(_stat("Valid events/s", "Events that passed ingest and dedup, selected channels.", "ops",
                          f"sum(rate(cxpulse_events_valid_total{{{CHANNEL}}}[$__rate_interval]))"))
        .with_panel(_stat("Consumer lag", "Messages not yet committed, all topics and workers.", "short",
                          "sum(cxpulse_consumer_lag_messages)"))
        .with_panel(_stat("Dead letters/s", "Messages refused to the dead-letter topic, all reasons.", "ops",
                          "sum(rate(cxpulse_dead_letters_total[$__rate_interval]))"))
        .with_panel(_series("Valid events/s by channel", "A channel at 0 while others flow: its channel system "
                            "went silent (alert CxpulseChannelSilent).", "ops",
                            [(_rate("cxpulse_events_valid_total", "channel", CHANNEL), "{{channel}}")]))
        .with_panel(_series("Records/s by stage", "Records each stage reads (envelopes count their records).",
                            "ops", [(_rate("cxpulse_events_consumed_total", "stage"), "{{stage}}")]))
        .with_panel(_series("Consumer lag by topic", "Messages on each topic not yet committed by the workers; "
                            "growing means the workers fall behind.", "short",
                            [("sum by (topic) (cxpulse_consumer_lag_messages)", "{{topic}}")]))
        .with_panel(_series("Worker up", "1 per worker target scraped; 0 is a worker Prometheus cannot reach.", "short",
                            [(f"up{{{WORKERS}}}", "{{instance}}")]))
        .with_row(sdk_dashboard.Row("Refused and dropped"))
        .with_panel(_series("Dead letters/s by reason", "Why messages are refused; `cxpulse dlq list` shows them.",
                            "ops", [(_rate("cxpulse_dead_letters_total", "stage, reason"), "{{stage}}: {{reason}}")]))
        .with_panel(_series("Duplicates and redeliveries dropped/s", "Same source+id seen again, and upstream "
                            "redeliveries after a crash.", "ops",
                            [("sum(rate(cxpulse_duplicates_dropped_total[$__rate_interval]))", "duplicates"),
                             ("sum(rate(cxpulse_redeliveries_dropped_total[$__rate_interval]))", "redeliveries")]))
        .with_row(sdk_dashboard.Row("Gateway"))
        .with_panel(_series("Gateway requests/s by code", "Answers of `cxpulse gateway`: 202 accepted (the broker "
                            "acknowledged), 4xx refused, 503 broker unavailable (alert CxpulseGatewayUnavailable).",
                            "reqps", [(_rate("cxpulse_gateway_requests_total", "code"), "{{code}}")]))
        .with_panel(_series("Gateway latency by route", "Request received to answer sent, p50 and p99; a 202 waits "
                            "for the broker's acknowledgement, so this is mostly Kafka's write latency.", "s",
                            [(_quantile(0.5, "cxpulse_gateway_request_seconds", "route"), "p50 {{route}}"),
                             (_quantile(0.99, "cxpulse_gateway_request_seconds", "route"), "p99 {{route}}")]))
        .with_panel(_series("Gateway refusals/s by reason", "Requests refused, by source and reason: bad_token or "
                            "bad_signature is a source with wrong credentials (alert CxpulseGatewayAuthRefusals); "
                            "refused events never reach the dead-letter topic.", "reqps",
                            [(_rate("cxpulse_gateway_refusals_total", "source, reason"), "{{source}}: {{reason}}")]))
        .with_panel(_series("Gateway events accepted/s by source", "Events the broker acknowledged for each "
                            "configured source (a batch counts its events); a source at 0 stopped posting.", "ops",
                            [(_rate("cxpulse_gateway_events_total", "source"), "{{source}}")]))
        .with_row(sdk_dashboard.Row("Warehouse"))
        .with_panel(_series("Store latency by table", "Time to store one batch, p50 and p99.", "s",
                            [(_quantile(0.5, "cxpulse_store_latency_seconds", "table"), "p50 {{table}}"),
                             (_quantile(0.99, "cxpulse_store_latency_seconds", "table"), "p99 {{table}}")]))
        .with_panel(_series("Rows stored and store failures/s by table", "Failed writes are retried; failures with "
                            "no rows stored mean the warehouse is down (alert CxpulseStoreStalled).", "ops",
                            [(_rate("cxpulse_rows_stored_total", "table"), "stored {{table}}"),
                             # a table with no failure yet has no failure series: read 0 for every table that stores
                             (f'{_rate("cxpulse_store_failures_total", "table")} or '
                              + f'{_rate("cxpulse_rows_stored_total", "table")} * 0', "failed {{table}}")]))
        .with_panel(_series("End-to-end latency", "Event time to row stored, selected channels.", "s",
                            [(_quantile(q, "cxpulse_event_to_stored_seconds", selector=CHANNEL), f"p{round(q * 100)}")
                             for q in (0.5, 0.9, 0.99)]))
        .with_panel(_series("Batch size by table", "Rows per warehouse batch, p50.", "short",
                            [(_quantile(0.5, "cxpulse_store_batch_rows", "table"), "{{table}}")]))
        .with_row(sdk_dashboard.Row("Alerts"))
        .with_panel(_series("Alert latency by rule", "Wall clock when an alert opened minus the event time its "
                            "threshold was crossed, p50 and p99.", "s",
                            [(_quantile(0.5, "cxpulse_alert_latency_seconds", "rule"), "p50 {{rule}}"),
                             (_quantile(0.99, "cxpulse_alert_latency_seconds", "rule"), "p99 {{rule}}")]))
        .with_panel(_series("Webhook deliveries/s by result", "failed: undelivered after every attempt, now on the "
                            "undelivered topic (alert CxpulseAlertDeliveryFailing).", "ops",
                            [(_rate("cxpulse_webhook_deliveries_total", "result"), "{{result}}")]))
        .with_panel(_series("Alert changes/s by rule and state", "Alert state changes sent to cx.alerts.", "ops",
                            [(_rate("cxpulse_alerts_total", "rule, state"), "{{rule}} {{state}}")]))
        .with_panel(_alert_changes())
        .with_row(sdk_dashboard.Row("State"))
        .with_panel(_series("State keys by table", "Keys each stage holds in memory.", "short",
                            [("sum by (table) (cxpulse_state_keys)", "{{table}}"),
                             ("sum(cxpulse_detect_timers)", "detect timers pending")]))
        .with_panel(_series("Garbage-collector pauses", "Time every stage of a worker stood still in one collection, "
                            "p99 by generation, and the share of time paused; a p99 latency rise with long full "
                            "(generation 2) pauses is the collector, not a stage.", "s",
                            [(_quantile(0.99, "cxpulse_gc_pause_seconds", "generation"), "p99 generation {{generation}}"),
                             ("sum(rate(cxpulse_gc_pause_seconds_sum[$__rate_interval]))", "paused per second")]))
    )


def dashboard() -> dict:
    """The Grafana dashboard JSON model, panels numbered in order."""
    model = json.loads(JSONEncoder(sort_keys=True).encode(_board().build()))
    for number, panel in enumerate(model["panels"], start=1):
        panel["id"] = number
    return model
