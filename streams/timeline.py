"""`cxpulse timeline IDENTIFIER`: one customer's stitched timeline, from the warehouse.

The identifier may be any of the customer's: an email, a phone number in any common format,
kind:value (account_id:A-1, visitor_id:v-9, social:x:@handle), or a customer id (c_...).
It is normalized as ingest normalizes it (and hashed, in pseudonymized mode), looked up in cx.identity_map, and the customer's
events come from the cx.timeline view (sequence, journeys and channel switches computed there).
"""

from __future__ import annotations

import re
from typing import IO

import orjson

from streams.identity_graph import PRIORITY
from streams.normalize import identifiers
from streams.pseudonyms import Pseudonymizer
from streams.warehouse import Result, Warehouse, sql_string

_KIND = re.compile(r"^(%s):(.+)$" % "|".join(PRIORITY))
CUSTOMER_ID = re.compile(r"c_[0-9a-f]{16}")
_PHONE = re.compile(r"^[+(]?[\d\s().-]{6,}$")
COLUMNS = ("customer_seq", "event_time", "journey", "channel", "channel_switch", "type", "contact_id",
           "queue", "agent_id", "source", "event_id", "attributes", "journey_id", "customer",
           "customer_when_processed", "identifier_issue_kinds", "identifier_issue_reasons", "identifier_issue_values")


def candidates(text: str, region: str, pseudonymizer: Pseudonymizer | None = None) -> list[str]:
    """The kind:value identifiers `text` may stand for, normalized (and pseudonymized) like ingest does."""
    text = text.strip()
    match = _KIND.match(text)
    if match:
        kinds, raw = [match[1]], match[2]
    elif "@" in text and not text.startswith("@"):
        kinds, raw = ["email"], text
    elif _PHONE.match(text):
        kinds, raw = ["phone", "customer_id", "account_id"], text
    else:
        kinds, raw = ["customer_id", "account_id", "visitor_id", "device_id", "social"], text
    usable, _ = identifiers({kind: raw for kind in kinds}, region, [])
    if pseudonymizer:
        return [pseudonymizer.identifier(kind, value) for kind, value in usable.items()]
    return [f"{kind}:{value}" for kind, value in usable.items()]


def find_customer(warehouse: Warehouse, text: str, region: str,
                  pseudonymizer: Pseudonymizer | None = None) -> str | None:
    """Today's customer id for an identifier or customer id, or None when nobody has it."""
    if CUSTOMER_ID.fullmatch(text.strip()):
        return customer_of_id(warehouse, text.strip()) or text.strip()
    return customer_with(warehouse, candidates(text, region, pseudonymizer))


def customer_of_id(warehouse: Warehouse, wanted: str) -> str | None:
    """Today's customer id of a customer id ever stored, or None when no identifier maps it."""
    found = warehouse.query(f"SELECT customer_id FROM cx.identity_map WHERE node_id = {sql_string(wanted)} "
                            "AND status != 'blocked' LIMIT 1")
    return found.rows[0][0] if found.rows else None


def customer_with(warehouse: Warehouse, ids: list[str]) -> str | None:
    """The customer of the first of these kind:value identifiers anybody has, or None."""
    if not ids:
        return None
    found = warehouse.query("SELECT customer_id FROM cx.identity_map WHERE status != 'blocked' AND identifier IN ("
                            + ", ".join(sql_string(i) for i in ids) + ") ORDER BY identifier LIMIT 1")
    return found.rows[0][0] if found.rows else None


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
