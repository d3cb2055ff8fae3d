"""Flood control without Kafka: the contact policy per customer, a team's capacity, and their config."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import ConfigError
from streams.domain.detect.advance import advance
from streams.domain.detect.rules import RULES
from streams.domain.detect.rules_config import load_rules
from streams.domain.detect.state import CustomerState, apply
from streams.domain.outreach import dispatch
from streams.domain.outreach.contact_policy import (
    DAY,
    WEEK,
    ContactPolicy,
    next_allowed,
    quiet_until,
    remember,
    timezone_of,
)
from streams.domain.records import CxEvent

PACKAGED = Path(__file__).resolve().parents[1] / "config" / "rules.toml"
PARIS = ZoneInfo("Europe/Paris")
POLICY = ContactPolicy(per_day=2, per_week=5, quiet_start=dt.time(21), quiet_end=dt.time(8))


def local(at: float, tz=PARIS) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, tz)


def test_the_customers_zone_comes_from_the_profile_then_the_phone_then_the_default():
    assert timezone_of("", {"phone": "+33612345678"}, "UTC") == "Europe/Paris"
    assert timezone_of("", {"phone": "+819012345678"}, "UTC") == "Asia/Tokyo"
    assert timezone_of("America/Chicago", {"phone": "+33612345678"}, "UTC") == "America/Chicago"
    assert timezone_of("Not/AZone", {"phone": "not a number"}, "Europe/Lisbon") == "Europe/Lisbon"
    assert timezone_of("", {"email": "a@x.io"}, "UTC") == "UTC"


def test_quiet_hours_end_at_the_local_wake_time_across_midnight_and_dst():
    evening = dt.datetime(2026, 3, 28, 22, 30, tzinfo=PARIS).timestamp()  # the night clocks go forward
    assert local(quiet_until(POLICY, "Europe/Paris", evening)) == dt.datetime(2026, 3, 29, 8, 0, tzinfo=PARIS)
    assert local(quiet_until(POLICY, "Europe/Paris", evening)).utcoffset() == dt.timedelta(hours=2)
    early = dt.datetime(2026, 3, 2, 6, 0, tzinfo=PARIS).timestamp()
    assert quiet_until(POLICY, "Europe/Paris", early) == dt.datetime(2026, 3, 2, 8, 0, tzinfo=PARIS).timestamp()
    assert quiet_until(POLICY, "Europe/Paris", early + 3 * 3600) is None
    assert quiet_until(ContactPolicy(), "UTC", early) is None  # no quiet hours configured


@settings(max_examples=300, deadline=None)
@given(per_day=st.integers(1, 4), extra=st.integers(0, 6), zone=st.sampled_from(["Europe/Paris", "Asia/Tokyo", "UTC"]),
       gaps=st.lists(st.floats(0, 2 * DAY), min_size=1, max_size=40))
def test_offers_made_when_the_policy_allows_keep_every_limit(per_day, extra, zone, gaps):
    """Items arriving at any times, each offered at next_allowed: no window over its limit, none in quiet hours."""
    policy = ContactPolicy(per_day=per_day, per_week=per_day + extra, quiet_start=dt.time(21), quiet_end=dt.time(8))
    offers, at = [], dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()
    for gap in gaps:
        at += gap
        when, reason = next_allowed(policy, offers, zone, at)
        assert when >= at and (reason == "") == (when == at)
        assert next_allowed(policy, offers, zone, when) == (when, "")  # eligible then: the held item is offered
        offers = remember(offers, when)
        at = max(at, when)  # the detection state only moves forward in event time
    for o in offers:
        assert sum(o <= x < o + DAY for x in offers) <= policy.per_day
        assert sum(o <= x < o + WEEK for x in offers) <= policy.per_week
        assert quiet_until(policy, zone, o) is None


# -- the must-show: 5 alerts in one day, fixed clock --------------------------------------------------------

# the packaged [outreach] tables; long_queue_wait alone, with no service calendar (its clock would pause at night)
CONTACT = "".join(f"[{rule}]\nenabled = 0\n" for rule in RULES if rule != "long_queue_wait") + \
    PACKAGED.read_text().partition("\n[outreach]")[2].join(["[outreach]", ""])
DAY0 = dt.datetime(2026, 3, 2, tzinfo=PARIS).timestamp()  # a Monday, midnight in Paris


def voice(n: int, at: float, type_: str, contact: str) -> CxEvent:
    return CxEvent(source="/t", id=f"e{n}", type=type_, time=dt.datetime.fromtimestamp(at, dt.UTC), channel="voice",
                   customer={"phone": "+33612345678"}, contact_id=contact, queue="billing", attributes={},
                   origin="t:0:0", received_at=0.0)


def test_a_customer_with_five_alerts_in_a_day_is_offered_at_most_per_day_and_never_in_quiet_hours(tmp_path):
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(CONTACT)  # per_day = 2, quiet 21:00-08:00 local (the phone says Paris)
    rules = load_rules(rules_file)
    # five waits in a queue that day (Paris time), each alerting after 120 s; each answered 40 minutes later
    starts = [dt.time(7, 0), dt.time(10, 0), dt.time(13, 0), dt.time(16, 0), dt.time(22, 0)]
    events = []
    for n, t in enumerate(starts):
        at = dt.datetime.combine(dt.date(2026, 3, 2), t, PARIS).timestamp()
        events += [voice(2 * n, at, "cx.contact.queued", f"k{n}"), voice(2 * n + 1, at + 2400, "cx.contact.answered", f"k{n}")]
    state, items = CustomerState(customer="c_1"), []
    for e in events:  # one event at a time, the watermark at each: a fixed clock, in event time
        apply(state, e)
        items += advance(state, rules, e.time.timestamp())[1]
    items += advance(state, rules, DAY0 + 2 * DAY)[1]
    offered = [i.changed_at for i in items if i.state == "open" and (i.version == 1 or items[items.index(i) - 1].state == "held")]
    held = {i.item_id: (local(i.changed_at).strftime("%H:%M"), i.held_reason, local(i.eligible_at).strftime("%d %H:%M"))
            for i in items if i.state == "held" and i.version == 1}
    print(f"5 alerts in a day: {len({i.item_id for i in items})} items, offered at "
          f"{[local(t).strftime('%H:%M') for t in offered]}, held (at, why, until) {list(held.values())}")
    assert len({i.item_id for i in items}) == 5
    assert len(offered) == 2 == len(state.offers)
    assert all(8 <= local(t).hour < 21 for t in offered)
    assert [reason for _, reason, _ in held.values()] == ["quiet_hours", "daily_limit", "daily_limit"]
    # every item is accounted for: each alert resolved on its own, so each item closed self-resolved
    last = {i.item_id: i for i in items}
    assert [(i.state, i.resolution) for i in last.values()] == [("closed", "self_resolved")] * 5
    assert all(a.state == "resolved" for a in state.alerts.values())


def test_a_held_item_refuses_a_claim_and_is_offered_when_eligible(tmp_path):
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(CONTACT)
    rules = load_rules(rules_file)
    at = dt.datetime(2026, 3, 2, 22, 0, tzinfo=PARIS).timestamp()
    state = CustomerState(customer="c_1")
    apply(state, voice(1, at, "cx.contact.queued", "k1"))
    items = advance(state, rules, at + 300)[1]
    apply(state, CxEvent(source="/cli", id="a1", type="cx.outreach.claimed", time=dt.datetime.fromtimestamp(at + 600, dt.UTC),
                         channel="voice", customer={"phone": "+33612345678"}, agent_id="ann",
                         attributes={"team": "t1", "work_item_id": items[0].item_id}, origin="t:0:0", received_at=0.0))
    items += advance(state, rules, at + DAY)[1]
    assert items[0].state == "held" and local(items[0].eligible_at) == dt.datetime(2026, 3, 3, 8, tzinfo=PARIS)
    refused = next(i for i in items if i.verdict is not None)
    assert (refused.state, refused.verdict.accepted) == ("held", False)
    assert refused.verdict.reason.startswith("held by the contact policy (quiet_hours) until 2026-03-03T07:00:00")
    assert items[-1].state == "open" and items[-1].changed_at == items[0].eligible_at


# -- team capacity ------------------------------------------------------------------------------------------

def version(n: int, state: str, at: float, priority: float = 1.0, outreach: bool = True) -> dict:
    return {"work_item_id": f"wi_{n}", "customer_id": f"c_{n}", "state": state, "outreach": outreach,
            "priority": priority, "opened_at": at, "changed_at": at}


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 5), steps=st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from(["open", "claimed", "closed", "held"]), st.floats(0, 900),
              st.integers(0, 3), st.booleans()), min_size=1, max_size=120))
def test_a_teams_list_never_exceeds_its_capacity_and_no_item_is_lost(capacity, steps):
    team, at, places = dispatch.Team(team="t"), 0.0, {}
    seen, listed_times = set(), []
    for n, state, gap, priority, outreach in steps:
        at += gap
        before = {e.item_id for e in team.entries.values() if e.status == dispatch.WAITING}
        decisions = dispatch.take(team, capacity, version(n, state, at, float(priority), outreach))
        for d in decisions:
            places[d.item_id] = d.status
            if d.status == dispatch.LISTED:
                listed_times.append(d.at)
                waiting = [e for e in team.entries.values() if e.status == dispatch.WAITING]
                assert all(e.priority <= d.priority for e in waiting if e.item_id in before)  # priority order
        if outreach and state not in ("closed", "held"):
            seen.add(f"wi_{n}")
        listed = sum(e.status == dispatch.LISTED for e in team.entries.values())
        assert team.count(dispatch.LISTED) == listed <= capacity  # the kept count is the true one
        assert team.count(dispatch.WAITING) == len(team.entries) - listed
        assert dispatch.decode_team(dispatch.encode(team)) == team  # as stored and read back
        assert sum(at - dispatch.HOUR < t <= at for t in listed_times) <= capacity
        # every item offered is waiting, listed, or has left with a decision saying so: none dropped
        for item in seen:
            assert item in team.entries or places.get(item) in (dispatch.CLOSED, dispatch.WITHDRAWN)
            assert places[item] == team.entries[item].status if item in team.entries else True


def test_waiting_items_enter_as_the_hour_frees_room():
    team = dispatch.Team(team="t")
    got = [dispatch.take(team, 2, version(n, "open", n * 60.0, priority=n)) for n in range(4)]
    assert [[(d.item_id, d.status) for d in ds] for ds in got] == [
        [("wi_0", "listed")], [("wi_1", "listed")], [("wi_2", "waiting")], [("wi_3", "waiting")]]
    closed = dispatch.take(team, 2, version(0, "closed", 600.0))
    assert [(d.item_id, d.status) for d in closed] == [("wi_0", "closed")]  # room on the list, none in the hour
    later = dispatch.take(team, 2, version(1, "claimed", 3601.0))
    assert [(d.item_id, d.status) for d in later] == [("wi_3", "listed")]  # the highest priority first


# -- config ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, key", [
    ("[outreach.contact]\nper_day = 0\n", "[outreach.contact] per_day"),
    ("[outreach.contact]\nper_day = 3\nper_week = 2\n", "[outreach.contact] per_week"),
    ("[outreach.contact]\nquiet_start = \"21:00\"\n", "[outreach.contact] quiet_start"),
    ("[outreach.contact]\ndefault_timezone = \"Mars/Olympus\"\n", "[outreach.contact] default_timezone"),
    ("[outreach.contact]\nmax_calls = 1\n", "[outreach.contact]: unknown key 'max_calls'"),
    ("[outreach.teams.a]\ncapacity_per_hour = 0\n", "[outreach.teams.a] capacity_per_hour"),
    ("[outreach.teams.a]\ncapacity_per_hour = 2.5\n", "[outreach.teams.a] capacity_per_hour"),
    ("[outreach.teams.a]\nrules = [\"long_wait\"]\n", "[outreach.teams.a] rules"),
    ("[outreach.teams.a]\nrules = [\"long_hold\"]\n[outreach.teams.b]\nrules = [\"long_hold\"]\n",
     "[outreach.teams.b] rules: long_hold is worked by team a"),
    ("[outreach]\ndefault_team = \"nobody\"\n", "[outreach] default_team"),
])
def test_flood_control_config_mistakes_name_the_key(tmp_path, extra, key):
    path = tmp_path / "rules.toml"
    path.write_text(extra)
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_rules(path)


def test_teams_take_the_rules_they_list_and_the_default_team_the_rest(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[outreach]\ndefault_team = "care"\n[outreach.teams.care]\ncapacity_per_hour = 12\n'
                    '[outreach.teams.voice]\ncapacity_per_hour = 30\nrules = ["long_queue_wait", "long_hold"]\n')
    o = load_rules(path).outreach
    assert (o.capacity, o.team_of_rule, o.default_team) == (
        {"care": 12, "voice": 30}, {"long_queue_wait": "voice", "long_hold": "voice"}, "care")
