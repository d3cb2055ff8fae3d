"""cx.outreach_effect (schemas/clickhouse/0012_outreach_effect.sql) on the real engine, against values
worked out by hand from a fixed fixture: worked and unworked items, and each thing a customer may do
next — contact again inside and just outside the window, abandon, a negative survey, finish the
journey they were stuck in — with a 2 h window set the way `cxpulse migrate` sets it."""

from __future__ import annotations

import random

import msgspec
import orjson
import pytest

from streams.config import KpiSettings, Settings
from streams.warehouse import view_settings

DAY = "2026-03-02"
WINDOW = 7200.0


def at(clock: str) -> str:
    """A time as the warehouse returns it."""
    return f"{DAY} {clock}.000"


def item(wid: str, version: int, customer: str, rules: list[str], opened: str, changed: str, *, state: str = "open",
         first_claimed: str | None = None, first_attempt: str | None = None, attempts: int = 0,
         last_outcome: str = "", closed: str | None = None, resolution: str = "") -> dict:
    """One cx.work_items version (the columns the effect reads; the rest take their defaults)."""
    def t(clock):
        return f"{DAY} {clock}" if clock else None

    return {"work_item_id": wid, "version": version, "state": state, "customer_id": customer,
            "rules": orjson.dumps(rules).decode(), "outreach": True, "opened_at": t(opened), "changed_at": t(changed),
            "first_claimed_at": t(first_claimed), "claimed_at": t(first_claimed), "first_attempt_at": t(first_attempt),
            "attempts": attempts, "last_outcome": last_outcome, "closed_at": t(closed), "resolution": resolution,
            "detected_at": t(changed)}


def ev(customer: str, type_: str, clock: str, *, contact: str = "", channel: str = "voice", direction: str = "",
       **attributes) -> dict:
    return {"event_time": f"{DAY} {clock}", "source": f"/effect/{channel}", "event_id": f"{customer}-{contact}-{type_}-{clock}",
            "type": type_, "channel": channel, "customer": customer, "contact_id": contact, "direction": direction,
            "attributes": orjson.dumps(attributes).decode()}


def step(customer: str, clock: str, journey: str, name: str, status: str) -> dict:
    return ev(customer, "cx.journey.step", clock, channel="web", journey=journey, step=name, status=status)


def survey(customer: str, clock: str, **scores) -> dict:
    return ev(customer, "cx.survey.responded", clock, channel="survey", **scores)


ITEMS = [
    # wi_a (long_queue_wait): claimed after 5 min, reached at 10:10, resolved by outreach at 10:20
    item("wi_a", 1, "c_a", ["long_queue_wait"], "10:00:00", "10:00:00"),
    item("wi_a", 2, "c_a", ["long_queue_wait"], "10:00:00", "10:05:00", state="claimed", first_claimed="10:05:00"),
    item("wi_a", 3, "c_a", ["long_queue_wait"], "10:00:00", "10:10:00", state="claimed", first_claimed="10:05:00",
         first_attempt="10:10:00", attempts=1, last_outcome="reached"),
    item("wi_a", 4, "c_a", [], "10:00:00", "10:20:00", state="closed", first_claimed="10:05:00",
         first_attempt="10:10:00", attempts=1, last_outcome="reached", closed="10:20:00", resolution="resolved"),
    # wi_b (long_queue_wait): never worked, closed when its alert resolved alone (that version lists no rule)
    item("wi_b", 1, "c_b", ["long_queue_wait"], "10:00:00", "10:00:00"),
    item("wi_b", 2, "c_b", [], "10:00:00", "10:30:00", state="closed", closed="10:30:00", resolution="self_resolved"),
    # wi_c (negative_survey): claimed, one unanswered attempt, released
    item("wi_c", 1, "c_c", ["negative_survey"], "11:00:00", "11:00:00"),
    item("wi_c", 2, "c_c", ["negative_survey"], "11:00:00", "11:30:00", state="claimed", first_claimed="11:30:00"),
    item("wi_c", 3, "c_c", ["negative_survey"], "11:00:00", "11:40:00", state="claimed", first_claimed="11:30:00",
         first_attempt="11:40:00", attempts=1, last_outcome="no_answer"),
    item("wi_c", 4, "c_c", ["negative_survey"], "11:00:00", "11:45:00", first_claimed="11:30:00",
         first_attempt="11:40:00", attempts=1, last_outcome="no_answer"),
    # wi_d (stuck_journey): never worked, still open
    item("wi_d", 1, "c_d", ["stuck_journey"], "09:00:00", "09:00:00"),
    # wi_e (stuck_journey + repeat_contact): worked, reached, a callback scheduled
    item("wi_e", 1, "c_e", ["stuck_journey"], "09:00:00", "09:00:00"),
    item("wi_e", 2, "c_e", ["repeat_contact", "stuck_journey"], "09:00:00", "09:05:00"),
    item("wi_e", 3, "c_e", ["repeat_contact", "stuck_journey"], "09:00:00", "09:10:00", state="claimed",
         first_claimed="09:10:00"),
    item("wi_e", 4, "c_e", ["repeat_contact", "stuck_journey"], "09:00:00", "09:20:00", state="claimed",
         first_claimed="09:10:00", first_attempt="09:20:00", attempts=1, last_outcome="reached"),
    item("wi_e", 5, "c_e", ["repeat_contact", "stuck_journey"], "09:00:00", "09:30:00", state="closed",
         first_claimed="09:10:00", first_attempt="09:20:00", attempts=1, last_outcome="reached", closed="09:30:00",
         resolution="callback_scheduled"),
    # wi_f (repeat_contact): never worked, still open
    item("wi_f", 1, "c_f", ["repeat_contact"], "14:00:00", "14:00:00"),
]

EVENTS = [
    # c_a: the outreach call (outbound: not the customer coming back), a happy survey, a chat at 13:00 (after the window)
    ev("c_a", "cx.contact.started", "10:10:00", contact="k_a_out", direction="outbound"),
    ev("c_a", "cx.contact.ended", "10:19:00", contact="k_a_out", direction="outbound"),
    ev("c_a", "cx.outreach.attempted", "10:10:00", direction="outbound", outcome="reached"),
    survey("c_a", "10:30:00", csat=5),
    ev("c_a", "cx.contact.started", "13:00:00", contact="k_a_chat", channel="chat"),
    # c_b: the call it waited in (started before the item) abandoned at 10:04; a new call at 10:30, stored under
    # an older customer id that a merge since maps to c_b
    ev("c_b", "cx.contact.started", "09:58:00", contact="k_b1"), ev("c_b", "cx.contact.queued", "09:58:00", contact="k_b1"),
    ev("c_b", "cx.contact.abandoned", "10:04:00", contact="k_b1"),
    ev("c_old", "cx.contact.started", "10:30:00", contact="k_b2"),
    ev("c_old", "cx.contact.answered", "10:31:00", contact="k_b2"),
    # c_c: the survey that opened the item (at opened_at: not after it), then a detractor at 12:30
    survey("c_c", "11:00:00", csat=1), survey("c_c", "12:30:00", nps=3),
    # c_d: cart done, stuck at payment; a failure at 06:00 is more than a window before the item; pays at 10:30
    step("c_d", "06:00:00", "login", "mfa", "failed"),
    step("c_d", "08:20:00", "checkout", "cart", "entered"), step("c_d", "08:30:00", "checkout", "cart", "completed"),
    step("c_d", "08:40:00", "checkout", "payment", "entered"), step("c_d", "08:45:00", "checkout", "payment", "failed"),
    step("c_d", "10:30:00", "checkout", "payment", "completed"),
    # c_e: stuck at mfa, logs in at 11:30 (after the window); the email that made it a repeat contact starts at
    # opened_at (not after it); an abandoned-but-answered chat does not count; a new email at 10:59:59
    step("c_e", "08:45:00", "login", "mfa", "entered"), step("c_e", "08:50:00", "login", "mfa", "failed"),
    step("c_e", "11:30:00", "login", "mfa", "completed"),
    ev("c_e", "cx.contact.started", "09:00:00", contact="k_e0", channel="email"),
    ev("c_e", "cx.contact.answered", "08:59:00", contact="k_e1", channel="chat"),
    ev("c_e", "cx.contact.abandoned", "09:40:00", contact="k_e1", channel="chat"),
    ev("c_e", "cx.contact.started", "10:59:59", contact="k_e2", channel="email"),
    # c_f: a call started exactly at the window's end (inside), abandoned a second later (outside)
    ev("c_f", "cx.contact.started", "16:00:00", contact="k_f1"), ev("c_f", "cx.contact.queued", "16:00:00", contact="k_f1"),
    ev("c_f", "cx.contact.abandoned", "16:00:01", contact="k_f1"),
]

LINKS = [{"identifier": "email:b@example.com", "kind": "email", "node_id": "c_old", "customer_id": "c_b",
          "status": "linked", "change": "merged", "version": 2, "first_seen": f"{DAY} 08:00:00",
          "changed_at": f"{DAY} 10:40:00"}]

COLUMNS = ("work_item_id", "customer_id", "rules", "opening_rule", "state", "worked", "time_to_claim_seconds",
           "time_to_first_attempt_seconds", "reached", "resolution", "resolved_by_outreach", "contacted_again_at",
           "abandoned_at", "negative_survey_at", "stuck_steps", "finished_journey", "window_closed")
# Worked out from the fixture above with a 2 h window (each "next" strictly after opened_at, at most 2 h later).
EXPECTED_ITEMS = [
    ("wi_d", "c_d", ["stuck_journey"], "stuck_journey", "open", False, None, None, False, "", False,
     None, None, None, ["checkout/payment"], True, True),
    ("wi_e", "c_e", ["repeat_contact", "stuck_journey"], "stuck_journey", "closed", True, 600.0, 1200.0, True,
     "callback_scheduled", False, at("10:59:59"), None, None, ["login/mfa"], False, True),
    ("wi_a", "c_a", ["long_queue_wait"], "long_queue_wait", "closed", True, 300.0, 600.0, True, "resolved", True,
     None, None, None, [], None, True),
    ("wi_b", "c_b", ["long_queue_wait"], "long_queue_wait", "closed", False, None, None, False, "self_resolved", False,
     at("10:30:00"), at("10:04:00"), None, [], None, True),
    ("wi_c", "c_c", ["negative_survey"], "negative_survey", "open", True, 1800.0, 2400.0, False, "", False,
     None, None, at("12:30:00"), [], None, True),
    ("wi_f", "c_f", ["repeat_contact"], "repeat_contact", "open", False, None, None, False, "", False,
     at("16:00:00"), None, None, [], None, True),
]

RULE_COLUMNS = ("rule", "cohort", "items", "open_windows", "reached", "resolved_by_outreach",
                "median_time_to_claim_seconds", "contacted_again", "abandoned", "negative_survey", "stuck_in_journey",
                "finished_journey", "repeat_contact_rate", "abandonment_rate", "negative_survey_rate",
                "journey_finish_rate")
# An item counts under each rule it held (wi_e under repeat_contact and stuck_journey).
EXPECTED_BY_RULE = [
    ("long_queue_wait", "worked", 1, 0, 1, 1, 300.0, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, None),
    ("long_queue_wait", "unworked", 1, 0, 0, 0, None, 1, 1, 0, 0, 0, 1.0, 1.0, 0.0, None),
    ("negative_survey", "worked", 1, 0, 0, 0, 1800.0, 0, 0, 1, 0, 0, 0.0, 0.0, 1.0, None),
    ("repeat_contact", "worked", 1, 0, 1, 0, 600.0, 1, 0, 0, 1, 0, 1.0, 0.0, 0.0, 0.0),
    ("repeat_contact", "unworked", 1, 0, 0, 0, None, 1, 0, 0, 0, 0, 1.0, 0.0, 0.0, None),
    ("stuck_journey", "worked", 1, 0, 1, 0, 600.0, 1, 0, 0, 1, 0, 1.0, 0.0, 0.0, 0.0),
    ("stuck_journey", "unworked", 1, 0, 0, 0, None, 0, 0, 0, 1, 1, 0.0, 0.0, 0.0, 1.0),
]


def _load(warehouse, window: float = WINDOW, seed: int = 0) -> None:
    settings = msgspec.structs.replace(Settings(), kpi=KpiSettings(outreach_effect_window_seconds=window))
    view_settings.publish(warehouse, settings)
    rng = random.Random(seed)
    for table, rows in (("cx.work_items", ITEMS), ("cx.events", EVENTS), ("cx.identity_links", LINKS)):
        rows = list(rows)
        rng.shuffle(rows)
        for part in (rows[: len(rows) // 2], rows[len(rows) // 2:]):
            warehouse.insert(table, part, token=f"effect-{table}-{rng.random()}")


def _rows(warehouse, sql: str, columns: tuple[str, ...]) -> list[tuple]:
    return [tuple(row[c] for c in columns) for row in warehouse.query(sql).dicts()]


@pytest.mark.parametrize("seed", range(2))
def test_the_effect_view_equals_the_hand_computed_values(warehouse, seed):
    _load(warehouse, seed=seed)
    got = _rows(warehouse, f"SELECT {', '.join(COLUMNS)} FROM cx.outreach_effect", COLUMNS)
    assert got == EXPECTED_ITEMS
    assert _rows(warehouse, f"SELECT {', '.join(RULE_COLUMNS)} FROM cx.outreach_effect_by_rule",
                 RULE_COLUMNS) == EXPECTED_BY_RULE


def test_the_window_is_the_configured_one(warehouse):
    """With 1 h instead of 2 h, c_e's email at 10:59:59 (1 h 59 min 59 s after wi_e opened), c_d's payment
    at 10:30 and c_c's detractor at 12:30 fall outside; c_b's call at 10:30 and abandon at 10:04 do not."""
    _load(warehouse, window=3600.0)
    got = _rows(warehouse, "SELECT work_item_id, contacted_again, abandoned, negative_survey, finished_journey "
                           "FROM cx.outreach_effect", ("work_item_id", "contacted_again", "abandoned", "negative_survey",
                                                       "finished_journey"))
    assert got == [("wi_d", False, False, False, False), ("wi_e", False, False, False, False),
                   ("wi_a", False, False, False, None), ("wi_b", True, True, False, None),
                   ("wi_c", False, False, False, None), ("wi_f", False, False, False, None)]
    assert warehouse.query("SELECT DISTINCT window_seconds FROM cx.outreach_effect").rows == [(3600.0,)]


def test_a_range_gives_the_items_opened_in_it_only(warehouse):
    _load(warehouse)
    between = f"cx.outreach_effect_between(start = '{DAY} 10:00:00', stop = '{DAY} 12:00:00')"
    assert warehouse.query(f"SELECT work_item_id FROM {between}").rows == [("wi_a",), ("wi_b",), ("wi_c",)]
    by_rule = f"cx.outreach_effect_by_rule_between(start = '{DAY} 10:00:00', stop = '{DAY} 12:00:00')"
    assert _rows(warehouse, f"SELECT {', '.join(RULE_COLUMNS)} FROM {by_rule}", RULE_COLUMNS) == \
        [r for r in EXPECTED_BY_RULE if r[0] in ("long_queue_wait", "negative_survey")]
