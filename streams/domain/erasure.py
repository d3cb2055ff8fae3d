"""An erasure: its plan (what it deletes, resolved by streams.warehouse.erasure_plan and kept in the
privacy stage's changelogged table until done) and its receipt: what was erased where, when, and until
when copies may remain.

Identifiers and customer ids appear only as keyed hashes (HMAC-SHA256 with the privacy key,
streams.domain.pseudonyms.pseudonymize): the receipt proves what was erased to whoever holds the key,
and names nobody to anyone else. Customer ids are hashed too: c_... is an unkeyed hash of an
identifier, which anyone could recompute from an email.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec
import orjson

from streams.domain.pseudonyms import pseudonymize
from streams.domain.times import rfc3339_at


class Plan(msgspec.Struct, kw_only=True):
    erasure_id: str
    request: str             # source+id of the erasure request
    requested_at: float      # seconds since the epoch (the request's event time)
    status: str              # erase | unknown | already_erased
    identifiers: list[str] = msgspec.field(default_factory=list)   # kind:value, as stored
    customers: list[str] = msgspec.field(default_factory=list)     # every customer id they had
    contacts: list[str] = msgspec.field(default_factory=list)
    dedup_keys: list[str] = msgspec.field(default_factory=list)    # source\x1fid of their events
    teams: list[str] = msgspec.field(default_factory=list)         # outreach teams that listed them
    previous: str = ""       # already_erased: the erasure that did it
    counts: dict[str, int] = msgspec.field(default_factory=dict)   # rows per table, counted before deleting


encode = msgspec.msgpack.Encoder().encode
decode = msgspec.msgpack.Decoder(Plan).decode


def erasure_id(source: str, event_id: str) -> str:
    """Stable per request, so a redelivered request resumes the same erasure."""
    return "er_" + hashlib.blake2b(f"{source}\x1f{event_id}".encode(), digest_size=8).hexdigest()


# store -> the plan's list of its keys (outreach_teams: the teams whose lists held the customer)
STATE_STORES = {"dedup_seen": "dedup_keys", "identity_nodes": "identifiers", "detect_customers": "customers",
                "outreach_teams": "teams"}


def hashed(key: bytes, identifier: str) -> str:
    """kind:HMAC of one kind:value identifier."""
    kind, _, value = identifier.partition(":")
    return f"{kind}:{pseudonymize(key, kind, value)}"


def receipt(plan: Plan, key: bytes, completed_at: float, retention_ms: dict[str, int | None]) -> dict:
    """The receipt (JSON) of a plan carried out. retention_ms: {non-compacted topic: retention.ms,
    -1 for ever, None for the broker's default}."""
    erased = plan.status == "erase"
    topics = {}
    for name, ms in sorted(retention_ms.items()):
        until = None if ms is None or ms < 0 else rfc3339_at(plan.requested_at + ms / 1000)
        topics[name] = {"retention_ms": ms, "copies_until": until}
    return {
        "erasure_id": plan.erasure_id,
        "status": "erased" if erased else plan.status,
        "previous_erasure_id": plan.previous,
        "requested_at": rfc3339_at(plan.requested_at),
        "completed_at": rfc3339_at(completed_at),
        "identifiers": [hashed(key, i) for i in plan.identifiers],
        "customers": [hashed(key, f"customer:{c}") for c in plan.customers],
        "warehouse_rows": dict(plan.counts) if erased else {},
        "state_store_keys": {store: len(getattr(plan, field)) for store, field in STATE_STORES.items()}
                            if erased else {},
        "changelog_tombstones": "one per state store key, on each store's compacted changelog topic",
        "topics_not_compacted": topics if erased else {},
    }


def row(record: dict) -> dict:
    """The cx.erasures row of a receipt."""
    return {"erasure_id": record["erasure_id"], "status": record["status"],
            "requested_at": datetime.fromisoformat(record["requested_at"]),
            "completed_at": datetime.fromisoformat(record["completed_at"]),
            "identifiers": record["identifiers"], "receipt": orjson.dumps(record).decode()}
