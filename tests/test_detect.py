"""Detection rules and the alert lifecycle, in event time, without Kafka."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import ConfigError
from streams.domain.detect.lifecycle import reconcile
from streams.domain.detect.rules_config import load_rules
from streams.domain.detect.state import CustomerState, apply, decode_state, encode
from streams.domain.records import CxEvent

RULES = load_rules()
T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC).timestamp()  # a Monday, 10:00 in New York


def ev(n: int, at: float, type_: str, channel: str = "voice", contact: str = "k1", queue: str = "billing", **attributes):
    return CxEvent(source="/t", id=f"e{n}", type=type_, time=dt.datetime.fromtimestamp(T0 + at, dt.UTC), channel=channel,
                   customer={"email": "a@x.io"}, contact_id=contact, queue=queue, attributes=attributes,
                   origin="t:0:0", received_at=0.0)


def run(events, watermark: float, state: CustomerState | None = None):
    state = state or CustomerState(customer="c_1")
    for e in events:
        apply(state, e)
    return state, [(c.alert.rule, c.alert.state, round(c.at - T0, 3)) for c in reconcile(state, RULES, T0 + watermark)]


def test_long_queue_wait_fires_at_the_threshold_escalates_and_resolves_when_answered():
    queued = [ev(1, 0, "cx.contact.started"), ev(2, 10, "cx.contact.queued")]
    assert run(queued, 129.9)[1] == []                                    # 120 s after queueing: not yet
    state, changes = run(queued, 130)
    assert changes == [("long_queue_wait", "open", 130)]
    assert run([], 310, state)[1] == [("long_queue_wait", "escalated", 310)]
    assert run([ev(3, 400, "cx.contact.answered")], 400, state)[1] == [("long_queue_wait", "resolved", 400)]


def test_chat_queue_has_its_own_threshold_and_an_answer_in_time_raises_nothing():
    chat = [ev(1, 0, "cx.contact.queued", channel="chat")]
    assert run(chat, 60)[1] == [("long_queue_wait", "open", 60)]
    assert run([*chat, ev(2, 59, "cx.contact.answered", channel="chat")], 1000)[1] == []


def test_unanswered_email_counts_service_hours_only():
    # 15:00 UTC Monday = 10:00 New York; email SLA 4 h of service hours -> 14:00 New York
    msg = [ev(1, 0, "cx.contact.message", channel="email", contact="m1", author="customer")]
    assert run(msg, 4 * 3600 - 1)[1] == []
    state, changes = run(msg, 4 * 3600)
    assert changes == [("unanswered_message", "open", 14400)]
    assert run([ev(2, 5 * 3600, "cx.contact.message", channel="email", contact="m1", author="agent")], 5 * 3600, state)[1] == [
        ("unanswered_message", "resolved", 18000)]


def test_unanswered_sms_clock_pauses_overnight():
    late = 9.5 * 3600  # 19:30 New York, half an hour before closing; SMS SLA 15 min
    msg = [ev(1, late, "cx.contact.message", channel="sms", contact="s1", author="customer")]
    assert run(msg, late + 900)[1] == [("unanswered_message", "open", late + 900)]
    msg = [ev(1, late + 1200, "cx.contact.message", channel="sms", contact="s1", author="customer")]  # 19:50
    # 10 min left today, then 5 min after 08:00 tomorrow: 12 h 15 min later
    assert run(msg, late + 1200 + 12 * 3600 + 15 * 60 - 1)[1] == []
    assert run(msg, late + 1200 + 12 * 3600 + 15 * 60)[1] == [("unanswered_message", "open", late + 1200 + 44100)]


def test_abandoned_without_callback_and_a_callback_resolves_it():
    gone = [ev(1, 0, "cx.contact.queued"), ev(2, 60, "cx.contact.abandoned")]
    assert run(gone, 659)[1] == []  # abandoned before the 120 s queue threshold: no queue alert either
    state, changes = run(gone, 660)
    assert ("abandoned_without_callback", "open", 660) in changes
    assert run([ev(3, 700, "cx.callback.completed")], 700, state)[1] == [("abandoned_without_callback", "resolved", 700)]


def test_a_served_alert_says_how_the_event_that_ended_it_reached_the_customer():
    def resolved_by(events, watermark, rule):
        state, _ = run(events, watermark)
        return state.alerts[rule].state, state.alerts[rule].resolved_by

    queued = [ev(1, 0, "cx.contact.started"), ev(2, 10, "cx.contact.queued")]
    assert resolved_by([*queued, ev(3, 400, "cx.contact.answered")], 500, "long_queue_wait") == ("resolved", "agent")
    gone = [ev(1, 0, "cx.contact.queued"), ev(2, 60, "cx.contact.abandoned")]
    called = ev(3, 700, "cx.callback.completed", contact="k1")
    assert resolved_by([*gone, called], 800, "abandoned_without_callback") == ("resolved", "outreach")
    step = dict(channel="web", contact="", journey="checkout", step="payment")
    stuck = [ev(1, 0, "cx.journey.step", status="entered", **step), ev(2, 950, "cx.journey.step", status="completed", **step)]
    assert resolved_by(stuck, 1000, "stuck_journey") == ("resolved", "self_service")
    # the answer is no longer among the customer's latest events when the watermark passes it
    later = [ev(10 + i, 401 + i, "cx.contact.started", contact=f"other-{i}") for i in range(8)]
    assert resolved_by([*queued, ev(3, 400, "cx.contact.answered"), *later], 500, "long_queue_wait") == ("resolved", "unknown")
    state, _ = run(queued, 320)
    assert (state.alerts["long_queue_wait"].state, state.alerts["long_queue_wait"].resolved_by) == ("escalated", "")


def test_a_new_contact_within_the_window_means_no_abandon_alert():
    events = [ev(1, 0, "cx.contact.queued"), ev(2, 60, "cx.contact.abandoned"),
              ev(3, 300, "cx.contact.started", channel="chat", contact="k2")]
    assert [c for c in run(events, 2000)[1] if c[0] == "abandoned_without_callback"] == []


def test_stuck_journey_by_time_and_by_repeated_failures():
    step = dict(channel="web", contact="", journey="checkout", step="payment")
    entered = [ev(1, 0, "cx.journey.step", status="entered", **step)]
    assert run(entered, 899)[1] == [] and run(entered, 900)[1] == [("stuck_journey", "open", 900)]
    fails = [ev(i, 10 * i, "cx.journey.step", status="failed", **step) for i in range(1, 4)]
    state, changes = run(fails, 30)
    assert changes == [("stuck_journey", "open", 30)]                     # third failure
    assert run([ev(9, 40, "cx.journey.step", status="completed", **step)], 40, state)[1] == [("stuck_journey", "resolved", 40)]


def test_repeat_contact_on_the_third_contact():
    contacts = [ev(i, i * 3600, "cx.contact.started", contact=f"k{i}") for i in range(1, 4)]
    assert run(contacts[:2], 10 * 3600)[1] == []
    state, changes = run(contacts, 3 * 3600)
    assert changes == [("repeat_contact", "open", 3 * 3600)]
    done = ev(9, 4 * 3600, "cx.contact.ended", contact="k3", resolution="resolved")
    assert run([done], 4 * 3600, state)[1] == [("repeat_contact", "resolved", 4 * 3600)]


def test_channel_hopping_on_three_channels_without_resolution():
    hops = [ev(1, 0, "cx.contact.started", channel="web", contact="w"), ev(2, 60, "cx.contact.started", channel="chat", contact="c"),
            ev(3, 600, "cx.contact.started", channel="voice", contact="v")]
    assert ("channel_hopping", "open", 600) in run(hops, 600)[1]
    resolved_first = [*hops[:2], ev(4, 300, "cx.contact.ended", channel="chat", contact="c", resolution="resolved"), hops[2]]
    assert not [c for c in run(resolved_first, 700)[1] if c[0] == "channel_hopping"]


def test_negative_survey_and_a_positive_one():
    assert run([ev(1, 0, "cx.survey.responded", channel="survey", contact="", csat=2)], 0)[1] == [("negative_survey", "open", 0)]
    assert run([ev(1, 0, "cx.survey.responded", channel="survey", contact="", csat=4, nps=9)], 10)[1] == []


def test_long_hold_and_too_many_transfers():
    hold = [ev(1, 0, "cx.contact.answered"), ev(2, 100, "cx.contact.hold")]
    assert run(hold, 279)[1] == []
    state, changes = run(hold, 280)
    assert changes == [("long_hold", "open", 280)]
    assert run([ev(3, 300, "cx.contact.resumed")], 300, state)[1] == [("long_hold", "resolved", 300)]
    transfers = [ev(i, 10 * i, "cx.contact.transferred") for i in range(1, 4)]
    assert run(transfers, 30)[1] == [("long_hold", "open", 30)]


def test_one_open_alert_per_rule_and_a_cool_down():
    two = [ev(1, 0, "cx.contact.queued"), ev(2, 5, "cx.contact.queued", contact="k2")]
    state, changes = run(two, 200)
    assert changes == [("long_queue_wait", "open", 120)]                  # k2 is folded into the open alert
    state, changes = run([ev(3, 250, "cx.contact.answered"), ev(4, 250, "cx.contact.answered", contact="k2")], 250, state)
    assert changes == [("long_queue_wait", "resolved", 250)]
    again = [ev(5, 300, "cx.contact.queued", contact="k3")]               # threshold at 420 < 250 + 600 cool-down
    assert [c for c in run(again, 1000, state)[1] if c[0] == "long_queue_wait"] == []
    later = [ev(6, 2000, "cx.contact.queued", contact="k4")]              # after the cool-down
    assert [c for c in run(later, 2200, state)[1] if c[0] == "long_queue_wait"] == [("long_queue_wait", "open", 2120)]


def test_alert_ids_are_stable_and_changes_carry_versions():
    state, _ = run([ev(1, 0, "cx.contact.queued")], 130)
    first = state.alerts["long_queue_wait"]
    run([], 310, state)
    second = state.alerts["long_queue_wait"]
    assert first.alert_id == second.alert_id and (first.version, second.version) == (1, 2)


# -- the same events, any batching and arrival order within the lateness: the same alerts ---------

STORY = [
    ev(1, 0, "cx.contact.started"), ev(2, 10, "cx.contact.queued"), ev(3, 200, "cx.contact.answered"),
    ev(4, 260, "cx.contact.hold"), ev(5, 500, "cx.contact.resumed"), ev(6, 900, "cx.contact.ended", resolution="unresolved"),
    ev(7, 1000, "cx.contact.message", channel="sms", contact="s1", author="customer"),
    ev(8, 3000, "cx.contact.message", channel="sms", contact="s1", author="agent"),
    ev(9, 3100, "cx.journey.step", channel="web", contact="", journey="login", step="otp", status="failed"),
    ev(10, 3150, "cx.journey.step", channel="web", contact="", journey="login", step="otp", status="failed"),
    ev(11, 3200, "cx.journey.step", channel="web", contact="", journey="login", step="otp", status="failed"),
    ev(12, 3300, "cx.contact.queued", channel="chat", contact="c2"), ev(13, 3500, "cx.contact.abandoned", channel="chat", contact="c2"),
    ev(14, 4500, "cx.survey.responded", channel="survey", contact="", csat=1),
    ev(15, 5000, "cx.contact.started", channel="email", contact="m9"),
]
LATENESS = 120.0


def alerts_of(batches) -> list[tuple]:
    state = CustomerState(customer="c_1")
    out, high = [], -1e18
    for batch in batches:
        for e in batch:
            apply(state, e)
            high = max(high, e.time.timestamp())
        out += [(c.alert.alert_id, c.alert.state, c.at) for c in reconcile(state, RULES, high - LATENESS)]
    out += [(c.alert.alert_id, c.alert.state, c.at) for c in reconcile(state, RULES, high + 10 * 86400)]
    return out


@settings(max_examples=200)
@given(seed=st.integers(0, 2**32), cuts=st.lists(st.integers(0, len(STORY)), max_size=8))
def test_alerts_do_not_depend_on_batching_or_disorder_within_the_lateness(seed, cuts):
    want = alerts_of([STORY])
    rng = random.Random(seed)
    # disorder within the lateness: each event may arrive up to LATENESS / 2 after a later one
    order = sorted(STORY, key=lambda e: e.time.timestamp() + rng.uniform(0, LATENESS / 2))
    points = sorted(set(cuts))
    batches = [order[a:b] for a, b in zip([0, *points], [*points, len(order)])]
    assert alerts_of(batches) == want
    assert {r for _, r, _ in want} >= {"open", "resolved"}


def test_replayed_events_change_nothing():
    state, first = run(STORY, 6000)
    assert run(STORY, 6000, state)[1] == []


@pytest.mark.parametrize("text, problem", [
    ("[long_queue_wait]\nopen_seconds = 'soon'\n", "open_seconds"),
    ("[long_queue_wait]\nopen_seconds = 600\nescalate_seconds = 60\n", "escalate_seconds must not be below"),
    ("[long_queue_wiat]\nopen_seconds = 1\n", "unknown rules"),
    ("[long_queue_wait]\nopen_secs = 1\n", "unknown key 'open_secs'"),
    ("[long_queue_wait.channel.fax]\nopen_seconds = 1\n", "unknown channels"),
    ("[calendar]\ntimezone = 'Mars/Olympus'\n", "unknown time zone"),
    ("[calendar]\nhours = { mon = ['20:00', '08:00'] }\n", "closes before it opens"),
])
def test_rule_files_are_checked_with_the_key_named(tmp_path, text, problem):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_rules(path)


def test_the_clock_keeps_one_timer_per_customer_and_fires_it_once():
    from streams.stages.detect import Clock

    clock = Clock(lateness=0.0, live=False)
    for at in (100.0, 150.0, 200.0):  # re-evaluations with later due times add nothing
        clock.schedule(0, at, "c1")
    clock.schedule(0, 50.0, "c1")  # an earlier one supersedes
    clock.schedule(0, 120.0, "c2")
    assert clock.pending() == 3
    assert clock.pop_due(0, 60.0) == ["c1"]
    assert clock.pop_due(0, 500.0) == ["c2"]  # c1's superseded 100 is skipped; its evaluation at 50 reschedules
    assert clock.pending() == 0


def test_an_event_is_folded_in_once_across_a_store_and_from_a_state_stored_before_digests():
    first, second = ev(1, 0, "cx.contact.started"), ev(2, 5, "cx.contact.queued")
    state = CustomerState(customer="c_1")
    assert apply(state, first) is True
    stored = decode_state(encode(state))                     # what the table gives back after a restart
    assert apply(stored, first) is False and apply(stored, second) is True
    assert all(isinstance(s, int) for s in stored.seen)
    older = CustomerState(customer="c_1", seen=["/t\x1fe1"])  # stored when `seen` held the keys themselves
    older = decode_state(encode(older))
    assert apply(older, first) is False and apply(older, second) is True
