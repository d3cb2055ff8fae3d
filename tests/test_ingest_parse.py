"""Ingest's parse: every inbound message becomes a CxEvent or a Rejected with a reason, never a crash."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import IngestSettings
from streams.domain.records import IDENTIFIER_PRIORITY, CxEvent
from streams.domain.rejections import Reason, Rejected
from streams.stages.ingest import parse
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


@pytest.mark.parametrize("customer, usable, issues", [
    ({"phone": "anonymous", "account_id": "A-1"}, {"account_id": "A-1"}, [("phone", "withheld", "anonymous")]),
    ({"phone": "12", "account_id": "A-1"}, {"account_id": "A-1"}, [("phone", "invalid", "12")]),
    ({"phone": " +266 696 687 "}, {}, [("phone", "withheld", " +266 696 687 ")]),
    ({"email": "dana at example", "social": "@dana", "visitor_id": "v-1"}, {"visitor_id": "v-1"},
     [("email", "malformed", "dana at example"), ("social", "malformed", "@dana")]),
])
def test_an_identifier_with_no_normal_form_is_kept_raw_beside_the_event_not_refused(customer, usable, issues):
    event = sample("cx.contact.queued")
    event["data"]["customer"] = customer
    for parsed in (run(orjson.dumps(event)), run(*binary(event))):
        assert parsed.customer == usable
        assert [(i.kind, i.reason, i.raw) for i in parsed.identifier_issues] == issues


def test_an_event_with_no_usable_identifier_has_no_customer_key():
    event = sample("cx.contact.queued")
    event["data"]["customer"] = {"phone": "Private Number"}
    parsed = run(orjson.dumps(event))
    assert parsed.customer == {} and parsed.customer_key == ""


def test_an_event_of_an_older_worker_decodes_with_no_issues():
    from streams.domain.records import IdentifierIssue, decode_event, encode

    parsed = run(orjson.dumps(sample("cx.contact.queued")))
    assert b"identifier_issues" not in encode(parsed)  # omitted when empty: old and new records are alike
    assert decode_event(encode(parsed)).identifier_issues == []
    parsed.identifier_issues = [IdentifierIssue(kind="phone", reason="withheld", raw="anonymous")]
    assert decode_event(encode(parsed)) == parsed


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
    (lambda e: e["data"].__setitem__("customer", {"phone": 2025550143}), Reason.WRONG_TYPE),
    (lambda e: e["data"].__setitem__("customer", {"email": {"address": "a@b.co"}}), Reason.WRONG_TYPE),
    (lambda e: e["data"].__setitem__("customer", {"phone": "1" * 65}), Reason.SCHEMA_VIOLATION),
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
