"""What one erasure deletes, from the warehouse: the customer, every identifier and customer id they
ever had, their contacts and source+id pairs (the Plan, streams.domain.erasure), and the SQL that
finds their rows in every table of cx.

Resolved once from the warehouse and stored before anything is deleted (the privacy stage keeps it
in a changelogged table), because the deletes remove what it was resolved from: a rerun after a
crash must act on the same plan. `where` is pure: one condition per table, used to count the rows
and then to delete them (ClickHouse server and chDB alike).
"""

from __future__ import annotations

import msgspec
import phonenumbers

from streams.domain.erasure import Plan
from streams.domain.identity_graph import canonical_id
from streams.warehouse import Warehouse, sql_string
from streams.warehouse.customers import CUSTOMER_ID, customer_of_id, customer_with


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(sql_string(v) for v in values)})" if values else "0"


def _any(*conditions: str) -> str:
    return " OR ".join(f"({c})" for c in conditions if c != "0") or "0"


def search_values(identifiers: list[str]) -> tuple[list[str], list[str]]:
    """(texts, digit strings) an identifier may be written as in a payload: its value, and a phone's
    national number, matched against the payload's digits (so "(415) 555-0001" is found too)."""
    texts, digits = set(), set()
    for identifier in identifiers:
        kind, _, value = identifier.partition(":")
        texts.add(value)
        if kind == "social":
            texts.add(value.partition(":")[2])
        if kind == "phone" and value.startswith("+"):
            try:
                digits.add(str(phonenumbers.parse(value).national_number))
            except phonenumbers.NumberParseException:
                pass
    return sorted(t for t in texts if len(t) >= 4), sorted(d for d in digits if len(d) >= 7)


# Everything a dead letter says, readable: payload, key and header values decoded from base64.
_DEAD_LETTER_TEXT = ("concat(tryBase64Decode(payload_base64), ' ', tryBase64Decode(message_key), ' ', detail, ' ', "
                     "payload_preview, ' ', arrayStringConcat(arrayMap(h -> tryBase64Decode(h[2]), "
                     "JSONExtract(headers, 'Array(Array(String))')), ' '))")


def _array(values: list[str]) -> str:
    return "[" + ", ".join(sql_string(v) for v in values) + "]"


def where(plan: Plan) -> dict[str, str]:
    """{table: condition on its rows of this customer} for every table of cx holding customer data."""
    ids, customers, contacts = plan.identifiers, plan.customers, plan.contacts
    by_kind: dict[str, list[str]] = {}
    for identifier in ids:
        kind, _, value = identifier.partition(":")
        by_kind.setdefault(kind, []).append(value)
    texts, digits = search_values(ids)
    dead = _any(f"multiSearchAnyCaseInsensitive({_DEAD_LETTER_TEXT}, {_array(texts)})" if texts else "0",
                f"multiSearchAny(replaceRegexpAll({_DEAD_LETTER_TEXT}, '[^0-9]', ''), {_array(digits)})"
                if digits else "0")
    of_contacts = _any(_in("contact_id", contacts), _in("customer", customers))
    return {
        "cx.events": _any(_in("customer", customers), _in("customer_key", ids), _in("contact_id", contacts),
                          *(_in(kind, values) for kind, values in sorted(by_kind.items()))),
        "cx.contact_facts": of_contacts,
        "cx.contact_progress": of_contacts,
        "cx.customer_channels_daily": _in("customer", customers),
        "cx.identity_links": _in("identifier", ids),
        "cx.alerts": _in("customer_id", customers),
        "cx.work_items": _in("customer_id", customers),
        "cx.outreach_dispatch": _in("customer_id", customers),
        "cx.dead_letters": dead,
    }


def count(warehouse: Warehouse, plan: Plan) -> dict[str, int]:
    """Rows per table as queries see them (FINAL: a row stored twice after a replay counts once)."""
    return {table: int(warehouse.query(f"SELECT count() FROM {table} FINAL WHERE {condition}").scalar() or 0)
            for table, condition in where(plan).items()}


def delete(warehouse: Warehouse, plan: Plan) -> None:
    """Rewrite the parts holding the rows (a mutation, waited for): the values are gone from disk,
    not only hidden as a lightweight DELETE leaves them until a merge. Idempotent."""
    for table, condition in where(plan).items():
        if condition != "0":
            warehouse.execute(f"ALTER TABLE {table} DELETE WHERE {condition} SETTINGS mutations_sync = 2")


def resolve(warehouse: Warehouse, plan: Plan, ids: list[str], customer_id: str, hashes: list[str]) -> Plan:
    """Fill `plan` from the warehouse: the customer of `ids` (or of the customer id), with every
    identifier linked to them now and every customer id those ever had. `hashes`: the receipt hashes
    of `ids`, to tell an erasure done before from an identifier nobody ever had."""
    customer = customer_of_id(warehouse, customer_id) if CUSTOMER_ID.fullmatch(customer_id) else customer_with(warehouse, ids)
    if customer is None:
        found = warehouse.query("SELECT erasure_id FROM cx.erasures WHERE hasAny(identifiers, "
                                f"{_array(hashes)}) ORDER BY completed_at LIMIT 1") if hashes else None
        if found and found.rows:
            return msgspec.structs.replace(plan, status="already_erased", previous=found.rows[0][0])
        return msgspec.structs.replace(plan, status="unknown")
    q = warehouse.query
    identifiers = [r[0] for r in q("SELECT identifier FROM cx.identity_map WHERE customer_id = "
                                   f"{sql_string(customer)} AND status = 'linked' ORDER BY identifier").rows]
    customers = {customer, *(canonical_id(i) for i in identifiers)}
    for row in q(f"SELECT DISTINCT customer_id, previous_customer_id FROM cx.identity_links WHERE "
                 f"{_in('identifier', identifiers)}").rows:
        customers.update(c for c in row if c)
    customers_in = _in("customer", sorted(customers))
    mine = _any(customers_in, _in("customer_key", identifiers))
    contacts = [r[0] for r in q(f"SELECT DISTINCT contact_id FROM cx.events WHERE ({mine}) AND contact_id != '' "
                                "ORDER BY contact_id").rows]
    theirs = _any(mine, _in("contact_id", contacts))
    keys = [f"{s}\x1f{i}" for s, i in q(f"SELECT DISTINCT source, event_id FROM cx.events WHERE {theirs} "
                                       "ORDER BY source, event_id").rows]
    teams = [r[0] for r in q(f"SELECT DISTINCT team FROM cx.outreach_dispatch WHERE "
                             f"{_in('customer_id', sorted(customers))} ORDER BY team").rows]
    return msgspec.structs.replace(plan, status="erase", identifiers=identifiers, customers=sorted(customers),
                                   contacts=contacts, dedup_keys=keys, teams=teams)
