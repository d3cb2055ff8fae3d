"""Customer journey: one customer, found by any identifier, across every channel; and how
customers move between channels overall.

The `identifier` box takes what a person has at hand: an email, a phone number (digits in any
format; US numbers without +1 too), kind:value (account_id:acct-100001), a bare id, or a customer
id c_... The hidden `customer` variable resolves it through cx.board_customer (cx.identity_links by
primary key) to today's customer; the panels read cx.board_timeline(customer = ...): cx.timeline,
which renumbers journeys and channel switches after merges, with the event's identifiers masked
(+1 ••• ••• 0142). The cross-channel panels read the daily customer x channel rollup and the
journey-step rollup, not raw events.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, table
from grafana_foundation_sdk.builders import dashboard as builders

from streams.boards.common import Board, Sql, big_number, column_unit, query_variable

UID = "cx-journey"

_TYPED = "${identifier:sqlstring}"
CUSTOMER = f"SELECT customer_id FROM cx.board_customer(typed = {_TYPED})"

# An identifier worth showing (the default a snapshot or a check fills in): of the customers with
# an alert and at most 25 events (after merges), one who used the most channels; its strongest identifier that
# still belongs to it, else its customer id.
EXAMPLE_IDENTIFIER = """
WITH (SELECT customer FROM cx.events_resolved
      WHERE customer IN (SELECT customer_id FROM cx.alerts)
      GROUP BY customer HAVING count() <= 25
      ORDER BY uniqExact(channel) DESC, count() DESC, customer LIMIT 1) AS shown
SELECT ifNull(nullIf((SELECT identifier
                      FROM (SELECT identifier, any(kind) AS kind, argMax(customer_id, version) AS customer_now
                            FROM cx.identity_links
                            WHERE identifier IN (SELECT identifier FROM cx.identity_links WHERE customer_id = shown)
                            GROUP BY identifier)
                      WHERE customer_now = shown
                      ORDER BY indexOf(['customer_id', 'account_id', 'email', 'phone', 'social', 'device_id',
                                        'visitor_id'], kind), identifier
                      LIMIT 1), ''), shown)"""

_TIMELINE = "cx.board_timeline(customer = ${customer:sqlstring})"
SUMMARY = Sql(f"""
SELECT count() AS events, uniqExact(channel) AS channels, uniqExact(journey) AS journeys,
       countIf(channel_switch) AS channel_switches, uniqExactIf(contact_id, contact_id != '') AS contacts
FROM {_TIMELINE}
WHERE $__timeFilter(event_time)""", ("events", "channels", "journeys", "channel_switches", "contacts"))
TIMELINE = Sql(f"""
SELECT customer_seq AS seq, event_time, journey, channel, if(channel_switch, '⇄', '') AS switch, type,
       identifiers, contact_id, queue, agent_id, attributes
FROM {_TIMELINE}
WHERE $__timeFilter(event_time)
ORDER BY customer_seq DESC
LIMIT 500""", ("seq", "event_time", "journey", "channel", "switch", "type", "identifiers", "contact_id", "queue",
               "agent_id", "attributes"))
JOURNEYS = Sql(f"""
SELECT journey, min(event_time) AS started, max(event_time) AS last_event, count() AS events,
       arrayStringConcat(arrayCompact(arrayMap(e -> e.2, arraySort(groupArray((customer_seq, channel))))), ' → ')
           AS channel_path,
       countIf(channel_switch) AS switches, uniqExactIf(contact_id, contact_id != '') AS contacts
FROM {_TIMELINE}
WHERE $__timeFilter(event_time)
GROUP BY journey
ORDER BY journey DESC""", ("journey", "started", "last_event", "events", "channel_path", "switches", "contacts"))
CUSTOMER_ALERTS = Sql("""
SELECT max(changed_at) AS changed_at, argMax(rule, version) AS rule, argMax(state, version) AS state,
       argMax(channel, version) AS channel, argMax(reason, version) AS reason,
       argMax(suggested_action, version) AS suggested_action
FROM cx.alerts
WHERE customer_id = ${customer:sqlstring}
GROUP BY alert_id
ORDER BY changed_at DESC
LIMIT 50""", ("changed_at", "rule", "state", "channel", "reason", "suggested_action"))

_CHANNELS_PER_CUSTOMER = """(SELECT customer, minMap(first_use) AS used
      FROM cx.customer_channels_daily
      WHERE $__dateFilter(day)
      GROUP BY customer)"""
MULTICHANNEL_SHARE = Sql(f"""
SELECT countIf(length(used.1) >= 3) / count() AS share_3plus_channels
FROM {_CHANNELS_PER_CUSTOMER}""", ("share_3plus_channels",))
CHANNELS_PER_CUSTOMER = Sql(f"""
SELECT toString(length(used.1)) AS channels, count() AS customers
FROM {_CHANNELS_PER_CUSTOMER}
GROUP BY length(used.1)
ORDER BY length(used.1)""", ("channels", "customers"))
CHANNEL_PATHS = Sql(f"""
SELECT arrayStringConcat(arrayMap(i -> used.1[i], arraySort(i -> used.2[i], arrayEnumerate(used.1))), ' → ')
           AS channel_path,
       count() AS customers
FROM {_CHANNELS_PER_CUSTOMER}
WHERE length(used.1) >= 2
GROUP BY channel_path
ORDER BY customers DESC, channel_path
LIMIT 15""", ("channel_path", "customers"))
STUCK_STEPS = Sql("""
SELECT journey, step, entered, completed, failed,
       greatest(toInt64(entered) - toInt64(completed), 0) AS not_completed,
       if(entered > 0, failed / entered, NULL) AS failure_rate
FROM (SELECT journey, step, sum(entered) AS entered, sum(completed) AS completed, sum(failed) AS failed
      FROM cx.journey_steps_per_minute
      WHERE $__timeFilter(minute)
      GROUP BY journey, step)
ORDER BY not_completed DESC, failed DESC, journey, step
LIMIT 15""", ("journey", "step", "entered", "completed", "failed", "not_completed", "failure_rate"))


def board() -> Board:
    b = Board(UID, "cxpulse · Customer journey",
              "One customer's stitched timeline across channels (type any identifier), and how customers "
              "move between channels.", refresh="1m", time_from="now-7d")
    b.variable(builders.TextBoxVariable("identifier").label("Customer (any identifier)"))
    b.variable(query_variable("customer", "Customer id", CUSTOMER, hidden=True))
    b.add("This customer", big_number("short"), SUMMARY, width=24, height=4)
    b.add("Stitched timeline", table.Panel().show_header(True).overrides([column_unit("event_time", "dateTimeAsIso")]),
          TIMELINE, width=24, height=12,
          description="Every event of the customer on every channel, newest first; ⇄ marks a channel switch.")
    b.add("Journeys", table.Panel().show_header(True), JOURNEYS, width=14, height=8,
          description="A journey ends after timeline.journey_gap_seconds of inactivity (30 min by default).")
    b.add("This customer's alerts", table.Panel().show_header(True), CUSTOMER_ALERTS, width=10, height=8)
    b.row("All customers")
    b.add("Customers using 3+ channels", big_number("percentunit"),
          MULTICHANNEL_SHARE, width=6, height=8, description="Of the customers active in the range (by day).")
    b.add("Customers by number of channels", barchart.Panel().x_field("channels"), CHANNELS_PER_CUSTOMER,
          width=6, height=8)
    b.add("Most common channel paths", table.Panel().show_header(True), CHANNEL_PATHS, width=12, height=8,
          description="Channels in the order a customer first used them (2+ channels).")
    b.add("Stuck journey steps",
          table.Panel().show_header(True).overrides([column_unit("failure_rate", "percentunit")]),
          STUCK_STEPS, width=24, height=8,
          description="Entered but not completed, and failed, per journey step in the range.")
    return b


def dashboard() -> dict:
    return board().json()
