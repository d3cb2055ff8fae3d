"""The demo's simulated outreach team: which item it takes next, and how its calls go (no broker)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.detect.rules import RULES
from streams.domain.detect.rules_config import load_rules, packaged
from streams.domain.outreach.actions import outcomes
from streams.simulator.team import ATTEMPTED, COMPLETED, MAX_ATTEMPTS, TEAM, next_item, plan

CALLS = [plan(seed=3, item_id=f"wi_{n:020x}") for n in range(4000)]


def test_outcome_shares_use_the_contract_outcomes_and_sum_to_one():
    assert set(ATTEMPTED) == set(outcomes("attempt")) and set(COMPLETED) == set(outcomes("done"))
    assert abs(sum(ATTEMPTED.values()) - 1) < 1e-9 and abs(sum(COMPLETED.values()) - 1) < 1e-9


def test_a_call_is_claim_then_tries_then_done_or_release():
    for steps in CALLS:
        verbs = [s.verb for s in steps]
        assert verbs[0] == "claim" and verbs[-1] in ("done", "release")
        assert 1 <= verbs.count("attempt") <= MAX_ATTEMPTS and verbs.count("claim") == 1
        assert all(s.delay > 0 for s in steps)
        tries = [s.outcome for s in steps if s.verb == "attempt"]
        last = steps[-1]
        if tries[-1] == "reached":
            assert last.verb == "done" and last.outcome in COMPLETED
        elif tries[-1] == "declined":
            assert (last.verb, last.outcome) == ("done", "not_needed")
        else:  # not reached after the last try, or a wrong number: back to the list
            assert last.verb == "release"
            assert tries[-1] == "wrong_number" or len(tries) == MAX_ATTEMPTS


def test_outcomes_follow_their_stated_shares_and_the_same_item_gets_the_same_call():
    first = Counter(next(s.outcome for s in steps if s.verb == "attempt") for steps in CALLS)
    for outcome, share in ATTEMPTED.items():
        assert abs(first[outcome] / len(CALLS) - share) < 0.03, (outcome, first)
    done = Counter(s[-1].outcome for s in CALLS if s[-2].outcome == "reached")
    assert abs(done["resolved"] / sum(done.values()) - COMPLETED["resolved"]) < 0.03, done
    assert plan(3, "wi_a") == plan(3, "wi_a") and [plan(3, f"wi_{n}") for n in range(20)] != [
        plan(4, f"wi_{n}") for n in range(20)]


ITEM = st.fixed_dictionaries({
    "work_item_id": st.text("abcdef0123456789", min_size=4, max_size=8).map(lambda s: f"wi_{s}"),
    "state": st.sampled_from(["open", "claimed", "snoozed", "closed", "held"]),
    "priority": st.floats(0, 100), "opened_at": st.sampled_from(["2026-12-05T10:00:00.000Z", "2026-12-05T10:01:00.000Z"]),
    "outreach": st.booleans(), "do_not_contact": st.booleans(),
    "identifiers": st.sampled_from([{}, {"phone": "+12025550143"}])})


IDS = st.sets(st.text("abcdef0123456789", min_size=4, max_size=8).map(lambda s: f"wi_{s}"))


@given(st.lists(ITEM, max_size=12), IDS, IDS)
def test_next_item_is_the_top_open_reachable_item_on_the_list(items, skip, listed):
    listed |= {i["work_item_id"] for i in items[::2]}  # half the items on the list, some ids of none
    eligible = [i for i in items if i["state"] == "open" and i["outreach"] and not i["do_not_contact"]
                and i["identifiers"] and i["work_item_id"] in listed and i["work_item_id"] not in skip]
    got = next_item(items, skip, listed)
    if not eligible:
        assert got is None
    else:
        assert got in eligible and got["priority"] == max(i["priority"] for i in eligible)


def test_the_demo_profile_lets_every_rule_fire_in_the_first_minute():
    demo, production = load_rules(packaged("rules-demo.toml")), load_rules()
    assert demo.names == list(RULES)
    for rule in RULES:
        p = demo.params(rule, "", "")
        if hasattr(p, "open_seconds"):
            assert p.open_seconds <= 60 < production.params(rule, "", "").open_seconds, rule
    assert demo.params("repeat_contact", "", "").contacts == 2 and demo.params("channel_hopping", "", "").channels == 2
    assert demo.calendar is None  # a demo at night alerts too
    assert demo.outreach.default_team == TEAM and demo.outreach.contact.quiet_start == demo.outreach.contact.quiet_end
