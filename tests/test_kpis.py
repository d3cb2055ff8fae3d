"""KPI and contact-state views on the real engine (chDB) against hand-computed values."""

from __future__ import annotations

import random

import orjson
import pytest

from streams.config import Settings
from streams.warehouse import rollups, view_settings

DAY = "2026-03-02"


def ev(contact: str, type_: str, clock: str, *, channel="voice", queue="billing", customer="c_a", **attributes):
    return {"event_time": f"{DAY} {clock}", "source": f"/kpi/{channel}", "event_id": f"{contact}-{type_}-{clock}",
            "type": type_, "channel": channel, "customer": customer, "contact_id": contact, "queue": queue,
            "attributes": orjson.dumps(attributes).decode()}


def survey(contact: str, clock: str, **scores):
    return {**ev("", "cx.survey.responded", clock, channel="survey", queue=""), "event_id": f"survey-{contact}",
            "attributes": orjson.dumps({"contact_id": contact, **scores}).decode()}


SCENARIO = [
    # k1: waits 15 s (within 20 s), handled 300 s; the same customer comes back on chat (k6): not first-contact resolved
    ev("k1", "cx.contact.queued", "10:00:00"), ev("k1", "cx.contact.answered", "10:00:15"),
    ev("k1", "cx.contact.ended", "10:05:15", resolution="resolved"),
    # k2: waits 40 s (outside), handled 120 s, another customer
    ev("k2", "cx.contact.queued", "10:10:00", customer="c_b"), ev("k2", "cx.contact.answered", "10:10:40", customer="c_b"),
    ev("k2", "cx.contact.ended", "10:12:40", customer="c_b"),
    # k3: hangs up after 3 s: a short abandon, not offered
    ev("k3", "cx.contact.queued", "10:20:00", customer="c_c"), ev("k3", "cx.contact.abandoned", "10:20:03", customer="c_c"),
    # k4: abandons after 60 s
    ev("k4", "cx.contact.queued", "10:30:00", customer="c_d"), ev("k4", "cx.contact.abandoned", "10:31:00", customer="c_d"),
    # k5: abandons after 60 s but asks for a callback: offered, not abandoned
    ev("k5", "cx.contact.queued", "10:40:00", customer="c_e"), ev("k5", "cx.contact.abandoned", "10:41:00", customer="c_e"),
    ev("k5", "cx.callback.requested", "10:41:05", customer="c_e"),
    # k6: chat (service level 60 s): waits 50 s, holds 30 s, one transfer, handled 600 s
    ev("k6", "cx.contact.queued", "11:00:00", channel="chat", queue="web"),
    ev("k6", "cx.contact.answered", "11:00:50", channel="chat", queue="web"),
    ev("k6", "cx.contact.hold", "11:02:00", channel="chat", queue="web"),
    ev("k6", "cx.contact.resumed", "11:02:30", channel="chat", queue="web"),
    ev("k6", "cx.contact.transferred", "11:03:00", channel="chat", queue="web"),
    ev("k6", "cx.contact.ended", "11:10:50", channel="chat", queue="web"),
    survey("k1", "10:06:00", csat=5, nps=10), survey("k2", "10:13:00", csat=2, nps=3), survey("k6", "11:12:00", csat=4, nps=8),
]


def store(warehouse, rows, batches: int = 1):
    """Insert in `batches`, each rolled up into cx.contact_facts and the other rollups as the worker would."""
    for i in range(batches):
        part = rows[i::batches]
        warehouse.insert("cx.events", part, token=f"t-{random.random()}")
        rollups.flush(warehouse)


def kpis(warehouse):
    result = warehouse.query(f"SELECT * FROM cx.kpis(start = '{DAY} 00:00:00', stop = '{DAY} 23:59:59')")
    return {(r["channel"], r["queue"]): r for r in result.dicts()}


def test_kpis_match_hand_computed_values(warehouse):
    view_settings.publish(warehouse, Settings())
    store(warehouse, SCENARIO)
    got = kpis(warehouse)
    voice, chat = got[("voice", "billing")], got[("chat", "web")]
    assert {k: voice[k] for k in ("offered", "answered", "answered_within_sl", "abandoned", "short_abandons",
                                  "callbacks_requested", "handled", "resolved_first_contact")} == {
        "offered": 4, "answered": 2, "answered_within_sl": 1, "abandoned": 1, "short_abandons": 1,
        "callbacks_requested": 1, "handled": 2, "resolved_first_contact": 1}
    assert voice["service_level"] == pytest.approx(0.25)      # 1 within 20 s / 4 offered
    assert voice["asa_seconds"] == pytest.approx(27.5)         # (15 + 40) / 2
    assert voice["abandonment_rate"] == pytest.approx(0.25)    # 1 / 4 (k5's callback is not an abandon)
    assert voice["aht_seconds"] == pytest.approx(210)          # (300 + 120) / 2
    assert voice["fcr"] == pytest.approx(0.5)                  # k1 came back within 7 days
    assert voice["csat"] == pytest.approx(0.5) and voice["nps"] == pytest.approx(0)  # csat 5, 2; nps 10, 3
    assert chat["service_level"] == 1 and chat["asa_seconds"] == 50 and chat["aht_seconds"] == 600
    assert chat["fcr"] == 1 and chat["csat"] == 1 and chat["nps"] == 0  # csat 4, nps 8 (passive)


def test_thresholds_come_from_the_settings(warehouse):
    settings = Settings()
    settings.kpi.service_level_seconds = 40.0
    settings.kpi.short_abandon_seconds = 0.0
    settings.timeline.repeat_window_seconds = 60.0
    view_settings.publish(warehouse, settings)
    store(warehouse, SCENARIO)
    voice = kpis(warehouse)[("voice", "billing")]
    assert (voice["offered"], voice["answered_within_sl"], voice["short_abandons"]) == (5, 2, 0)
    assert voice["fcr"] == 1  # k6 is an hour after k1: outside a 60 s window


def test_contact_rows_do_not_depend_on_event_order_or_replays(warehouse):
    store(warehouse, SCENARIO)
    want = warehouse.query("SELECT * EXCEPT (last_event_at) FROM cx.contacts ORDER BY contact_id").rows
    for seed in range(3):
        warehouse.execute("TRUNCATE TABLE cx.events")
        warehouse.execute("TRUNCATE TABLE cx.contact_facts")
        shuffled = SCENARIO + random.Random(seed).sample(SCENARIO, 8)  # some events twice
        random.Random(seed).shuffle(shuffled)
        store(warehouse, shuffled, batches=4)
        assert warehouse.query("SELECT * EXCEPT (last_event_at) FROM cx.contacts ORDER BY contact_id").rows == want


def test_contact_state_fields(warehouse):
    store(warehouse, SCENARIO)
    row = warehouse.query("SELECT * FROM cx.contacts WHERE contact_id = 'k6'").dicts()[0]
    assert (row["state"], row["queue_wait_seconds"], row["hold_seconds"], row["holds"], row["transfers"],
            row["handle_seconds"], row["is_repeat"]) == ("ended", 50, 30, 1, 1, 600, 1)
    k4 = warehouse.query("SELECT state, queue_wait_seconds, answered_at FROM cx.contacts WHERE contact_id = 'k4'").dicts()[0]
    assert k4 == {"state": "abandoned", "queue_wait_seconds": 60, "answered_at": None}


def test_messaging_reply_wait(warehouse):
    store(warehouse, [ev("m1", "cx.contact.message", "09:00:00", channel="email", queue="general", author="customer"),
                      ev("m1", "cx.contact.message", "11:30:00", channel="email", queue="general", author="agent"),
                      ev("m1", "cx.contact.message", "11:45:00", channel="email", queue="general", author="customer")])
    row = warehouse.query("SELECT state, reply_wait_seconds, messages, answered_at FROM cx.contacts").dicts()[0]
    assert (row["state"], row["reply_wait_seconds"], row["messages"]) == ("answered", 9000, 3)
    assert str(row["answered_at"]).startswith(f"{DAY} 11:30:00")
