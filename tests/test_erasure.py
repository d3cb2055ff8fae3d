"""The pure parts of erasure (streams.stages.privacy, streams.warehouse.erasure_plan, streams.domain.erasure) and its SQL on the real ClickHouse engine (chDB): the plan
finds every row of the customer and only theirs; Forget records land where the data of their keys does;
the receipt names identifiers only by keyed hashes; the request is a contract-valid event."""

from __future__ import annotations

import datetime as dt

import msgspec
import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams.cli.forget import request_event
from streams.domain import contract
from streams.domain.deadletter import dead_letter_headers
from streams.domain.erasure import Plan, erasure_id, hashed, receipt, row
from streams.domain.identity_graph import canonical_id
from streams.domain.records import CxEvent, RawMessage
from streams.domain.rejections import Reason, Rejected
from streams.runtime.envelopes import Envelopes
from streams.stages import forget
from streams.stages.sink import dead_letter_row, event_row
from streams.warehouse import rollups
from streams.warehouse.erasure_plan import count, delete, resolve, search_values

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
KEY = b"a unit test key of 32 characters"


def _event(i: int, customer: dict, resolved: str, contact: str) -> dict:
    ev = CxEvent(source="/unit/chat", id=f"u-{i}", type="cx.contact.message", time=T0 + dt.timedelta(seconds=i),
                 channel="chat", customer=customer, contact_id=contact, origin=f"t:0:{i}", received_at=T0.timestamp(),
                 resolved_customer=resolved)
    return event_row(ev, 0, i)


def _link(identifier: str, customer: str, previous: str, version: int) -> dict:
    return {"identifier": identifier, "kind": identifier.split(":")[0], "node_id": canonical_id(identifier),
            "customer_id": customer, "previous_customer_id": previous, "status": "linked", "change": "new",
            "reason": "", "epoch": 0, "version": version, "first_seen": T0, "changed_at": T0}


def _dead_letter(i: int, payload: dict) -> dict:
    raw = RawMessage(key=None, value=orjson.dumps(payload), headers=[], timestamp=T0.timestamp())
    headers = dead_letter_headers(raw, Rejected(Reason.UNKNOWN_TYPE, "unknown type"), stage="ingest", origin=f"in:0:{i}")
    return dead_letter_row(None, raw.value, headers, 0, i)


ANN_EMAIL, ANN_PHONE, BOB_EMAIL = "email:ann@x.io", "phone:+14155550101", "email:bob@x.io"
ANN_OLD, ANN_NOW, BOB = canonical_id(ANN_PHONE), canonical_id(ANN_EMAIL), canonical_id(BOB_EMAIL)


def _fill(warehouse) -> None:
    """Ann: phone first (customer ANN_OLD), then merged into her email's customer; Bob apart."""
    warehouse.insert("cx.events", [
        _event(1, {"phone": "+14155550101"}, ANN_OLD, "k1"),
        _event(2, {"email": "ann@x.io", "phone": "+14155550101"}, ANN_NOW, "k2"),
        _event(3, {}, "", "k2"),  # an agent's message in her contact: no identifier of hers
        _event(4, {"email": "bob@x.io"}, BOB, "k3")], token="events")
    rollups.flush(warehouse)  # cx.contact_facts, cx.customer_channels_daily
    warehouse.insert("cx.identity_links", [
        _link(ANN_PHONE, ANN_OLD, "", 1), _link(ANN_PHONE, ANN_NOW, ANN_OLD, 2), _link(ANN_EMAIL, ANN_NOW, "", 1),
        _link(BOB_EMAIL, BOB, "", 1)], token="links")
    warehouse.insert("cx.dead_letters", [
        _dead_letter(1, {"type": "cx.teleported", "data": {"customer": {"phone": "(415) 555-0101"}}}),
        _dead_letter(2, {"type": "cx.teleported", "data": {"customer": {"email": "ANN@X.IO"}}}),
        _dead_letter(3, {"type": "cx.teleported", "data": {"customer": {"email": "bob@x.io"}}})], token="dead")


def _plan(**kw) -> Plan:
    return Plan(erasure_id="er_1", request="/cli\x1f1", requested_at=T0.timestamp(), status="erase", **kw)


def test_the_plan_finds_every_row_of_the_customer_and_deletes_only_those(warehouse):
    _fill(warehouse)
    plan = resolve(warehouse, _plan(), ["phone:+14155550101"], "", [])
    assert plan.status == "erase"
    assert plan.identifiers == [ANN_EMAIL, ANN_PHONE]
    assert set(plan.customers) == {ANN_OLD, ANN_NOW}  # the merged customer id too
    assert plan.contacts == ["k1", "k2"]
    assert plan.dedup_keys == [f"/unit/chat\x1fu-{i}" for i in (1, 2, 3)]
    counts = count(warehouse, plan)
    assert counts == {"cx.events": 3, "cx.contact_facts": 2, "cx.contact_progress": 2,
                      "cx.customer_channels_daily": 2,
                      "cx.identity_links": 3, "cx.alerts": 0, "cx.work_items": 0, "cx.outreach_dispatch": 0,
                      "cx.dead_letters": 2}  # the phone written "(415) 555-0101", the email in capitals
    delete(warehouse, plan)
    delete(warehouse, plan)  # a rerun after a crash: nothing more goes
    assert warehouse.query("SELECT event_id FROM cx.events").rows == [("u-4",)]
    assert warehouse.query("SELECT identifier FROM cx.identity_links").rows == [(BOB_EMAIL,)]
    assert warehouse.query("SELECT origin FROM cx.dead_letters").rows == [("in:0:3",)]
    assert count(warehouse, plan) == dict.fromkeys(counts, 0)


def test_a_customer_id_names_the_customer_too(warehouse):
    _fill(warehouse)
    assert resolve(warehouse, _plan(), [], ANN_OLD, []).identifiers == [ANN_EMAIL, ANN_PHONE]


def test_unknown_and_already_erased_are_told_apart(warehouse):
    warehouse.execute("TRUNCATE TABLE cx.erasures")
    nobody = ["email:nobody@x.io"]
    assert resolve(warehouse, _plan(), nobody, "", [hashed(KEY, i) for i in nobody]).status == "unknown"
    done = receipt(_plan(identifiers=nobody, counts={"cx.events": 1}), KEY, T0.timestamp() + 5, {})
    warehouse.insert("cx.erasures", [row(done)], token="receipt")
    again = resolve(warehouse, _plan(), nobody, "", [hashed(KEY, i) for i in nobody])
    assert (again.status, again.previous) == ("already_erased", "er_1")
    warehouse.execute("TRUNCATE TABLE cx.erasures")


def test_a_phone_is_searched_by_its_national_digits_and_a_handle_without_its_network():
    assert search_values(["phone:+14155550101", "social:x:@ann", "email:a@x.io"]) == (
        ["+14155550101", "@ann", "a@x.io", "x:@ann"], ["4155550101"])


@given(st.lists(st.text(min_size=1, max_size=20), max_size=30), st.integers(1, 12))
def test_forget_records_land_on_the_partition_the_data_of_their_keys_is_routed_to(keys, partitions):
    routed = forget.per_partition("er_1", keys, partitions)
    assert sorted(k for f in routed.values() for k in f.keys) == sorted(set(keys))
    for partition, record in routed.items():
        for key in record.keys:
            envelopes = Envelopes(partitions)
            envelopes.add("t", key.encode(), b"x")
            assert envelopes.drain()[0][1] == partition
    assert forget.decode(forget.encode(routed[min(routed)])) == routed[min(routed)] if routed else True


def test_the_receipt_names_identifiers_only_by_keyed_hashes_and_says_until_when_copies_live():
    plan = _plan(identifiers=[ANN_EMAIL, ANN_PHONE], customers=[ANN_NOW], dedup_keys=["a\x1f1"],
                 counts={"cx.events": 3})
    r = receipt(plan, KEY, T0.timestamp() + 2, {"cx.events": 86_400_000, "cx.events.validated": None, "cx.x": -1})
    text = orjson.dumps(r).decode()
    assert "ann" not in text and "4155550101" not in text and ANN_NOW not in text
    assert r["identifiers"] == [hashed(KEY, ANN_EMAIL), hashed(KEY, ANN_PHONE)]
    assert hashed(b"another key, also of 32 chars...", ANN_EMAIL) != hashed(KEY, ANN_EMAIL)
    assert r["state_store_keys"] == {"dedup_seen": 1, "identity_nodes": 2, "detect_customers": 1, "outreach_teams": 0}
    assert r["topics_not_compacted"] == {
        "cx.events": {"retention_ms": 86_400_000, "copies_until": "2026-12-02T09:00:00.000Z"},
        "cx.events.validated": {"retention_ms": None, "copies_until": None},
        "cx.x": {"retention_ms": -1, "copies_until": None}}
    assert (r["requested_at"], r["completed_at"]) == ("2026-12-01T09:00:00.000Z", "2026-12-01T09:00:02.000Z")


def test_the_request_is_a_contract_valid_event_as_timeline_reads_the_identifier():
    email = request_event("Ann@X.io", "US", T0.timestamp(), "r1")
    contract.check(email)
    assert email["data"] == {"customer": {"email": "ann@x.io"}} and "subject" not in email
    by_id = request_event(ANN_NOW, "US", T0.timestamp(), "r2")
    contract.check(by_id)
    assert by_id["subject"] == ANN_NOW
    assert request_event("social:x:@Ann", "US", T0.timestamp())["data"]["customer"] == {"social": "x:@ann"}
    assert request_event("   ", "US", T0.timestamp()) is None
    assert erasure_id("/a", "1") == erasure_id("/a", "1") != erasure_id("/a", "2")


def test_a_plan_survives_its_changelog_encoding():
    from streams.domain.erasure import decode, encode

    plan = _plan(identifiers=[ANN_EMAIL], counts={"cx.events": 2})
    assert decode(encode(plan)) == plan and msgspec.structs.replace(plan, counts={}) != plan


def test_forgetting_drops_the_customers_items_from_a_teams_list_and_only_theirs():
    from streams.domain.outreach.dispatch import Entry, Team
    from streams.domain.outreach.dispatch import forget as forget_items

    team = Team(team="t1", entries={"wi_1": Entry(item_id="wi_1", customer=ANN_NOW, priority=1, opened_at=0),
                                    "wi_2": Entry(item_id="wi_2", customer=BOB, priority=1, opened_at=0)})
    assert forget_items(team, {ANN_NOW, ANN_OLD}) and list(team.entries) == ["wi_2"]
    assert not forget_items(team, {ANN_NOW})  # a replayed Forget: nothing more to drop
