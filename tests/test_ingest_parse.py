"""Ingest's parse: every inbound message becomes a CxEvent or a Rejected with a reason, never a crash."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import IngestSettings
from streams.ingest import parse
from streams.records import IDENTIFIER_PRIORITY, CxEvent
from streams.rejections import Reason, Rejected
from tests.samples import sample

NOW = dt.datetime(2026, 11, 24, 12, 0, 5, tzinfo=dt.UTC)
LIMITS = IngestSettings()


def run(value, headers=None, limits=LIMITS):
    return parse(value, headers, origin="cx.events:0:7", received_at=NOW.timestamp(), settings=limits, now=NOW)


def binary(event: dict) -> tuple[bytes, list]:
    headers = [(f"ce_{k}", str(v).encode()) for k, v in event.items() if k != "data"]
    return orjson.dumps(event["data"]), headers + [("content-type", b"application/json")]


def reason_of(value, headers=None, limits=LIMITS) -> Reason:
    with pytest.raises(Rejected) as refused:
        run(value, headers, limits)
    return refused.value.reason


def test_structured_and_binary_mode_give_the_same_event():
    event = sample("cx.contact.started")
    structured = run(orjson.dumps(event), [("content-type", b"application/cloudevents+json")])
    from_headers = run(*binary(event))
    assert structured.mode == "structured" and from_headers.mode == "binary"
    assert structured.customer == {"phone": "+12025550143"}
    from_headers.mode = structured.mode
    assert from_headers == structured


def test_normalized_fields():
    event = sample("cx.contact.message", id=" m-1 ", time="2026-11-24T13:00:00+01:00")
    event["data"]["customer"] = {"email": " Dana@Example.COM ", "phone": "(202) 555-0143"}
    event["data"]["queue"] = " billing "
    parsed = run(orjson.dumps(event))
    assert isinstance(parsed, CxEvent)
    assert (parsed.id, parsed.queue) == ("m-1", "billing")
    assert parsed.time == dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    assert parsed.customer == {"email": "dana@example.com", "phone": "+12025550143"}
    assert parsed.origin == "cx.events:0:7"


@pytest.mark.parametrize("value, headers, reason", [
    (b"\xff\xfe{}", None, Reason.INVALID_UTF8),
    (b'{"specversion": "1.0", "id": "x"', None, Reason.INVALID_JSON),
    (b"[1, 2]", None, Reason.NOT_AN_OBJECT),
    (b"42", None, Reason.NOT_AN_OBJECT),
    (b"[1]", [("ce_specversion", b"1.0")], Reason.NOT_AN_OBJECT),
    (b"{}", [("ce_specversion", b"1.0"), ("ce_id", b"\xff")], Reason.INVALID_UTF8),
    (b"", None, Reason.INVALID_JSON),
])
def test_undecodable_messages(value, headers, reason):
    assert reason_of(value, headers) == reason


def test_size_limit_is_checked_before_parsing():
    limits = IngestSettings(max_event_bytes=100)
    assert reason_of(b"\xff" * 101, limits=limits) == Reason.TOO_LARGE
    assert reason_of(b"\xff" * 100, limits=limits) == Reason.INVALID_UTF8


@pytest.mark.parametrize("change, reason", [
    (lambda e: e.pop("source"), Reason.MISSING_FIELD),
    (lambda e: e["data"].__setitem__("customer", "a@b.co"), Reason.WRONG_TYPE),
    (lambda e: e.__setitem__("type", "cx.ticket.opened"), Reason.UNKNOWN_TYPE),
    (lambda e: e["data"].__setitem__("channel", "pager"), Reason.UNKNOWN_CHANNEL),
    (lambda e: e.__setitem__("time", "2026-13-45T00:00:00Z"), Reason.INVALID_TIME),
    (lambda e: e.__setitem__("time", "2026-11-25T12:00:00Z"), Reason.TIME_SKEW),
    (lambda e: e.__setitem__("time", "2025-11-24T12:00:00Z"), Reason.TIME_SKEW),
    (lambda e: e["data"].__setitem__("customer", {"phone": "12"}), Reason.INVALID_IDENTIFIER),
])
def test_contract_and_normalization_failures(change, reason):
    event = sample()
    change(event)
    assert reason_of(orjson.dumps(event)) == reason
    assert reason_of(*binary(event)) == reason


json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                           max_leaves=10)
headers = st.lists(st.tuples(st.sampled_from(["ce_specversion", "ce_id", "ce_time", "ce_type", "content-type", "x"]),
                             st.binary(max_size=20)), max_size=4)


@settings(max_examples=1000)
@given(st.one_of(st.binary(max_size=300), json_values.map(orjson.dumps)), st.one_of(st.none(), headers))
def test_arbitrary_input_is_parsed_or_refused_with_a_reason(value, hdrs):
    try:
        assert isinstance(run(value, hdrs), CxEvent)
    except Rejected as refused:
        assert refused.reason in set(Reason) and refused.detail


@given(st.dictionaries(st.sampled_from(IDENTIFIER_PRIORITY), st.sampled_from(["a@b.co", "id-1"]), min_size=1))
def test_customer_key_is_the_strongest_identifier(ids):
    ids = {k: ("+12025550143" if k == "phone" else "a@b.co" if k == "email" else "x:@h" if k == "social" else v)
           for k, v in ids.items()}
    event = sample()
    event["data"]["customer"] = ids
    parsed = run(orjson.dumps(event))
    strongest = next(k for k in IDENTIFIER_PRIORITY if k in ids)
    assert parsed.customer_key == f"{strongest}:{parsed.customer[strongest]}"
