"""Withheld caller: identifiers with no normal form are stored raw beside their event, never refuse it.

A queued call whose caller ID is withheld ("anonymous", Twilio's +266696687) or impossible ("+1 555")
must reach the live floor: it is stored, stitched by its other identifiers only, counted in
cxpulse_identifiers_refused_total, and a call with no usable identifier at all is an anonymous contact
that waits on the floor like any other.
"""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.warehouse.queries import WAITING
from tests.integration.pipeline import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.same_on_any_broker(reason="phone and email refusals are the normalizer's and the "
                                                    "identity graph's; one worker, no restart")]


def _event(id_: str, type_: str, contact: str, customer: dict, *, channel: str = "voice", ago: float = 0.0) -> dict:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=ago)
    data = {"channel": channel, "customer": customer, "contact_id": contact, "queue": "support"}
    if type_ == "cx.contact.message":
        data["attributes"] = {"author": "customer"}
    return {"specversion": "1.0", "id": id_, "source": "/test/acd", "type": type_,
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "data": data}


def _events() -> list[dict]:
    """Two calls of account A-1 with a withheld and an impossible caller ID, a call with only Twilio's
    ANONYMOUS pseudo-number, and a chat with a malformed email beside a visitor id."""
    return [
        _event("w-1", "cx.contact.started", "call-withheld", {"phone": "anonymous", "account_id": "A-1"}, ago=30),
        _event("w-2", "cx.contact.queued", "call-withheld", {"phone": "anonymous", "account_id": "A-1"}, ago=29),
        _event("i-1", "cx.contact.queued", "call-impossible", {"phone": "+1 555", "account_id": "A-1"}, ago=20),
        _event("a-1", "cx.contact.started", "call-anonymous", {"phone": "+266696687"}, ago=10),
        _event("a-2", "cx.contact.queued", "call-anonymous", {"phone": "+266696687"}, ago=9),
        _event("m-1", "cx.contact.message", "chat-1", {"email": "nobody at example", "visitor_id": "v-9"}, channel="chat"),
    ]


def _refused(text: str) -> dict[tuple[str, str], float]:
    return {(s.labels["kind"], s.labels["reason"]): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "cxpulse_identifiers_refused_total"}


def test_withheld_and_impossible_phones_are_stored_stitched_by_the_account_and_waiting_on_the_floor(pipeline):
    pipeline.env["CXPULSE_METRICS_FLOOR_KPIS_SECONDS"] = "1"  # the live floor's SQL, run by the worker
    pipeline.start_worker()
    events = _events()
    for e in events:
        pipeline.send(e, key=e["data"]["contact_id"].encode())
    pipeline.flush()
    pipeline.wait_stored(events=len(events), dead_letters=0, timeout=90)
    floor = wait_until(lambda: pipeline.metrics().floor.get("waiting") == 3 and pipeline.metrics().floor, 30,
                       lambda: f"3 calls waiting on the live floor (now {pipeline.metrics().floor})")
    refused = _refused(pipeline.metrics_text())
    pipeline.wait_drained(timeout=60)  # the identity links too (stored every sink.records_batch_seconds)
    assert pipeline.stop_worker() == 0
    print(f"refused identifiers {refused}; live floor waiting {floor['waiting']:.0f}, "
          f"oldest wait {floor['oldest_wait_seconds']:.1f} s")
    assert refused == {("phone", "withheld"): 4.0, ("phone", "invalid"): 1.0, ("email", "malformed"): 1.0}

    assert pipeline.scalar("SELECT count() FROM cx.dead_letters FINAL") == 0
    rows = {r["event_id"]: r for r in pipeline.query(
        "SELECT event_id, customer, customer_key, phone, email, identifier_issue_kinds AS kinds, "
        "identifier_issue_reasons AS reasons, identifier_issue_values AS raw FROM cx.events FINAL")}
    assert sorted(rows) == sorted(e["id"] for e in events)
    assert {r["phone"] for r in rows.values()} == {""} and {r["email"] for r in rows.values()} == {""}
    assert (rows["w-2"]["kinds"], rows["w-2"]["reasons"], rows["w-2"]["raw"]) == (["phone"], ["withheld"], ["anonymous"])
    assert (rows["i-1"]["reasons"], rows["i-1"]["raw"]) == (["invalid"], ["+1 555"])
    assert (rows["a-1"]["reasons"], rows["a-1"]["raw"]) == (["withheld"], ["+266696687"])
    assert (rows["m-1"]["kinds"], rows["m-1"]["reasons"]) == (["email"], ["malformed"])

    # stitched by the account only: one customer for both calls, the phones in no link
    account = {rows[i]["customer"] for i in ("w-1", "w-2", "i-1")}
    assert len(account) == 1 and account.pop().startswith("c_")
    assert {rows[i]["customer_key"] for i in ("w-1", "w-2", "i-1")} == {"account_id:A-1"}
    links = pipeline.query("SELECT DISTINCT identifier FROM cx.identity_links")
    assert {r["identifier"] for r in links} == {"account_id:A-1", "visitor_id:v-9"}

    # the anonymous call: no customer, yet a contact waiting in its queue
    assert (rows["a-2"]["customer"], rows["a-2"]["customer_key"]) == ("", "")
    waiting = pipeline.query("SELECT contact_id, customer, queue FROM cx.contacts_waiting ORDER BY contact_id")
    assert waiting == [{"contact_id": "call-anonymous", "customer": "", "queue": "support"},
                       {"contact_id": "call-impossible", "customer": rows["i-1"]["customer"], "queue": "support"},
                       {"contact_id": "call-withheld", "customer": rows["w-1"]["customer"], "queue": "support"}]
    assert pipeline.scalar(WAITING.text) == 3
    state = pipeline.query("SELECT state, customer FROM cx.contacts WHERE contact_id = 'call-anonymous'")
    assert state == [{"state": "queued", "customer": ""}]

    shown = pipeline.cli("timeline", "account_id:A-1").stdout
    assert 'phone withheld "anonymous"' in shown and 'phone invalid "+1 555"' in shown
