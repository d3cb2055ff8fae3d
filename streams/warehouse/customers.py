"""Find a customer in the warehouse by any identifier: what `cxpulse timeline` and erasures look up.

The identifier may be any of the customer's: an email, a phone number in any common format,
kind:value (account_id:A-1, visitor_id:v-9, social:x:@handle), or a customer id (c_...). It is
normalized as ingest normalizes it (and hashed, in pseudonymized mode) and looked up in cx.identity_map.
"""

from __future__ import annotations

import re

from streams.domain.identity_graph import PRIORITY
from streams.domain.normalize import identifiers
from streams.domain.pseudonyms import Pseudonymizer
from streams.warehouse import Warehouse, sql_string

_KIND = re.compile(r"^(%s):(.+)$" % "|".join(PRIORITY))
CUSTOMER_ID = re.compile(r"c_[0-9a-f]{16}")
_PHONE = re.compile(r"^[+(]?[\d\s().-]{6,}$")

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
