"""Identity stitching end to end: one customer, one timeline, whatever the channel."""

from __future__ import annotations

import datetime as dt
import json

import pytest

pytestmark = pytest.mark.integration

PHONE, EMAIL, VISITOR, ACCOUNT = "+1 415 555 0101", "Dana.Lee@Example.com", "v-7f3a", "A-1001"


def scenario(base: dt.datetime) -> list[dict]:
    """Web visitor fails at checkout -> chat (gives an email) -> calls from a phone -> logs in (links all)."""
    steps = [
        (0, "cx.page.viewed", "web", {"visitor_id": VISITOR}, {"attributes": {"url": "/cart"}}),
        (30, "cx.journey.step", "web", {"visitor_id": VISITOR},
         {"attributes": {"journey": "checkout", "step": "payment", "status": "failed"}}),
        (60, "cx.contact.started", "chat", {"visitor_id": VISITOR, "email": EMAIL}, {"contact_id": "chat-1", "queue": "web"}),
        (65, "cx.contact.queued", "chat", {"visitor_id": VISITOR}, {"contact_id": "chat-1", "queue": "web"}),
        (95, "cx.contact.answered", "chat", {"email": EMAIL}, {"contact_id": "chat-1", "queue": "web", "agent_id": "ag-1"}),
        (300, "cx.contact.ended", "chat", {"email": EMAIL},
         {"contact_id": "chat-1", "queue": "web", "agent_id": "ag-1", "attributes": {"resolution": "unresolved"}}),
        (900, "cx.contact.started", "voice", {"phone": PHONE}, {"contact_id": "call-1", "queue": "billing"}),
        (905, "cx.contact.queued", "voice", {"phone": PHONE}, {"contact_id": "call-1", "queue": "billing"}),
        (960, "cx.contact.answered", "voice", {"phone": PHONE}, {"contact_id": "call-1", "queue": "billing", "agent_id": "ag-2"}),
        (1200, "cx.contact.ended", "voice", {"phone": PHONE},
         {"contact_id": "call-1", "queue": "billing", "agent_id": "ag-2", "attributes": {"resolution": "resolved"}}),
        (1260, "cx.identity.linked", "app", {"email": EMAIL, "phone": PHONE, "account_id": ACCOUNT}, {}),
    ]
    events = []
    for i, (offset, type_, channel, customer, extra) in enumerate(steps):
        when = base + dt.timedelta(seconds=offset)
        events.append({"specversion": "1.0", "id": f"scn-{i}", "source": f"/scenario/{channel}", "type": type_,
                       "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                       "data": {"channel": channel, "customer": customer, **extra}})
    return events


def test_a_customer_across_web_chat_voice_and_login_is_one_timeline(pipeline):
    events = scenario(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    # a second, unrelated customer must stay apart
    other = {"specversion": "1.0", "id": "other-1", "source": "/scenario/email", "type": "cx.contact.message",
             "time": events[0]["time"], "data": {"channel": "email", "customer": {"email": "sam@example.org"},
                                                 "contact_id": "mail-9", "attributes": {"author": "customer"}}}
    pipeline.start_worker()
    for e in [*events, other]:
        pipeline.send(e)
    pipeline.flush()
    pipeline.wait_stored(events=len(events) + 1, dead_letters=0, timeout=90)
    pipeline.wait_drained(timeout=120)
    assert pipeline.stop_worker() == 0

    out = pipeline.cli("timeline", PHONE, "--format", "json").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["event_id"] for r in rows] == [f"scn-{i}" for i in range(len(events))]
    assert len({r["customer"] for r in rows}) == 1
    assert [r["customer_seq"] for r in rows] == list(range(1, len(events) + 1))
    switches = [(r["event_id"], r["channel"]) for r in rows if r["channel_switch"]]
    assert switches == [("scn-2", "chat"), ("scn-6", "voice"), ("scn-10", "app")]
    assert {r["journey"] for r in rows} == {1}  # no 30-minute gap in the scenario

    # the same customer from any of its identifiers, and the readable table
    for identifier in (EMAIL.upper(), f"visitor_id:{VISITOR}", f"account_id:{ACCOUNT}", "(415) 555-0101"):
        assert [json.loads(line)["event_id"] for line in
                pipeline.cli("timeline", identifier, "--format", "json").stdout.splitlines()] == [r["event_id"] for r in rows]
    table = pipeline.cli("timeline", PHONE).stdout
    assert "11 events, 1 journeys, channels app, chat, voice, web" in table and "⇄" in table

    # the canonical-id view re-attributes rows stored before the merge
    resolved = pipeline.query("SELECT customer, count() AS n, uniqExact(customer_when_processed) AS ids_when_processed "
                              "FROM cx.events_resolved WHERE source LIKE '/scenario/%' GROUP BY customer ORDER BY n DESC")
    assert [r["n"] for r in resolved] == [len(events), 1]
    assert resolved[0]["customer"] == rows[0]["customer"]
    assert resolved[0]["ids_when_processed"] > 1, "the merge happened after some events were stored"
    merges = pipeline.scalar("SELECT count() FROM cx.identity_links WHERE change = 'merged'")
    assert merges >= 1
    unknown = pipeline.cli("timeline", "nobody@example.com", check=False)
    assert unknown.returncode == 1 and "no customer" in unknown.stderr

    # contact state, one row per contact, with the customer of today
    contacts = pipeline.query("SELECT contact_id, channel, state, queue_wait_seconds, handle_seconds, is_repeat, customer "
                              "FROM cx.contacts WHERE contact_id IN ('chat-1', 'call-1') ORDER BY contact_id")
    assert contacts == [
        {"contact_id": "call-1", "channel": "voice", "state": "ended", "queue_wait_seconds": 55,
         "handle_seconds": 240, "is_repeat": 1, "customer": rows[0]["customer"]},
        {"contact_id": "chat-1", "channel": "chat", "state": "ended", "queue_wait_seconds": 30,
         "handle_seconds": 205, "is_repeat": 0, "customer": rows[0]["customer"]},
    ]
