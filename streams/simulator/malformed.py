"""Broken events as real channel systems produce them, each labelled with the reason ingest gives it.

Beside them, IDENTIFIER_ISSUE: an event whose caller ID is withheld or impossible. That breaks no
contract: ingest stores it with the phone kept raw (cx.events.identifier_issue_*), stitched by
whatever other identifier it carries, or as an anonymous contact when it carries none.
"""

from __future__ import annotations

import copy
import datetime as dt
import random

import orjson

from streams.domain.rejections import Reason
from streams.domain.times import rfc3339

IDENTIFIER_ISSUE = "identifier_issue"
UNUSABLE_PHONES = ["anonymous", "Private Number", "+266696687", "RESTRICTED", "", "12", "000", "+1 555"]
KINDS = [Reason.INVALID_JSON, Reason.INVALID_UTF8, Reason.NOT_AN_OBJECT, Reason.MISSING_FIELD, Reason.WRONG_TYPE,
         Reason.UNKNOWN_TYPE, Reason.UNKNOWN_CHANNEL, Reason.TIME_SKEW, Reason.TOO_LARGE,
         Reason.DUPLICATE, IDENTIFIER_ISSUE]


def break_event(rng: random.Random, kind: Reason | str, event: dict, max_event_bytes: int) -> bytes:
    """Structured-mode bytes of `event` damaged so that ingest refuses it with `kind` (not DUPLICATE),
    or, for IDENTIFIER_ISSUE, stores it with an unusable phone (beside its other identifiers half the time)."""
    ev = copy.deepcopy(event)
    if kind is Reason.INVALID_JSON:
        raw = orjson.dumps(ev)
        return raw[: rng.randint(1, len(raw) - 2)]
    if kind is Reason.INVALID_UTF8:
        raw = orjson.dumps(ev)
        cut = raw.index(b'"source"') + 10
        return raw[:cut] + b"\xff\xfe" + raw[cut:]
    if kind is Reason.NOT_AN_OBJECT:
        return rng.choice([b"[1, 2, 3]", b"42", b'"cx.contact.started"', b"null", orjson.dumps([ev])])
    if kind is Reason.MISSING_FIELD:
        if ev["type"].startswith("cx.contact.") and rng.random() < 0.3:
            del ev["data"]["contact_id"]
        elif rng.random() < 0.2:
            del ev["data"]["channel"]
        else:
            del ev[rng.choice(["id", "source", "time", "specversion", "data"])]
    elif kind is Reason.WRONG_TYPE:
        if rng.random() < 0.5:
            ev["time"] = int(dt.datetime.fromisoformat(ev["time"]).timestamp())
        else:
            ev["data"]["customer"] = "someone@example.com"
    elif kind is Reason.UNKNOWN_TYPE:
        ev["type"] = rng.choice(["cx.contact.teleported", "cx.ticket.opened", "contact.started"])
    elif kind is Reason.UNKNOWN_CHANNEL:
        ev["data"]["channel"] = rng.choice(["fax", "pager", "carrier_pigeon"])
    elif kind is Reason.TIME_SKEW:
        ev["time"] = rfc3339(dt.datetime.fromisoformat(ev["time"]) + dt.timedelta(days=1))
    elif kind is Reason.TOO_LARGE:
        ev["data"].setdefault("attributes", {})["transcript"] = "x" * (max_event_bytes + 1)
    elif kind == IDENTIFIER_ISSUE:
        kept = ev["data"]["customer"] if rng.random() < 0.5 else {}
        ev["data"]["customer"] = {**kept, "phone": rng.choice(UNUSABLE_PHONES)}
    return orjson.dumps(ev)
