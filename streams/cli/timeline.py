"""`cxpulse timeline IDENTIFIER`: one customer's stitched timeline, from the warehouse.

The identifier may be any of the customer's (streams.warehouse.customers finds them); the customer's
events come from the cx.timeline view (sequence, journeys and channel switches computed there).
"""

from __future__ import annotations

from typing import IO

import orjson

from streams.warehouse import Result, Warehouse, sql_string

COLUMNS = ("customer_seq", "event_time", "journey", "channel", "channel_switch", "type", "contact_id",
           "queue", "agent_id", "source", "event_id", "attributes", "journey_id", "customer",
           "customer_when_processed", "identifier_issue_kinds", "identifier_issue_reasons", "identifier_issue_values")


def timeline(warehouse: Warehouse, customer: str, limit: int) -> Result:
    return warehouse.query(f"SELECT {', '.join(COLUMNS)} FROM cx.timeline(customer = {sql_string(customer)}) "
                           f"ORDER BY customer_seq LIMIT {int(limit)}")


def _summary(attributes: str) -> str:
    try:
        data = orjson.loads(attributes or "{}")
    except orjson.JSONDecodeError:
        return attributes
    return " ".join(f"{k}={v}" for k, v in data.items() if not isinstance(v, (dict, list)))[:60]


def _issues(row: dict) -> str:
    """The identifiers of the event that were not used, as sent: 'phone withheld "anonymous"'."""
    return " ".join(f"{kind} {reason} {orjson.dumps(raw).decode()}" for kind, reason, raw in
                    zip(row["identifier_issue_kinds"], row["identifier_issue_reasons"], row["identifier_issue_values"]))


def write_table(result: Result, customer: str, out: IO[str]) -> None:
    """A readable table: one row per event, a rule between journeys, ⇄ where the channel changed."""
    from rich.console import Console
    from rich.table import Table

    rows = result.dicts()
    channels = sorted({r["channel"] for r in rows})
    journeys = len({r["journey"] for r in rows})
    table = Table(title=f"customer {customer}: {len(rows)} events, {journeys} journeys, channels {', '.join(channels)}",
                  title_justify="left")
    for name in ("#", "time (UTC)", "journey", "channel", "type", "contact", "queue", "agent", "detail"):
        table.add_column(name, no_wrap=name in ("#", "time (UTC)", "type"))
    previous_journey = None
    for r in rows:
        if previous_journey is not None and r["journey"] != previous_journey:
            table.add_section()
        previous_journey = r["journey"]
        channel = ("⇄ " if r["channel_switch"] else "  ") + r["channel"]
        table.add_row(str(r["customer_seq"]), str(r["event_time"])[:19], str(r["journey"]), channel,
                      r["type"].removeprefix("cx."), r["contact_id"], r["queue"], r["agent_id"],
                      " ".join(filter(None, (_summary(r["attributes"]), _issues(r)))))
    Console(file=out, width=160).print(table)
