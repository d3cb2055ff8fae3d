"""Work items: one per customer, worked by the outreach team, decided in event time (no Kafka)."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.detect.advance import advance
from streams.domain.detect.lifecycle import alert_id
from streams.domain.detect.rules_config import load_rules
from streams.domain.detect.state import CustomerState, apply
from streams.domain.records import CxEvent

RULES = load_rules()  # long_queue_wait on voice: open 120 s, escalate 300 s; claims expire after 900 s
T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC).timestamp()


def ev(n: int, at: float, type_: str, contact: str = "k1", **attributes) -> CxEvent:
    return CxEvent(source="/t", id=f"e{n}", type=type_, time=dt.datetime.fromtimestamp(T0 + at, dt.UTC), channel="voice",
                   customer={"email": "a@x.io"}, contact_id=contact, queue="billing", attributes=attributes,
                   origin="t:0:0", received_at=0.0)


QUEUE_ALERT = alert_id("c_1", "long_queue_wait", "k1", T0)


def action(n: int, at: float, kind: str, agent: str, target: str = QUEUE_ALERT, **attributes) -> CxEvent:
    return CxEvent(source="/cli", id=f"a{n}", type=f"cx.outreach.{kind}", time=dt.datetime.fromtimestamp(T0 + at, dt.UTC),
                   channel="voice", customer={"email": "a@x.io"}, agent_id=agent,
                   attributes={"team": "t1", "alert_id": target, **attributes}, origin="t:0:0", received_at=0.0)


def run(batches: list[list[CxEvent]], watermarks: list[float]):
    """Fold batches in, advancing to each watermark after its batch; the item versions and alert changes."""
    state = CustomerState(customer="c_1")
    items, changes = [], []
    for batch, watermark in zip(batches, watermarks):
        for e in batch:
            apply(state, e)
        done, versions = advance(state, RULES, T0 + watermark)
        changes += done
        items += versions
    return state, items, changes


def summary(items) -> list[tuple]:
    """What an item version says, without the priority (which depends on when an alert was first seen)."""
    return [(i.item_id, i.version, i.state, i.holder, round(i.changed_at - T0, 3), sorted(a.alert_id for a in i.alerts),
             i.verdict and (i.verdict.event_id, i.verdict.accepted, i.verdict.reason), i.resolution, i.escalated)
            for i in items]


# waiting in a queue on one contact (alert at 120 s), on hold on another (alert at 190 s)
QUEUED = [ev(1, 0, "cx.contact.queued"), ev(2, 0, "cx.contact.answered", contact="k2"), ev(3, 10, "cx.contact.hold", contact="k2")]


def test_one_item_per_customer_groups_their_alerts_and_closes_when_they_resolve_alone():
    _, items, _ = run([[*QUEUED, ev(4, 700, "cx.contact.answered"), ev(5, 800, "cx.contact.resumed", contact="k2")]],
                      [1000])
    assert [(i.state, round(i.changed_at - T0), [a.rule for a in i.alerts]) for i in items] == [
        ("open", 120, ["long_queue_wait"]), ("open", 190, ["long_hold", "long_queue_wait"]),
        ("open", 300, ["long_hold", "long_queue_wait"]), ("open", 430, ["long_hold", "long_queue_wait"]),
        ("open", 700, ["long_hold"]), ("closed", 800, [])]
    assert items[3].escalated and items[3].priority == max(a.priority for a in items[3].alerts)
    assert len({i.item_id for i in items}) == 1 and items[-1].resolution == "self_resolved"


def test_claim_attempt_complete_resolves_the_alerts_by_outreach():
    state, items, changes = run([QUEUED, [action(1, 130, "claimed", "ann"), action(2, 140, "attempted", "ann", outcome="no_answer"),
                                          action(3, 150, "attempted", "ann", outcome="reached"),
                                          action(4, 160, "completed", "ann", outcome="resolved")]], [125, 200])
    assert [(i.state, i.holder, i.attempts) for i in items] == [
        ("open", "", 0), ("claimed", "ann", 0), ("claimed", "ann", 1), ("claimed", "ann", 2), ("closed", "ann", 2),
        ("open", "", 0)]  # the hold alert (190 s) came after the item closed: a new item
    assert items[-1].item_id != items[0].item_id
    assert items[4].resolution == "resolved" and items[4].first_attempt_at == T0 + 140
    assert [(c.alert.rule, c.alert.state, c.alert.resolution) for c in changes] == [
        ("long_queue_wait", "open", ""), ("long_queue_wait", "resolved", "outreach"), ("long_hold", "open", "")]
    assert state.alerts["long_queue_wait"].state == "resolved"  # the same incident does not open again


def test_a_second_claim_is_refused_with_who_holds_it_and_a_release_by_another_agent_too():
    _, items, _ = run([QUEUED, [action(1, 130, "claimed", "ann"), action(2, 130, "claimed", "bob"),
                                action(3, 131, "released", "bob")]], [125, 200])
    verdicts = [(i.verdict.agent, i.verdict.accepted, i.verdict.reason) for i in items if i.verdict]
    assert verdicts[0] == ("ann", True, "")
    assert verdicts[1][:2] == ("bob", False) and verdicts[1][2].startswith("held by ann (t1) since 2026-03-02T15:02:10")
    assert verdicts[2] == ("bob", False, "not held by you")
    assert items[-1].holder == "ann"


def test_a_claim_without_an_attempt_expires_back_to_the_list_escalated():
    _, items, _ = run([QUEUED, [action(1, 130, "claimed", "ann")]], [125, 2000])
    expired = next(i for i in items if i.expired_claims)
    assert (expired.state, expired.holder, expired.escalated, round(expired.changed_at - T0)) == ("open", "", True, 1030)


def test_snooze_takes_the_item_off_the_list_until_its_time():
    until = dt.datetime.fromtimestamp(T0 + 400, dt.UTC).isoformat()
    _, items, _ = run([QUEUED, [action(1, 130, "snoozed", "ann", until=until)]], [125, 1000])
    states = [(i.state, round(i.changed_at - T0)) for i in items]
    assert ("snoozed", 130) in states and ("open", 400) in states


def test_an_action_on_another_item_is_refused_naming_the_current_one():
    _, items, _ = run([QUEUED, [action(1, 130, "claimed", "ann", target="wi_old")]], [125, 200])
    assert items[-1].verdict.accepted is False and "not this customer's current work item" in items[-1].verdict.reason


AGENTS = ["ann", "bob"]
action_kinds = st.sampled_from(["claimed", "released", "attempted", "completed", "snoozed"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2000), action_kinds, st.sampled_from(AGENTS)), max_size=8),
       st.lists(st.integers(0, 2400), max_size=6), st.randoms(use_true_random=False))
def test_the_same_items_whatever_the_batching_and_arrival_order_within_the_lateness(acts, cuts, rng: random.Random):
    """Replays at any speed: events arrive in any order and batches, but none behind the watermark."""
    events = [*QUEUED, ev(4, 900, "cx.contact.answered"), ev(5, 1500, "cx.contact.resumed", contact="k2"),
              ev(6, 2100, "cx.contact.queued", contact="k3")]
    for n, (at, kind, agent) in enumerate(acts):
        extra = {"outcome": "reached" if kind == "attempted" else "resolved"} if kind in ("attempted", "completed") else {}
        if kind == "snoozed":
            extra = {"until": dt.datetime.fromtimestamp(T0 + at + 200, dt.UTC).isoformat()}
        events.append(action(10 + n, at + 0.5, kind, agent, **extra))
    end = 3000.0
    _, once, once_changes = run([events], [end])
    watermarks = sorted(set(cuts)) + [end]
    batches: list[list[CxEvent]] = [[] for _ in watermarks]
    for e in events:  # deliver each event in a batch whose watermark has not yet passed it
        at = e.time.timestamp() - T0
        latest = next(i for i, w in enumerate(watermarks) if w >= at)
        batches[rng.randint(0, latest)].append(e)
    for b in batches:
        rng.shuffle(b)
    _, streamed, streamed_changes = run(batches, watermarks)
    assert summary(streamed) == summary(once)
    assert [(c.alert.alert_id, c.alert.state) for c in streamed_changes] == \
        [(c.alert.alert_id, c.alert.state) for c in once_changes]


def test_the_shipped_rules_file_documents_the_outreach_defaults_and_a_bad_value_is_named(tmp_path):
    import tomllib

    import pytest

    from streams.config import ConfigError
    from streams.domain.detect.rules_config import OUTREACH_DEFAULTS, default_path

    shipped = tomllib.loads(default_path().read_text())["outreach"]
    assert {k: v for k, v in shipped.items() if k in OUTREACH_DEFAULTS} == OUTREACH_DEFAULTS
    bad = tmp_path / "rules.toml"
    bad.write_text("[outreach]\nclaim_expire_seconds = -1\n")
    with pytest.raises(ConfigError, match=r"\[outreach\].claim_expire_seconds"):
        load_rules(bad)
