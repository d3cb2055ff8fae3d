"""CX KPIs over time: service level, ASA, AHT, abandonment, FCR, CSAT and NPS by channel and queue.

Everything but FCR comes from the per-minute rollup at 1-minute or coarser intervals. FCR needs
to know whether the customer came back within the repeat window (7 days) after the contact, which
no rollup can know when the contact is stored: it is computed at contact grain from
cx.contact_facts (one row per contact, never raw events), for contacts started in the range.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import table

from streams.boards.common import (
    ABANDONMENT_RAG,
    SERVICE_LEVEL_RAG,
    Board,
    Sql,
    colored_cells,
    column_unit,
    query_variable,
    series,
)
from streams.domain.channels import MESSAGING, sql_list
from streams.warehouse.queries import rollup_kpis

UID = "cx-kpis"

_PICKED = ("$__conditionalAll(channel IN (${channel:sqlstring}), $channel) "
           "AND $__conditionalAll(queue IN (${queue:sqlstring}), $queue)")
_WHERE = f"$__timeFilter(minute) AND {_PICKED}"
CHANNELS = """
SELECT DISTINCT channel FROM cx.contacts_per_minute
WHERE $__timeFilter(minute) AND channel != 'unknown'"""
QUEUES = """
SELECT DISTINCT queue FROM cx.contacts_per_minute
WHERE $__timeFilter(minute) AND queue != '' AND $__conditionalAll(channel IN (${channel:sqlstring}), $channel)"""


def _by_channel(kpi: str, needs: str) -> Sql:
    return Sql(rollup_kpis(["time", "channel", kpi], keys=("$__timeInterval(minute) AS time", "channel"),
                           where=_WHERE, having=f"{needs} > 0", order_by="time, channel"),
               ("time", "channel", kpi), time_series=True)


SERVICE_LEVEL = _by_channel("service_level", "offered")
ASA = _by_channel("asa_seconds", "answered")
AHT = _by_channel("aht_seconds", "handled")
ABANDONMENT = _by_channel("abandonment_rate", "offered")
CSAT = _by_channel("csat", "csat_responses")
NPS = _by_channel("nps", "nps_responses")

# Handled contacts started in the range, each with whether the same customer (as resolved when
# stored) started another contact within timeline.repeat_window_seconds after it.
_FCR_CONTACTS = """
(WITH (SELECT ifNull(argMaxOrNull(value, updated_at), 604800) FROM cx.settings
       WHERE name = 'repeat_window_seconds' AND channel = '') AS repeat_window
 SELECT c.contact_id AS contact_id, c.channel AS channel, c.queue AS queue, c.started_at AS started_at,
        arrayExists(t -> t > c.started_at AND dateDiff('millisecond', c.started_at, t) <= 1000 * repeat_window,
                    n.starts) AS repeated
 FROM (SELECT contact_id, min(channel) AS channel, argMaxMerge(queue) AS queue, max(customer) AS customer,
              coalesce(min(started_at), min(first_event_at)) AS started_at
       FROM cx.contact_facts
       WHERE contact_id IN (SELECT contact_id FROM cx.contact_facts
                            WHERE first_event_at >= $__fromTime - INTERVAL 1 DAY AND first_event_at <= $__toTime)
       GROUP BY contact_id
       HAVING started_at >= $__fromTime AND started_at <= $__toTime
          AND (min(answered_at) IS NOT NULL OR (channel IN ({MESSAGING_IN})
                                                AND min(first_agent_message_at) IS NOT NULL))
          AND max(ended_at) IS NOT NULL
          AND CHANNEL_AND_QUEUE) AS c
 LEFT JOIN (SELECT max(customer) AS customer_of, groupArray(start) AS starts
            FROM (SELECT contact_id, max(customer) AS customer, coalesce(min(started_at), min(first_event_at)) AS start
                  FROM cx.contact_facts
                  WHERE contact_id IN (SELECT contact_id FROM cx.contact_facts
                                       WHERE first_event_at >= $__fromTime
                                         AND first_event_at <= $__toTime + toIntervalSecond(repeat_window))
                  GROUP BY contact_id)
            WHERE customer != ''
            GROUP BY customer) AS n ON n.customer_of = c.customer)""".replace("CHANNEL_AND_QUEUE", _PICKED).replace(
    "{MESSAGING_IN}", sql_list(MESSAGING))
FCR = Sql(f"""
SELECT $__timeInterval(started_at) AS time, channel, countIf(NOT repeated) / count() AS fcr
FROM {_FCR_CONTACTS}
GROUP BY time, channel
ORDER BY time, channel""", ("time", "channel", "fcr"), time_series=True)
WAIT_PERCENTILES = Sql(f"""
SELECT time, q[1] AS p50, q[2] AS p90, q[3] AS p95
FROM (SELECT $__timeInterval(minute) AS time, quantilesMerge(0.5, 0.9, 0.95)(wait_quantiles) AS q
      FROM cx.contacts_per_minute
      WHERE {_WHERE} AND answered > 0
      GROUP BY time)
ORDER BY time""", ("time", "p50", "p90", "p95"), time_series=True)
_TABLE_COLUMNS = ("channel", "queue", "offered", "answered", "service_level", "asa_seconds", "abandonment_rate",
                  "aht_seconds", "csat", "nps")
TABLE = Sql(f"""
SELECT {", ".join(f"k.{c} AS {c}" for c in _TABLE_COLUMNS)}, f.fcr AS fcr
FROM ({rollup_kpis(list(_TABLE_COLUMNS), keys=("channel", "queue"), where=_WHERE,
                   having="offered > 0 OR handled > 0 OR csat_responses > 0 OR nps_responses > 0")}) AS k
LEFT JOIN (SELECT channel, queue, countIf(NOT repeated) / count() AS fcr
           FROM {_FCR_CONTACTS}
           GROUP BY channel, queue) AS f ON f.channel = k.channel AND f.queue = k.queue
ORDER BY offered DESC, channel, queue""", (*_TABLE_COLUMNS, "fcr"))


def board() -> Board:
    b = Board(UID, "cxpulse · CX KPIs", "Service level, ASA, AHT, abandonment, FCR, CSAT and NPS by channel "
              "and queue over time (definitions: docs/kpis.md).", refresh="1m", time_from="now-7d")
    b.variable(query_variable("channel", "Channel", CHANNELS, multi=True))
    b.variable(query_variable("queue", "Queue", QUEUES, multi=True))
    b.add("Service level", series("percentunit", low=0, high=1), SERVICE_LEVEL, width=12, height=8)
    b.add("Average speed of answer", series("s", low=0), ASA, width=12, height=8)
    b.add("Average handle time", series("s", low=0), AHT, width=12, height=8)
    b.add("Abandonment rate", series("percentunit", low=0), ABANDONMENT, width=12, height=8)
    b.add("First-contact resolution", series("percentunit", low=0, high=1), FCR, width=12, height=8,
          description="Handled contacts whose customer did not start another contact within the repeat window.")
    b.add("Queue wait percentiles", series("s", low=0), WAIT_PERCENTILES, width=12, height=8)
    b.add("CSAT", series("percentunit", low=0, high=1), CSAT, width=12, height=8,
          description="Share of CSAT answers 4-5, in the minute the survey came back, under the rated contact's queue.")
    b.add("NPS", series("none", low=-100, high=100), NPS, width=12, height=8)
    b.add("KPIs by channel and queue", table.Panel().show_header(True).overrides([
              colored_cells("service_level", "percentunit", SERVICE_LEVEL_RAG),
              colored_cells("abandonment_rate", "percentunit", ABANDONMENT_RAG),
              column_unit("asa_seconds", "s"), column_unit("aht_seconds", "s"),
              column_unit("csat", "percentunit"), column_unit("fcr", "percentunit")]),
          TABLE, width=24, height=10)
    return b


def dashboard() -> dict:
    return board().json()
