"""Live floor: what a supervisor watches all day. Refreshes every 5 s; the range is today so far.

Waiting now and the oldest wait come from cx.contacts_waiting (the last two days of
cx.contact_progress, not the whole contact history); everything "today" from the per-minute
rollup, so the board costs the same at 9:00 and at 17:00.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, piechart, table
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import piechart as piechart_model

from streams.boards.common import (ABANDONMENT_RAG, ASA_RAG, BLUE, SERVICE_LEVEL_RAG, WAIT_RAG, Board, Sql,
                                   all_rows, big_number, colored_cells, series, thresholds)
from streams.warehouse.queries import (ABANDONMENT, ASA, OLDEST_WAIT, OPEN_ALERTS, SERVICE_LEVEL, WAITING,
                                       rollup_kpis)

UID = "cx-live-floor"

WAITING_BY_QUEUE = Sql("""
SELECT concat(channel, ' / ', queue) AS queue, count() AS waiting
FROM cx.contacts_waiting
GROUP BY channel, queue
ORDER BY waiting DESC, queue""", ("queue", "waiting"))
CHANNEL_MIX = Sql("""
SELECT channel, sum(started) AS contacts
FROM cx.contacts_per_minute
WHERE $__timeFilter(minute)
GROUP BY channel
HAVING contacts > 0
ORDER BY contacts DESC""", ("channel", "contacts"))
CONTACTS_PER_INTERVAL = Sql(rollup_kpis(["time", "offered", "answered", "abandoned"],
                                        keys=("$__timeInterval(minute) AS time",), order_by="time"),
                            ("time", "offered", "answered", "abandoned"), time_series=True)
SERVICE_LEVEL_BY_CHANNEL = Sql(rollup_kpis(["time", "channel", "service_level"],
                                           keys=("$__timeInterval(minute) AS time", "channel"),
                                           having="offered > 0", order_by="time, channel"),
                               ("time", "channel", "service_level"), time_series=True)
WAIT_PERCENTILES = Sql("""
SELECT time, q[1] AS p50, q[2] AS p90, q[3] AS p95
FROM (SELECT $__timeInterval(minute) AS time, quantilesMerge(0.5, 0.9, 0.95)(wait_quantiles) AS q
      FROM cx.contacts_per_minute
      WHERE $__timeFilter(minute) AND answered > 0
      GROUP BY time)
ORDER BY time""", ("time", "p50", "p90", "p95"), time_series=True)
QUEUES = Sql(f"""
SELECT channel, queue, w.waiting AS waiting, w.oldest_wait_seconds AS oldest_wait_seconds,
       k.offered AS offered, k.answered AS answered, k.service_level AS service_level,
       k.asa_seconds AS asa_seconds, k.abandonment_rate AS abandonment_rate
FROM ({rollup_kpis(["channel", "queue", "offered", "answered", "service_level", "asa_seconds", "abandonment_rate"],
                   keys=("channel", "queue"), having="offered > 0 OR answered > 0")}) AS k
FULL OUTER JOIN (SELECT channel, queue, count() AS waiting, max(wait_seconds) AS oldest_wait_seconds
                 FROM cx.contacts_waiting GROUP BY channel, queue) AS w USING (channel, queue)
ORDER BY waiting DESC, service_level ASC, channel, queue""",
             ("channel", "queue", "waiting", "oldest_wait_seconds", "offered", "answered", "service_level",
              "asa_seconds", "abandonment_rate"))


def board() -> Board:
    b = Board(UID, "cxpulse · Live floor",
              "Supervisors: who is waiting now, service level, speed of answer and abandonment today.",
              refresh="5s", time_from="now/d")
    b.add("Waiting now", big_number("short"), WAITING, width=4, height=4)
    b.add("Oldest wait", big_number("s", WAIT_RAG), OLDEST_WAIT, width=4, height=4)
    b.add("Service level today", big_number("percentunit", SERVICE_LEVEL_RAG), SERVICE_LEVEL, width=4, height=4,
          description="Answered within the channel's service-level seconds / offered (abandons included).")
    b.add("ASA today", big_number("s", ASA_RAG), ASA, width=4, height=4,
          description="Average speed of answer: mean queue wait of answered contacts.")
    b.add("Abandonment today", big_number("percentunit", ABANDONMENT_RAG), ABANDONMENT, width=4, height=4,
          description="Abandoned after the short-abandon cutoff without a callback / offered.")
    b.add("Open proactive alerts", big_number("short"), OPEN_ALERTS, width=4, height=4)
    b.add("Waiting now by queue",
          bargauge.Panel().unit("short").reduce_options(all_rows()).thresholds(thresholds(BLUE))
          .orientation(common_model.VizOrientation.HORIZONTAL), WAITING_BY_QUEUE, width=8, height=8)
    b.add("Channel mix today", piechart.Panel().unit("short").reduce_options(all_rows())
          .pie_type(piechart_model.PieChartType.DONUT), CHANNEL_MIX, width=6, height=8)
    b.add("Contacts per interval", series("short", low=0),
          CONTACTS_PER_INTERVAL, width=10, height=8)
    b.add("Queues", table.Panel().show_header(True).overrides([
              colored_cells("oldest_wait_seconds", "s", WAIT_RAG),
              colored_cells("service_level", "percentunit", SERVICE_LEVEL_RAG),
              colored_cells("asa_seconds", "s", ASA_RAG),
              colored_cells("abandonment_rate", "percentunit", ABANDONMENT_RAG)]),
          QUEUES, width=24, height=9,
          description="Per queue: waiting now and today's KPIs; red / amber / green against the targets.")
    # 15-minute intervals, as contact centers report service level: the rollup counts an answer in
    # its own minute and the offer in the queue entry's, so per minute the ratio can pass 100 %.
    b.add("Service level by channel", series("percentunit", low=0, high=1).interval("15m"),
          SERVICE_LEVEL_BY_CHANNEL, width=12, height=8,
          description="Answered within the service-level threshold ÷ offered, per 15 minutes.")
    b.add("Queue wait of answered contacts", series("s", low=0), WAIT_PERCENTILES, width=12, height=8)
    return b


def dashboard() -> dict:
    return board().json()
