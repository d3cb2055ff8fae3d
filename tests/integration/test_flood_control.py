"""Flood control on a real broker: an hour of simulated traffic against a team of capacity 20 an hour.

Event-clock pipeline (time moves with the events), fed in 5-minute slices of event time; after each
slice a simulated team works every item newly on its list (claim, attempt, complete, a few seconds
of event time after the slice). The team's list is read back from the dispatch topic, the items
from cx.work_items, and at the end every alert is accounted for in the warehouse."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from streams.domain.outreach.actions import ActionError, action_event
from streams.simulator import generate
from tests.integration.test_alerts import cloudevent, event_clock_pipeline

pytestmark = pytest.mark.integration
PACKAGED = Path(__file__).resolve().parents[2] / "config" / "rules.toml"
RATE, HOUR, SLICE, CAPACITY = 20.0, 3600, 300, 20
WORKED = ("resolved", "callback_scheduled", "not_needed")


class Topic:
    """New records of a topic since the last read."""

    def __init__(self, pipeline, env_key: str) -> None:
        self.consumer = KafkaConsumer(pipeline.env[env_key], bootstrap_servers=pipeline.bootstrap,
                                      auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1500)

    def read(self) -> list[dict]:
        return [json.loads(m.value) for m in self.consumer]


def daytime_base(now: dt.datetime) -> dt.datetime:
    """The latest 18:00 UTC at least 3 h before `now`: the hour of traffic after it is daytime in UTC
    and in every US zone of the simulator's phones, so the packaged quiet hours (21:00-08:00 local)
    hold nothing back. `now - 3 h` held every item whenever that hour was night in all of them (a CI
    run at 08:10 UTC: 1,695 items held for quiet hours, none offered, the flood never reached the list)."""
    base = now.replace(hour=18, minute=0, second=0, microsecond=0)
    return base if now - base >= dt.timedelta(hours=3) else base - dt.timedelta(days=1)


def test_an_hour_of_traffic_keeps_the_list_to_capacity_and_accounts_for_every_alert(kafka_bootstrap, tmp_path):
    pipeline = event_clock_pipeline(kafka_bootstrap, tmp_path, PACKAGED.read_text())  # capacity_per_hour = 20
    base = daytime_base(dt.datetime.now(dt.UTC))
    emissions = list(itertools.takewhile(lambda e: e.at < HOUR, generate(seed=11, start=base, rate=RATE)))
    started = time.monotonic()
    items: dict[str, dict] = {}      # newest version of each work item
    decisions: list[dict] = []
    worked: set[str] = set()
    try:
        pipeline.start_worker()
        work_items, dispatch = Topic(pipeline, "CXPULSE_KAFKA_WORK_ITEMS_TOPIC"), Topic(pipeline, "CXPULSE_KAFKA_DISPATCH_TOPIC")

        def catch_up() -> None:
            """Wait until every stage has read all that was sent; take the new items and decisions."""
            pipeline.flush()
            pipeline.wait_drained(timeout=300)
            for r in work_items.read():
                if r["version"] > items.get(r["work_item_id"], {"version": 0})["version"]:
                    items[r["work_item_id"]] = r
            decisions.extend(dispatch.read())

        pending = iter(emissions)
        nxt = next(pending, None)
        for end in range(SLICE, HOUR + SLICE, SLICE):
            while nxt is not None and nxt.at < end:
                pipeline.send(nxt.value, key=nxt.key, headers=nxt.headers)
                nxt = next(pending, None)
            catch_up()
            # the team works what is on its list: claim, reach, resolve, just after this slice
            at = base.timestamp() + end
            for d in decisions:
                item = items[d["work_item_id"]]
                if d["status"] != "listed" or d["work_item_id"] in worked or item["state"] == "closed":
                    continue
                worked.add(d["work_item_id"])
                try:
                    for n, (verb, outcome) in enumerate((("claim", None), ("attempt", "reached"), ("done", "resolved"))):
                        pipeline.send(action_event(verb, item, agent="ann", team="outreach", channel="voice",
                                                   at=at + 1 + n, outcome=outcome, event_id=f"{item['work_item_id']}-{verb}"))
                except ActionError:  # do-not-contact (never listed) or no identifier
                    worked.discard(d["work_item_id"])
        pipeline.send(cloudevent(1, base, "clock", HOUR + 60, "cx.page.viewed", "web", "", {}))  # moves time past the last actions
        catch_up()
        took = time.monotonic() - started
        assert pipeline.stop_worker() == 0
        alerts = {r["alert_id"] for r in pipeline.query("SELECT alert_id FROM cx.alerts_current")}
        in_items = {a for r in pipeline.query("SELECT alert_ids FROM cx.work_items") for a in json.loads(r["alert_ids"])}
        places = {r["work_item_id"]: r["status"] for r in pipeline.query("SELECT work_item_id, status FROM cx.outreach_places")}
        final = {r["work_item_id"]: r for r in pipeline.query(
            "SELECT work_item_id, state, resolution, outreach, held_reason, expired_claims FROM cx.work_items_current")}
        work_list = pipeline.scalar("SELECT count() FROM cx.work_list")
        waiting_rows = pipeline.query("SELECT position FROM cx.outreach_waiting ORDER BY position")
    finally:
        pipeline.close()

    # the list, replayed from the dispatch topic in the team's decision order
    on_list, most, entered = set(), 0, []
    for d in sorted(decisions, key=lambda d: d["seq"]):
        if d["status"] == "listed":
            on_list.add(d["work_item_id"])
            entered.append(dt.datetime.fromisoformat(d["at"]).timestamp())
        else:
            on_list.discard(d["work_item_id"])
        most = max(most, len(on_list))
    busiest_hour = max((sum(t <= u < t + HOUR for u in entered) for t in entered), default=0)

    def fate(item_id: str) -> str:
        r = final[item_id]
        if r["state"] == "closed":
            return "worked" if r["resolution"] in WORKED else r["resolution"]  # self_resolved
        if not r["outreach"]:
            return "do_not_contact"
        if r["state"] == "held":
            return f"held ({r['held_reason']})"
        return places.get(item_id, "unplaced")

    fates = Counter(fate(i) for i in final)
    print(f"{len(emissions)} events over {HOUR} s of event time at {RATE:.0f} ev/s, team capacity {CAPACITY}/h; "
          f"{took:.0f} s wall")
    print(f"{len(alerts)} alerts in {len(final)} work items; items by fate: {dict(sorted(fates.items()))}")
    print(f"list: at most {most} items at once, at most {busiest_hour} entered in any hour, {len(entered)} entered in all; "
          f"the simulated team claimed {len(worked)}; {sum(r['expired_claims'] > 0 for r in final.values())} claims expired; "
          f"{len(waiting_rows)} waiting at the end (positions 1..{len(waiting_rows)}), cx.work_list {work_list}")
    assert len(alerts) > CAPACITY and fates.get("waiting", 0) > 0  # the flood is real: more than the team can take
    assert most <= CAPACITY and busiest_hour <= CAPACITY and work_list <= CAPACITY
    assert alerts <= in_items  # every alert belongs to a work item
    assert "unplaced" not in fates  # every offered item is on the list, waiting for it, or gone: none lost
    assert set(fates) <= {"worked", "self_resolved", "waiting", "listed", "do_not_contact"} | \
        {f"held ({r})" for r in ("quiet_hours", "daily_limit", "weekly_limit")}
    assert [r["position"] for r in waiting_rows] == list(range(1, fates["waiting"] + 1))
    assert 0 < fates["worked"] <= len(worked)  # the rest closed on their own before the team's claim reached them
