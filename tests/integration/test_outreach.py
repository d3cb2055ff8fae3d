"""Proactive outreach on a real broker: the team's actions, published by `cxpulse alerts claim|...`,
are accepted like any event, reach the customer the alert names, and move the customer's work item
through every transition; two simultaneous claims, one winner; replays give the same items."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

import jsonschema
import pytest
from kafka import KafkaConsumer

from streams.domain.contract import schemas_dir
from streams.domain.detect.lifecycle import alert_id
from streams.domain.identity_graph import canonical_id
from streams.domain.outreach.actions import action_event
from tests.integration.pipeline import Pipeline, wait_until
from tests.integration.test_alerts import (
    RULES,
    alerts_on_topic,
    cloudevent,
    event_clock_pipeline,
    replayed,
    scaled,
)

pytestmark = pytest.mark.integration
SCHEMA = json.loads((schemas_dir() / "work_items" / "v1" / "work_item.schema.json").read_text())


def work_items_on_topic(pipeline: Pipeline, settle: float = 2.0) -> list[dict]:
    consumer = KafkaConsumer(pipeline.env["CXPULSE_KAFKA_WORK_ITEMS_TOPIC"], bootstrap_servers=pipeline.bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000)
    try:
        time.sleep(settle)
        return [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()


def at(base: dt.datetime, seconds: float) -> str:
    return (base + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def act(pipeline, base, verb, item, agent, seconds, *extra, check=True):
    done = pipeline.cli("alerts", verb, item, "--agent", agent, "--team", "outreach-1", "--at", at(base, seconds),
                        "--wait", "60", *extra, check=False)
    assert not check or done.returncode == 0, done.stderr[-2000:]
    return done


def test_every_transition_on_a_real_broker_and_one_winner_of_two_simultaneous_claims(kafka_bootstrap, tmp_path):
    pipeline = event_clock_pipeline(kafka_bootstrap, tmp_path, RULES + "[outreach]\nclaim_expire_seconds = 60\n")
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    try:
        pipeline.start_worker()
        pipeline.send(cloudevent(1, base, "waiting", 0, "cx.contact.queued", "voice", "q1", {}))
        pipeline.send(cloudevent(2, base, "clock", 130, "cx.page.viewed", "web", "", {}))  # open at 60, escalated at 120
        pipeline.flush()
        alert = alerts_on_topic(pipeline, 2)[0]
        claimed = json.loads(act(pipeline, base, "claim", alert["alert_id"], "ann", 200).stdout)
        item = claimed["work_item_id"]
        assert (claimed["state"], claimed["holder"], claimed["escalated"]) == ("claimed", "ann", True)
        refused = act(pipeline, base, "claim", item, "bob", 201, check=False)
        assert refused.returncode == 1 and "claim refused: held by ann (outreach-1) since" in refused.stderr
        assert json.loads(refused.stdout)["holder"] == "ann"
        assert json.loads(act(pipeline, base, "release", item, "ann", 202).stdout)["state"] == "open"
        snoozed = json.loads(act(pipeline, base, "snooze", item, "ann", 203, "--until", at(base, 250)).stdout)
        assert (snoozed["state"], snoozed["snoozed_until"]) == ("snoozed", at(base, 250))
        assert json.loads(act(pipeline, base, "claim", item, "bob", 260).stdout)["holder"] == "bob"  # woke at 250
        pipeline.send(cloudevent(3, base, "clock", 330, "cx.page.viewed", "web", "", {}))  # bob's claim expires at 320
        pipeline.flush()
        # two agents claim at the same moment: exactly one wins, the loser is told who holds it
        racers = [subprocess.Popen([sys.executable, "-m", "streams.cli", "alerts", "claim", item, "--agent", who,
                                    "--team", "outreach-1", "--at", at(base, 400), "--wait", "60"], env=pipeline.env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in ("ann", "carl")]
        results = [(r.wait(120), *r.communicate()) for r in racers]
        codes = sorted(code for code, _, _ in results)
        winner = next(who for who, (code, _, _) in zip(("ann", "carl"), results) if code == 0)
        loser_err = next(err for code, _, err in results if code == 1)
        print(f"simultaneous claims: exit codes {codes}, winner {winner}; loser told: {loser_err.strip().splitlines()[-1]}")
        assert codes == [0, 1] and f"held by {winner}" in loser_err
        act(pipeline, base, "attempt", item, winner, 401, "--outcome", "no_answer")
        act(pipeline, base, "attempt", item, winner, 402, "--outcome", "reached")
        done = json.loads(act(pipeline, base, "done", item, winner, 403, "--outcome", "resolved").stdout)
        assert (done["state"], done["resolution"], done["attempts"]) == ("closed", "resolved", 2)
        records = work_items_on_topic(pipeline)
        for r in records:
            jsonschema.validate(r, SCHEMA, format_checker=jsonschema.FormatChecker())
        states = [(r["version"], r["state"], r["holder"], (r["action"] or {}).get("kind", "timer"),
                   (r["action"] or {}).get("accepted")) for r in records]
        print("work item versions:", states)
        assert [s[1] for s in states] == ["open", "open", "claimed", "claimed", "open", "snoozed", "open", "claimed",
                                          "open", "claimed", "claimed", "claimed", "claimed", "closed"]
        expired = records[8]
        assert (expired["expired_claims"], expired["escalated"], expired["changed_at"]) == (1, True, at(base, 320))
        pipeline.wait_drained(timeout=120)
        assert pipeline.stop_worker() == 0
        final = pipeline.query("SELECT state, resolution, attempts, holder FROM cx.work_items_current")
        assert final == [{"state": "closed", "resolution": "resolved", "attempts": 2, "holder": winner}]
        assert pipeline.query("SELECT state, resolution FROM cx.alerts_current") == \
            [{"state": "resolved", "resolution": "outreach"}]
        assert pipeline.scalar("SELECT count() FROM cx.work_items FINAL") == len(records)
        assert pipeline.scalar("SELECT count() FROM cx.dead_letters") == 0
        assert pipeline.query("SELECT count() AS n FROM cx.work_list") == [{"n": 0}]
    finally:
        pipeline.close()


@pytest.mark.same_on_any_broker(reason="the event clock makes work items independent of replay speed; "
                                       "the transitions test runs on both brokers")
def test_replays_at_1x_and_1000x_give_the_same_work_items(kafka_bootstrap, tmp_path):
    """Alerts and every action, 20 times compressed, replayed from one file at two speeds."""
    scale = 20.0
    fast = scaled(RULES + "[outreach]\nclaim_expire_seconds = 60\n", scale)
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    t0 = base.timestamp()
    events = [cloudevent(1, base, "waiting", 0, "cx.contact.queued", "voice", "q1", {}),
              cloudevent(2, base, "hold", 0, "cx.contact.answered", "voice", "h1", {}),
              cloudevent(3, base, "hold", 10 / scale, "cx.contact.hold", "voice", "h1", {})]
    events += [cloudevent(1000 + s, base, "clock", s / scale, "cx.page.viewed", "web", "", {}) for s in range(0, 601, 25)]
    queue_alert = {"alert_id": alert_id(canonical_id("email:waiting@alerts.example"), "long_queue_wait", "q1", t0),
                   "identifiers": {"email": "waiting@alerts.example"}}
    hold_alert = {"alert_id": alert_id(canonical_id("email:hold@alerts.example"), "long_hold", "h1", t0 + 10 / scale),
                  "identifiers": {"email": "hold@alerts.example"}}
    script = [(queue_alert, "claim", "ann", 200, {}), (queue_alert, "claim", "bob", 201, {}),
              (queue_alert, "release", "ann", 202, {}), (queue_alert, "snooze", "ann", 203, {"until": t0 + 250 / scale}),
              (queue_alert, "claim", "bob", 260, {}), (queue_alert, "claim", "carl", 400, {}),
              (queue_alert, "attempt", "carl", 401, {"outcome": "no_answer"}),
              (queue_alert, "attempt", "carl", 402, {"outcome": "reached"}),
              (queue_alert, "done", "carl", 403, {"outcome": "resolved"}),
              (hold_alert, "claim", "dan", 150, {}), (hold_alert, "attempt", "dan", 160, {"outcome": "voicemail"})]
    for n, (target, verb, agent, seconds, extra) in enumerate(script):
        events.append(action_event(verb, target, agent=agent, team="outreach-1", channel="voice",
                                   at=t0 + seconds / scale, event_id=f"act-{n}", **extra))
    recorded = tmp_path / "recorded.jsonl"
    recorded.write_text("".join(json.dumps(e) + "\n" for e in sorted(events, key=lambda e: e["id"])))
    items, took = {}, {}
    for speed in ("1", "1000"):
        with replayed(kafka_bootstrap, tmp_path / f"x{speed}", fast, recorded, speed) as (pipeline, took[speed]):
            wait_until(lambda: any(r["state"] == "closed" and r["resolution"] == "resolved"
                                   for r in work_items_on_topic(pipeline, 0)), 60, "the queue item completed")
            items[speed] = [(r["work_item_id"], r["version"], r["state"], r["holder"], r["changed_at"],
                             json.dumps(r["action"]), r["expired_claims"], r["resolution"])
                            for r in work_items_on_topic(pipeline)]
    print(f"replay: {len(items['1'])} work item versions at each speed; wall seconds {took}")
    assert sorted(items["1"]) == sorted(items["1000"])
    assert {s for *_, s in items["1"]} >= {"resolved"} and any(x[6] for x in items["1"])  # a claim expired
    assert took["1"] > 25 > took["1000"] + 5
