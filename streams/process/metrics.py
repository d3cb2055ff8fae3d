"""Prometheus metrics of every cxpulse process (labels are bounded: stage, channel, reason, table, topic)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server


class Children:
    """A metric's labelled children, looked up once: `.labels()` costs more than the update itself."""

    def __init__(self, metric) -> None:
        self.metric, self._children = metric, {}

    def __call__(self, *values: str):
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


CONSUMED = Counter("cxpulse_events_consumed_total", "Records read by a stage (envelopes count their records)", ["stage"])
VALID = Counter("cxpulse_events_valid_total", "Events that passed ingest and dedup", ["channel"])
DEAD_LETTERS = Counter("cxpulse_dead_letters_total", "Messages sent to the dead-letter topic", ["stage", "reason"])
DUPLICATES = Counter("cxpulse_duplicates_dropped_total", "Events dropped as duplicates of an earlier source+id")
REDELIVERIES = Counter("cxpulse_redeliveries_dropped_total",
                       "Upstream redeliveries (same inbound message re-sent after a crash) dropped silently")
IDENTIFIERS_BLOCKED = Counter("cxpulse_identifiers_blocked_total",
                              "Identifiers on events that identify no one (blocked values)", ["kind"])
IDENTIFIERS_REFUSED = Counter("cxpulse_identifiers_refused_total",
                              "Identifiers with no normal form on accepted events, stored raw and not stitched "
                              "(reason: withheld, invalid, malformed)", ["kind", "reason"])
IDENTITY_CHANGES = Counter("cxpulse_identity_changes_total",
                           "Changes of an identifier's customer: new, merged, over_cap, republished", ["change"])
ALERTS = Counter("cxpulse_alerts_total", "Alert state changes sent to cx.alerts", ["rule", "state"])
WORK_ITEMS = Counter("cxpulse_work_items_total", "Work item versions sent to cx.work_items, by the state they are in",
                     ["state"])
OUTREACH_ITEMS = Gauge("cxpulse_outreach_items", "Work items on a team's list (listed) and waiting for room on it "
                       "(waiting), as the dispatch stage last decided (held items: cxpulse_work_items_total{state=\"held\"})",
                       ["team", "place"])
ALERT_LATENCY = Histogram("cxpulse_alert_latency_seconds",
                          "Wall clock when an alert opened minus the event time its threshold was crossed", ["rule"],
                          buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))
WEBHOOK = Counter("cxpulse_webhook_deliveries_total",
                  "Webhook delivery attempts: delivered, retried, failed (undelivered), skipped_do_not_contact", ["result"])
ROWS_STORED = Counter("cxpulse_rows_stored_total", "Rows written to the warehouse", ["table"])
REPLAYED_ROWS = Counter("cxpulse_replayed_rows_skipped_total",
                        "Rows of a batch read again after a crash that the table held already (left out of the "
                        "insert, so the counting views count them once)", ["table"])
STORE_FAILURES = Counter("cxpulse_store_failures_total", "Failed warehouse writes (retried)", ["table"])
BATCH_ROWS = Histogram("cxpulse_store_batch_rows", "Rows per warehouse batch", ["table"],
                       buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 20000))
STORE_SECONDS = Histogram("cxpulse_store_latency_seconds", "Time to store one batch", ["table"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
END_TO_END = Histogram("cxpulse_event_to_stored_seconds", "Event time to row stored", ["channel"],
                       buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600))
ROLLED_UP_UNTIL = Gauge("cxpulse_rolled_up_until_seconds",
                        "Store time (Unix seconds) up to which this worker's rollups have run (streams.warehouse.rollups): "
                        "the boards' rolled-up tables hold every event stored before it")
STATE_KEYS = Gauge("cxpulse_state_keys", "Keys a stage holds in its table on this worker (RocksDB's estimate)", ["table"])
CONSUMER_LAG = Gauge("cxpulse_consumer_lag_messages",
                     "Messages on the worker's assigned partitions not yet committed, per topic", ["topic"])
FLOOR = Gauge("cxpulse_floor", "Live-floor KPIs from the board's SQL, every metrics.floor_kpis_seconds "
              "(waiting, oldest_wait_seconds, service_level, asa_seconds, abandonment_rate, open_alerts, escalated)",
              ["kpi"])
CONSUMING = Gauge("cxpulse_worker_consuming", "1 once tables are recovered and every consumer group is joined (streams.runtime.consumer_status)")
GC_PAUSE = Histogram("cxpulse_gc_pause_seconds", "Time the event loop stood still in one cyclic garbage collection",
                     ["generation"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
DETECT_TIMERS = Gauge("cxpulse_detect_timers", "Customers with an alert timer pending in the detection stage")
GATEWAY_REQUESTS = Counter("cxpulse_gateway_requests_total", "HTTP requests to the gateway by answer",
                           ["source", "route", "code"])
GATEWAY_EVENTS = Counter("cxpulse_gateway_events_total", "Events the broker acknowledged for the gateway",
                         ["source", "route"])
GATEWAY_BYTES = Counter("cxpulse_gateway_request_bytes_total", "Request body bytes received", ["source", "route"])
GATEWAY_SECONDS = Histogram("cxpulse_gateway_request_seconds", "Request received to answer sent",
                            ["source", "route"],
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
GATEWAY_REFUSALS = Counter("cxpulse_gateway_refusals_total",
                           "Requests answered 4xx/503, by reason (dead-letter reasons, unauthorized, unavailable…)",
                           ["source", "reason"])


def serve(host: str, port: int, required: bool = True) -> bool:
    """Expose /metrics on host:port (port 0 disables). A busy port is fatal only when `required`."""
    if not port:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        if required:
            raise OSError(f"cannot serve metrics on {host}:{port} ({exc}); set CXPULSE_METRICS_PORT") from exc
        logging.getLogger(__name__).warning("metrics not served: %s:%s is busy (%s)", host, port, exc)
        return False
    return True
