"""Proactive outreach on a real broker: the team's actions, published by `cxpulse alerts claim|...`,
are accepted like any event and reach the customer the alert names."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.integration.pipeline import wait_until
from tests.integration.test_alerts import alerts_on_topic, cloudevent, event_clock_pipeline

pytestmark = pytest.mark.integration

ACTIONS = [("claim",), ("snooze", "--until", "2030-01-01T00:00:00Z"), ("release",), ("claim",),
           ("attempt", "--outcome", "no_answer"), ("attempt", "--outcome", "reached"), ("done", "--outcome", "resolved")]


def test_every_action_is_published_accepted_and_stitched_to_the_alerts_customer(kafka_bootstrap, tmp_path):
    pipeline = event_clock_pipeline(kafka_bootstrap, tmp_path)
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    try:
        pipeline.start_worker()
        pipeline.send(cloudevent(1, base, "waiting", 0, "cx.contact.queued", "voice", "q1", {}))
        pipeline.send(cloudevent(2, base, "clock", 100, "cx.page.viewed", "web", "", {}))
        pipeline.flush()
        alert = alerts_on_topic(pipeline, 1)[0]
        for n, (verb, *extra) in enumerate(ACTIONS):
            at = (base + dt.timedelta(seconds=200 + n)).isoformat().replace("+00:00", "Z")
            done = pipeline.cli("alerts", verb, alert["alert_id"], "--agent", "agent-7", "--team", "outreach-1",
                                "--at", at, *extra)
            published = json.loads(done.stdout)
            assert published["data"]["attributes"]["alert_id"] == alert["alert_id"]
        unknown = pipeline.cli("alerts", "claim", "al_nope", "--agent", "a", "--team", "t", check=False)
        assert unknown.returncode == 1 and "no alert 'al_nope'" in unknown.stderr and unknown.stdout == ""
        bad = pipeline.cli("alerts", "attempt", alert["alert_id"], "--outcome", "maybe", "--agent", "a",
                           "--team", "t", check=False)
        assert bad.returncode == 2 and "--outcome must be one of" in bad.stderr
        pipeline.wait_stored(events=2 + len(ACTIONS), dead_letters=0)
        pipeline.wait_drained(timeout=120)
        assert pipeline.stop_worker() == 0
        rows = pipeline.query("SELECT type, customer, agent_id, JSONExtractString(attributes, 'outcome') AS outcome "
                              "FROM cx.events_resolved WHERE type LIKE 'cx.outreach.%' ORDER BY event_time")
        assert [r["type"].removeprefix("cx.outreach.") for r in rows] == \
            ["claimed", "snoozed", "released", "claimed", "attempted", "attempted", "completed"]
        assert {r["customer"] for r in rows} == {alert["customer_id"]}
        assert [r["outcome"] for r in rows if r["outcome"]] == ["no_answer", "reached", "resolved"]
        assert pipeline.scalar("SELECT count() FROM cx.dead_letters") == 0
    finally:
        pipeline.close()
