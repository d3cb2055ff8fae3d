"""Board query latency on a large warehouse: every live-floor panel query, timed on chDB.

Loads N events (default 10 million) of contact-center traffic spread over the last D days into a
fresh chDB warehouse with INSERT ... SELECT FROM numbers(): contacts on every channel with their
lifecycles (queued, answered or abandoned, callbacks, messages, ended, surveys), web and app
journeys, self-service, plus alerts and identity links. The inserts go through the
materialized views like the sink's do, so the rollups are filled as in production. Then each
live-floor panel query, expanded as Grafana sends it (range: today so far), runs --runs times;
p50/p95 per query land in benchmarks/results/board-queries-*.{json,md}. The other boards'
queries are timed too (fewer runs), and so is the cx.contacts view the "waiting now" panel does
not use, to show why.

    .venv/bin/python benchmarks/board_queries.py                      # 10M events, 30 days
    .venv/bin/python benchmarks/board_queries.py --events 1000000 --runs 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.warehouse import macros  # noqa: E402
from streams.boards.build import dashboards  # noqa: E402
from streams.boards.journey import EXAMPLE_IDENTIFIER  # noqa: E402
from streams.config import Settings  # noqa: E402
from streams.warehouse import view_settings  # noqa: E402
from streams.warehouse.embedded import ChdbWarehouse  # noqa: E402
from streams.warehouse.migrate import migrate  # noqa: E402

EVENTS_PER_CONTACT = 4.9  # what the generator below stores on average (events after now are dropped)
CONTACTS_PER_CUSTOMER = 3

# One contact n: its channel, queue, customer and start, from hashes of n (deterministic).
CONTACT = """
SELECT number AS n,
       {start} + n * {spacing} + (cityHash64(n, 0) % 1000) / 1000 AS t0,
       cityHash64(n, 1) % 100 AS r,
       multiIf(r < 25, 'voice', r < 45, 'chat', r < 55, 'email', r < 61, 'sms', r < 67, 'whatsapp', r < 71, 'social',
               r < 88, 'web', r < 96, 'app', 'self_service') AS channel,
       multiIf(channel = 'voice', ['billing', 'tech_support', 'sales', 'retention'],
               channel = 'chat', ['billing', 'tech_support', 'sales'], channel = 'email', ['billing', 'claims', 'general'],
               channel = 'sms', ['delivery', 'general'], channel = 'whatsapp', ['delivery', 'tech_support'],
               channel = 'social', ['social_care'], ['']) AS queues,
       queues[1 + cityHash64(n, 2) % length(queues)] AS queue,
       concat('c_', lower(hex(cityHash64(intDiv(n * 7919, {per_customer}) % {customers})))) AS customer,
       concat(channel, '-', lower(hex(n))) AS contact_id,
       toFloat64(cityHash64(n, 3) % 150) + (cityHash64(n, 10) % 1000) / 1000 AS wait,
       cityHash64(n, 4) % 100 < 12 AS abandons,
       60 + cityHash64(n, 5) % 540 AS handle,
       60 + cityHash64(n, 3) % 7200 AS reply,
       cityHash64(n, 6) % 100 < 30 AS surveyed,
       cityHash64(n, 4) % 100 < 20 AS fails,
       {events} AS events
FROM numbers({first}, {count})
"""

# Its events: (offset seconds, type, channel, direction, attributes); offsets < 0 are dropped.
EVENTS = """
arrayFilter(x -> x.1 >= 0, multiIf(
  channel IN ('voice', 'chat'), [
    (0., 'cx.contact.started', channel, 'inbound', '{}'),
    (2., 'cx.contact.queued', channel, 'inbound', '{}'),
    (if(abandons, 2 + wait, -1), 'cx.contact.abandoned', channel, 'inbound', '{}'),
    (if(abandons AND channel = 'voice' AND n % 2 = 0, 8 + wait, -1), 'cx.callback.requested', channel, 'outbound', '{}'),
    (if(abandons, -1, 2 + wait), 'cx.contact.answered', channel, 'inbound', '{}'),
    (if(abandons OR channel != 'chat', -1, 30 + wait), 'cx.contact.message', channel, 'inbound', '{"author":"customer"}'),
    (if(abandons OR channel != 'chat', -1, 60 + wait), 'cx.contact.message', channel, 'inbound', '{"author":"agent"}'),
    (if(abandons, -1, 2 + wait + handle), 'cx.contact.ended', channel, 'inbound', '{"resolution":"resolved"}'),
    (if(abandons OR NOT surveyed, -1, 122 + wait + handle), 'cx.survey.responded', 'survey', '',
     concat('{"contact_id":"', contact_id, '","csat":', toString(1 + cityHash64(n, 7) % 5),
            ',"nps":', toString(cityHash64(n, 8) % 11), '}'))],
  channel IN ('email', 'sms', 'whatsapp', 'social'), [
    (0., 'cx.contact.started', channel, 'inbound', '{}'),
    (1., 'cx.contact.message', channel, 'inbound', '{"author":"customer"}'),
    (if(cityHash64(n, 9) % 100 < 75, toFloat64(reply), -1), 'cx.contact.message', channel, 'inbound', '{"author":"agent"}'),
    (if(cityHash64(n, 9) % 100 < 75, toFloat64(reply + 300), -1), 'cx.contact.ended', channel, 'inbound', '{"resolution":"resolved"}')],
  channel IN ('web', 'app'), [
    (0., 'cx.page.viewed', channel, '', '{"url":"/cart"}'),
    (10., 'cx.journey.step', channel, '', '{"journey":"checkout","step":"cart","status":"entered"}'),
    (30., 'cx.journey.step', channel, '', '{"journey":"checkout","step":"cart","status":"completed"}'),
    (40., 'cx.journey.step', channel, '', '{"journey":"checkout","step":"shipping","status":"entered"}'),
    (80., 'cx.journey.step', channel, '', '{"journey":"checkout","step":"shipping","status":"completed"}'),
    (90., 'cx.journey.step', channel, '', '{"journey":"checkout","step":"payment","status":"entered"}'),
    (120., 'cx.journey.step', channel, '',
     if(fails, '{"journey":"checkout","step":"payment","status":"failed"}',
               '{"journey":"checkout","step":"payment","status":"completed"}'))],
  [(0., 'cx.selfservice.searched', channel, '', '{"query":"refund"}'),
   (20., 'cx.selfservice.viewed', channel, '', '{"article":"refund-policy"}')]))
"""

INSERT_EVENTS = """
INSERT INTO cx.events (event_time, source, event_id, type, channel, customer_key, customer, contact_id, queue,
                       direction, attributes, mode, origin, received_at, kafka_partition, kafka_offset)
SELECT toDateTime64(t0 + ev.1, 3, 'UTC') AS event_time, concat('/bench/', ev.3) AS source,
       concat(toString(n), '-', toString(i)) AS event_id, ev.2 AS type, ev.3 AS event_channel,
       concat('customer_id:', customer) AS customer_key, customer,
       if(channel IN ('web', 'app', 'self_service') OR ev.3 = 'survey', '', contact_id) AS contact_id,
       if(ev.3 = 'survey', '', queue) AS queue, ev.4 AS direction, ev.5 AS attributes, 'structured' AS mode,
       concat('cx.events:0:', event_id) AS origin, event_time AS received_at, 0 AS kafka_partition, n AS kafka_offset
FROM ({contacts})
ARRAY JOIN events AS ev, arrayEnumerate(events) AS i
WHERE t0 + ev.1 <= {now}
"""

INSERT_ALERTS = """
INSERT INTO cx.alerts (alert_id, version, rule, state, severity, priority, customer_id, identifiers, channel, contact_id,
                       since, threshold_at, changed_at, detected_at, reason, suggested_action, do_not_contact, outreach,
                       resolution)
SELECT concat('al_', substring(lower(hex(cityHash64(n, 20))), 1, 16), '0000') AS alert_id, v AS version,
       ['long_queue_wait', 'unanswered_message', 'abandoned_without_callback', 'stuck_journey', 'repeat_contact',
        'channel_hopping', 'negative_survey', 'long_hold'][1 + cityHash64(n, 21) % 8] AS rule,
       if(v = 1, 'open', 'resolved') AS state, 'warning' AS severity, (cityHash64(n, 22) % 600) / 10 AS priority,
       concat('c_', lower(hex(cityHash64(n % {customers})))) AS customer_id, '{{"phone":"+12025550100"}}' AS identifiers,
       ['voice', 'chat', 'email', 'web'][1 + cityHash64(n, 23) % 4] AS channel, '' AS contact_id,
       toDateTime64({start} + n * {spacing}, 3, 'UTC') AS since, since + toIntervalSecond(120) AS threshold_at,
       if(v = 1, threshold_at, threshold_at + toIntervalSecond(60 + cityHash64(n, 24) % 3600)) AS changed_at,
       changed_at AS detected_at, 'waited too long' AS reason, 'call the customer back' AS suggested_action,
       false AS do_not_contact, true AS outreach, if(v = 1, '', ['served', 'expired'][1 + cityHash64(n, 25) % 2]) AS resolution
FROM (SELECT number AS n FROM numbers({count})) ARRAY JOIN [1, 2] AS v
WHERE (v = 1 OR since < {now} - 7200) AND changed_at <= {now}
"""

INSERT_LINKS = """
INSERT INTO cx.identity_links (identifier, kind, node_id, customer_id, previous_customer_id, status, change, reason,
                               epoch, version, first_seen, changed_at)
SELECT concat('customer_id:', concat('c_', lower(hex(cityHash64(number))))) AS identifier, 'customer_id' AS kind,
       concat('c_', lower(hex(cityHash64(number)))) AS node_id, node_id AS customer_id, '' AS previous_customer_id,
       'linked' AS status, 'new' AS change, '' AS reason, 0 AS epoch, 1 AS version,
       toDateTime64({start}, 3, 'UTC') AS first_seen, first_seen AS changed_at
FROM numbers({customers})
"""


def load(warehouse: ChdbWarehouse, events: int, days: float, now: float, chunk: int) -> dict:
    contacts = int(events / EVENTS_PER_CONTACT)
    customers = max(1, contacts // CONTACTS_PER_CUSTOMER)
    start = now - days * 86400
    spacing = days * 86400 / contacts
    began = time.perf_counter()
    for first in range(0, contacts, chunk):
        sql_contacts = CONTACT.format(start=start, spacing=spacing, per_customer=CONTACTS_PER_CUSTOMER,
                                      customers=customers, first=first, count=min(chunk, contacts - first),
                                      events=EVENTS.strip())
        warehouse.execute(INSERT_EVENTS.format(contacts=sql_contacts, now=now))
        print(f"{min(first + chunk, contacts):,} contacts stored ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    warehouse.execute(INSERT_ALERTS.format(count=contacts // 40, customers=customers, start=start,
                                           spacing=spacing * 40, now=now))
    warehouse.execute(INSERT_LINKS.format(customers=customers, start=start))
    loaded_s = time.perf_counter() - began
    count = lambda table: warehouse.query(f"SELECT count() FROM {table}").scalar()  # noqa: E731
    return {"contacts": contacts, "customers": customers, "days": days, "load_s": round(loaded_s, 1),
            "rows": {t: count(t) for t in ("cx.events", "cx.contact_facts", "cx.contact_progress",
                                           "cx.contacts_per_minute", "cx.alerts", "cx.alerts_per_minute",
                                           "cx.journey_steps_per_minute", "cx.customer_channels_daily",
                                           "cx.identity_links")}}


def timed(warehouse: ChdbWarehouse, sql: str, runs: int) -> dict:
    warehouse.query(sql)  # warm-up: first-read of the parts, query plan caches
    took, rows = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        rows = len(warehouse.query(sql).rows)
        took.append((time.perf_counter() - began) * 1000)
    cuts = statistics.quantiles(took, n=20, method="inclusive")
    return {"runs": runs, "rows": rows, "p50_ms": round(statistics.median(took), 1), "p95_ms": round(cuts[18], 1),
            "max_ms": round(max(took), 1)}


def measure(warehouse: ChdbWarehouse, now: dt.datetime, runs: int, other_runs: int) -> list[dict]:
    out = []
    for dashboard in dashboards():
        uid = dashboard["uid"]
        n = runs if uid == "cx-live-floor" else other_runs
        if not n or not any(macros.clickhouse_targets(dashboard)):
            continue  # the pipeline board is Prometheus only
        time_range = macros.TimeRange.of(dashboard["time"], now)
        given = {"identifier": warehouse.query(EXAMPLE_IDENTIFIER).scalar()} if uid == "cx-journey" else {}
        variables = macros.resolve_variables(dashboard, time_range, lambda s: warehouse.query(s).rows, given)
        for panel, target in macros.clickhouse_targets(dashboard):
            result = timed(warehouse, macros.panel_sql(panel, target, time_range, variables), n)
            out.append({"board": uid, "panel": panel["title"], **result})
            print(f"{uid} / {panel['title']}: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms", file=sys.stderr)
    return out


VIEW_ALTERNATIVE = ("SELECT count() AS waiting, max(dateDiff('second', queued_at, now64(3))) AS oldest "
                    "FROM cx.contacts WHERE state = 'queued'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per live-floor query")
    parser.add_argument("--other-runs", type=int, default=5, help="timed runs per query of the other boards (0: skip)")
    parser.add_argument("--chunk", type=int, default=200_000, help="contacts per INSERT ... SELECT")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary directory, removed after")
    args = parser.parse_args()

    path = args.data_dir or Path(tempfile.mkdtemp(prefix="cxpulse-bench-"))
    now = dt.datetime.now(dt.UTC)
    warehouse = ChdbWarehouse(path / "chdb")
    try:
        migrate(warehouse)
        view_settings.publish(warehouse, Settings())
        loaded = load(warehouse, args.events, args.days, now.timestamp(), args.chunk)
        warehouse.execute("OPTIMIZE TABLE cx.contacts_per_minute FINAL")
        now = dt.datetime.now(dt.UTC)
        queries = measure(warehouse, now, args.runs, args.other_runs)
        view = timed(warehouse, VIEW_ALTERNATIVE, 3)
    finally:
        warehouse.close()
        if args.data_dir is None:
            shutil.rmtree(path, ignore_errors=True)
    result = {"events_requested": args.events, **loaded, "queries": queries,
              "waiting_now_from_cx_contacts_view": view,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}}
    stamp = time.strftime("%Y-%m-%dT%H%M%S%z")
    out = ROOT / "benchmarks" / "results" / f"board-queries-{stamp}"
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    floor = [q for q in queries if q["board"] == "cx-live-floor"]
    lines = [f"Board queries on chDB: {loaded['rows']['cx.events']:,} events over {args.days:g} days "
             f"({loaded['contacts']:,} contacts), loaded in {loaded['load_s']:,} s through the materialized views; "
             f"rollup rows: {loaded['rows']['cx.contacts_per_minute']:,} (contacts per minute).", "",
             f"Live floor, range today so far, {args.runs} runs per query after one warm-up "
             f"(target p95 < 200 ms): max p95 {max(q['p95_ms'] for q in floor)} ms.", "",
             "| board | panel | rows | p50 ms | p95 ms | max ms |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {q['board']} | {q['panel']} | {q['rows']} | {q['p50_ms']} | {q['p95_ms']} | {q['max_ms']} |"
              for q in queries]
    lines += ["", f"For comparison, waiting now from the cx.contacts view (every contact ever, identity map, "
                  f"window per customer): p50 {view['p50_ms']} ms over {view['runs']} runs."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
