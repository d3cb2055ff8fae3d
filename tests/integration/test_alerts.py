"""Proactive alerts end to end on a real broker: every rule fires at its threshold (not before),
escalates, and resolves when the customer is served; a do-not-contact customer is never sent to
outreach."""

from __future__ import annotations

import datetime as dt
import json
import time
from contextlib import contextmanager

import jsonschema
import pytest
from kafka import KafkaConsumer

from streams.domain.contract import schemas_dir
from tests.integration.pipeline import Pipeline, wait_until
from tests.integration.webhooks import Receiver, fail_first

pytestmark = pytest.mark.integration

RULES = """
[long_queue_wait]
open_seconds = 60
escalate_seconds = 120
cooldown_seconds = 0
[unanswered_message]
open_seconds = 60
escalate_seconds = 120
business_hours = 0
[abandoned_without_callback]
open_seconds = 60
escalate_seconds = 120
[stuck_journey]
open_seconds = 60
escalate_seconds = 120
[repeat_contact]
window_seconds = 3600
expire_seconds = 600
[channel_hopping]
window_seconds = 3600
expire_seconds = 600
[negative_survey]
expire_seconds = 600
[long_hold]
open_seconds = 60
escalate_seconds = 120
"""

# (customer, seconds after the start, type, channel, contact, extra data)
SCENARIO = [
    ("queue", 0, "cx.contact.queued", "voice", "q1", {}),
    ("queue", 150, "cx.contact.answered", "voice", "q1", {}),
    ("sms", 0, "cx.contact.message", "sms", "s1", {"attributes": {"author": "customer"}}),
    ("sms", 150, "cx.contact.message", "sms", "s1", {"attributes": {"author": "agent"}}),
    ("abandon", 0, "cx.contact.queued", "voice", "a1", {}),
    ("abandon", 30, "cx.contact.abandoned", "voice", "a1", {}),
    ("abandon", 170, "cx.callback.completed", "voice", "a1", {}),
    ("journey", 0, "cx.journey.step", "web", "", {"attributes": {"journey": "checkout", "step": "payment", "status": "entered"}}),
    ("journey", 150, "cx.journey.step", "web", "", {"attributes": {"journey": "checkout", "step": "payment", "status": "completed"}}),
    ("repeat", 0, "cx.contact.started", "email", "r1", {}),
    ("repeat", 10, "cx.contact.started", "email", "r2", {}),
    ("repeat", 20, "cx.contact.started", "email", "r3", {}),
    ("repeat", 100, "cx.contact.ended", "email", "r3", {"attributes": {"resolution": "resolved"}}),
    ("hopper", 0, "cx.contact.started", "chat", "h1", {}),
    ("hopper", 10, "cx.contact.started", "email", "h2", {}),
    ("hopper", 20, "cx.contact.started", "whatsapp", "h3", {}),
    ("hopper", 100, "cx.contact.ended", "whatsapp", "h3", {"attributes": {"resolution": "resolved"}}),
    ("survey", 0, "cx.survey.responded", "survey", "", {"attributes": {"csat": 1}}),
    ("survey", 50, "cx.contact.answered", "chat", "v1", {}),
    ("hold", 0, "cx.contact.answered", "voice", "o1", {}),
    ("hold", 10, "cx.contact.hold", "voice", "o1", {}),
    ("hold", 150, "cx.contact.resumed", "voice", "o1", {}),
    ("dnc", 0, "cx.contact.queued", "voice", "d1", {"attributes": {"do_not_contact": True}}),
]
# customer -> (rule, state, seconds after the start)
EXPECTED = {
    "queue": [("long_queue_wait", "open", 60), ("long_queue_wait", "escalated", 120), ("long_queue_wait", "resolved", 150)],
    "sms": [("unanswered_message", "open", 60), ("unanswered_message", "escalated", 120), ("unanswered_message", "resolved", 150)],
    "abandon": [("abandoned_without_callback", "open", 90), ("abandoned_without_callback", "escalated", 150),
                ("abandoned_without_callback", "resolved", 170)],
    "journey": [("stuck_journey", "open", 60), ("stuck_journey", "escalated", 120), ("stuck_journey", "resolved", 150)],
    "repeat": [("repeat_contact", "open", 20), ("repeat_contact", "resolved", 100)],
    "hopper": [("repeat_contact", "open", 20), ("channel_hopping", "open", 20),
               ("repeat_contact", "resolved", 100), ("channel_hopping", "resolved", 100)],
    "survey": [("negative_survey", "open", 0), ("negative_survey", "resolved", 50)],
    "hold": [("long_hold", "open", 70), ("long_hold", "escalated", 130), ("long_hold", "resolved", 150)],
    "dnc": [("long_queue_wait", "open", 60), ("long_queue_wait", "escalated", 120)],
}
SCHEMA = json.loads((schemas_dir() / "alerts" / "v1" / "alert.schema.json").read_text())


def cloudevent(i: int, base: dt.datetime, customer: str, offset: float, type_: str, channel: str, contact: str, extra: dict):
    when = base + dt.timedelta(seconds=offset)
    data = {"channel": channel, "customer": {"email": f"{customer}@alerts.example"}, **extra}
    if contact:
        data["contact_id"] = contact
    return {"specversion": "1.0", "id": f"al-{i}", "source": f"/alerts/{channel}", "type": type_,
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "data": data}


def alerts_on_topic(pipeline: Pipeline, want: int, timeout: float = 90) -> list[dict]:
    consumer = KafkaConsumer(pipeline.env["CXPULSE_KAFKA_ALERTS_TOPIC"], bootstrap_servers=pipeline.bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=1000)
    seen: list[dict] = []
    try:
        wait_until(lambda: seen.extend(json.loads(m.value) for m in consumer) or len(seen) >= want, timeout,
                   lambda: f"{want} alert changes on the topic (have {len(seen)})")
        time.sleep(2)
        seen.extend(json.loads(m.value) for m in consumer)
    finally:
        consumer.close()
    return seen


def scenario_events(base: dt.datetime) -> list[dict]:
    events = [cloudevent(i, base, *step) for i, step in enumerate(sorted(SCENARIO, key=lambda s: s[1]))]
    # a customer browsing moves event time on (event clock: nothing else does)
    events += [cloudevent(1000 + s, base, "clock", s, "cx.page.viewed", "web", "", {}) for s in range(0, 401, 25)]
    return sorted(events, key=lambda e: e["time"])


def event_clock_pipeline(kafka_bootstrap, tmp_path, rules_text: str = RULES) -> Pipeline:
    """One partition, time moved by events only, no lateness: what replays at any speed need."""
    rules = tmp_path / "rules.toml"
    rules.write_text(rules_text)
    pipeline = Pipeline(kafka_bootstrap, tmp_path, partitions=1)
    pipeline.env |= {"CXPULSE_DETECT_RULES_FILE": str(rules), "CXPULSE_DETECT_CLOCK": "event",
                     "CXPULSE_DETECT_ALLOWED_LATENESS_SECONDS": "0"}
    return pipeline


def by_customer(records: list[dict], base: dt.datetime) -> dict[str, list]:
    got: dict[str, list] = {}
    for r in records:
        who = "dnc" if r["do_not_contact"] else r["identifiers"]["email"].split("@")[0]
        at = (dt.datetime.fromisoformat(r["changed_at"]) - base).total_seconds()
        got.setdefault(who, []).append((r["rule"], r["state"], round(at)))
    return {k: sorted(v, key=lambda x: (x[2], x[0])) for k, v in got.items()}


def publish_scenario(pipeline: Pipeline, base: dt.datetime) -> None:
    """Start the worker and publish the whole scenario."""
    pipeline.start_worker()
    for e in scenario_events(base):
        pipeline.send(e)
    pipeline.flush()


WANT = {k: sorted(v, key=lambda x: (x[2], x[0])) for k, v in EXPECTED.items()}
N_CHANGES = sum(len(v) for v in EXPECTED.values())


@pytest.mark.same_on_any_broker(reason="rule thresholds, escalation and resolution are the detect stage's logic; "
                                       "one worker, no restart")
def test_every_rule_fires_at_its_threshold_escalates_and_resolves_when_served(kafka_bootstrap, tmp_path):
    pipeline = event_clock_pipeline(kafka_bootstrap, tmp_path)
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    try:
        publish_scenario(pipeline, base)
        records = alerts_on_topic(pipeline, N_CHANGES)
        for r in records:
            jsonschema.validate(r, SCHEMA, format_checker=jsonschema.FormatChecker())
        assert by_customer(records, base) == WANT
        dnc = [r for r in records if r["do_not_contact"]]
        assert dnc and all(r["outreach"] is False and r["identifiers"] == {} for r in dnc)
        ids = {}
        for r in records:  # one alert id per incident, versions counting up
            ids.setdefault(r["alert_id"], []).append(r["version"])
        assert all(v == list(range(1, len(v) + 1)) for v in ids.values())
        pipeline.wait_drained(timeout=120)
        assert pipeline.stop_worker() == 0
        assert pipeline.scalar("SELECT count() FROM cx.alerts FINAL") == N_CHANGES
        open_now = pipeline.query("SELECT rule, state, outreach FROM cx.open_alerts")
        assert open_now == [{"rule": "long_queue_wait", "state": "escalated", "outreach": False}]
    finally:
        pipeline.close()


@pytest.mark.parametrize("kill_after", [3, 8])
def test_kill_9_with_alerts_open_loses_none_and_duplicates_none(kafka_bootstrap, tmp_path, kill_after):
    pipeline = event_clock_pipeline(kafka_bootstrap, tmp_path)
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    events = scenario_events(base)
    half = len(events) // 2
    try:
        pipeline.start_worker()
        for e in events[:half]:
            pipeline.send(e)
        pipeline.flush()
        alerts_on_topic(pipeline, kill_after)
        pipeline.kill_worker()  # SIGKILL while alerts are open, no final commit
        for e in events[half:]:
            pipeline.send(e)
        pipeline.flush()
        pipeline.start_worker()
        records = alerts_on_topic(pipeline, N_CHANGES)
        changes = [(r["alert_id"], r["state"]) for r in records]
        print(f"kill -9 after {kill_after} alert changes: {len(records)} on cx.alerts, {len(set(changes))} distinct")
        assert len(changes) == len(set(changes)), "duplicate alert changes on cx.alerts"
        assert by_customer(records, base) == WANT, "alert changes lost or wrong"
    finally:
        pipeline.close()


def test_live_clock_fires_for_a_customer_waiting_alone(kafka_bootstrap, tmp_path):
    """Nothing else happens on the partition: the wall clock still moves the watermark."""
    rules = tmp_path / "rules.toml"
    rules.write_text("[long_queue_wait]\nopen_seconds = 3\nescalate_seconds = 6\n")
    pipeline = Pipeline(kafka_bootstrap, tmp_path, partitions=1)
    pipeline.env |= {"CXPULSE_DETECT_RULES_FILE": str(rules), "CXPULSE_DETECT_ALLOWED_LATENESS_SECONDS": "1"}
    try:
        pipeline.start_worker()
        now = dt.datetime.now(dt.UTC)
        pipeline.send(cloudevent(1, now, "alone", 0, "cx.contact.queued", "voice", "w1", {}))
        pipeline.flush()
        records = alerts_on_topic(pipeline, 2, timeout=60)
        states = [(r["rule"], r["state"]) for r in records]
        assert states[:2] == [("long_queue_wait", "open"), ("long_queue_wait", "escalated")]
        lag = (dt.datetime.fromisoformat(records[0]["detected_at"]) - dt.datetime.fromisoformat(records[0]["threshold_at"]))
        assert 0 <= lag.total_seconds() < 5, lag  # 1 s lateness + a 0.5 s tick + processing on a loaded machine
    finally:
        pipeline.close()


def test_a_busy_partition_fires_due_alerts_without_waiting_for_a_tick(kafka_bootstrap, tmp_path):
    """Ticks an hour apart: a customer waiting on a partition where others' events flow is alerted
    by those events' messages, within the lateness and a batch of the threshold."""
    rules = tmp_path / "rules.toml"
    rules.write_text("[long_queue_wait]\nopen_seconds = 3\nescalate_seconds = 600\n")
    pipeline = Pipeline(kafka_bootstrap, tmp_path, partitions=1)
    pipeline.env |= {"CXPULSE_DETECT_RULES_FILE": str(rules), "CXPULSE_DETECT_ALLOWED_LATENESS_SECONDS": "0.5",
                     "CXPULSE_DETECT_TICK_SECONDS": "3600"}
    try:
        pipeline.start_worker()
        pipeline.send(cloudevent(1, dt.datetime.now(dt.UTC), "waiting", 0, "cx.contact.queued", "voice", "b1", {}))
        for i in range(2, 40):  # someone browsing, an event every 0.25 s
            time.sleep(0.25)
            pipeline.send(cloudevent(i, dt.datetime.now(dt.UTC), "browsing", 0, "cx.page.viewed", "web", "", {}))
            pipeline.flush()
        records = alerts_on_topic(pipeline, 1, timeout=30)
        assert [(r["rule"], r["state"]) for r in records] == [("long_queue_wait", "open")]
        lag = (dt.datetime.fromisoformat(records[0]["detected_at"]) - dt.datetime.fromisoformat(records[0]["threshold_at"]))
        assert 0.5 <= lag.total_seconds() < 3, lag  # the lateness, then the next browsing event's trip (0.25 s apart)
    finally:
        pipeline.close()


@pytest.mark.same_on_any_broker(reason="webhook retries and signatures are the delivery loop's; "
                                       "one worker, no restart")
def test_a_webhook_failing_three_times_gets_each_alert_once_signed(kafka_bootstrap, tmp_path):
    from streams.stages.delivery import verify

    receiver = Receiver(fail_first(3))
    pipeline = event_clock_pipeline(kafka_bootstrap, tmp_path)
    pipeline.env |= {"CXPULSE_WEBHOOK_URLS": receiver.url, "CXPULSE_WEBHOOK_SECRET": "s3cret",
                     "CXPULSE_WEBHOOK_RETRY_INITIAL_SECONDS": "0.2"}
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    try:
        publish_scenario(pipeline, base)
        records = alerts_on_topic(pipeline, N_CHANGES)
        outreach = {f"{r['alert_id']}:{r['version']}" for r in records if r["outreach"]}
        wait_until(lambda: len(receiver.accepted) >= len(outreach), 60,
                   lambda: f"{len(outreach)} deliveries (have {len(receiver.accepted)})")
        time.sleep(1)
        delivered = [h["X-Cxpulse-Delivery"] for h, _ in receiver.accepted]
        print(f"webhook: {len(receiver.calls)} calls, {len(delivered)} accepted, {len(outreach)} outreach alert changes")
        assert sorted(delivered) == sorted(outreach), "each outreach alert change exactly once, none for do-not-contact"
        assert len(receiver.calls) == len(outreach) + 3
        assert all(verify(b"s3cret", h["X-Cxpulse-Timestamp"], body, h["X-Cxpulse-Signature"]) for h, body in receiver.accepted)
        assert not verify(b"wrong", receiver.accepted[0][0]["X-Cxpulse-Timestamp"], receiver.accepted[0][1],
                          receiver.accepted[0][0]["X-Cxpulse-Signature"])
        assert pipeline.metrics_text().count('cxpulse_webhook_deliveries_total{result="retried"} 3.0') == 1
    finally:
        pipeline.close()
        receiver.close()


@pytest.mark.same_on_any_broker(reason="giving up after max attempts is the delivery loop's; "
                                       "one worker, no restart")
def test_a_webhook_that_keeps_failing_sends_the_alert_to_the_undelivered_topic(kafka_bootstrap, tmp_path):
    receiver = Receiver(lambda call, since_first: 500)
    pipeline = event_clock_pipeline(kafka_bootstrap, tmp_path)
    pipeline.env |= {"CXPULSE_WEBHOOK_URLS": receiver.url, "CXPULSE_WEBHOOK_SECRET": "s3cret",
                     "CXPULSE_WEBHOOK_RETRY_INITIAL_SECONDS": "0.05", "CXPULSE_WEBHOOK_MAX_ATTEMPTS": "2"}
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    try:
        publish_scenario(pipeline, base)
        records = alerts_on_topic(pipeline, N_CHANGES)
        outreach = {r["alert_id"] for r in records if r["outreach"]}
        pipeline.wait_stored(events=1, dead_letters=sum(r["outreach"] for r in records), timeout=90)
        pipeline.wait_drained(timeout=120)
        assert pipeline.stop_worker() == 0
        rows = pipeline.query("SELECT reason, stage, event_id FROM cx.dead_letters FINAL")
        assert {r["event_id"] for r in rows} == outreach
        assert {(r["reason"], r["stage"]) for r in rows} == {("webhook_failed", "webhook")}
        assert len(receiver.calls) == 2 * len(rows)  # max_attempts each
    finally:
        pipeline.close()
        receiver.close()


@pytest.mark.same_on_any_broker(reason="the event clock makes alerts independent of replay speed; "
                                       "one worker per speed, no restart")
def test_replays_at_1x_10x_and_1000x_raise_the_same_alerts(kafka_bootstrap, tmp_path):
    """The recorded scenario, 20 times compressed (20 s of event time), with thresholds to match."""
    scale = 20.0
    fast = scaled(RULES, scale)
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
    recorded = tmp_path / "recorded.jsonl"
    events = [cloudevent(i, base, who, t / scale, type_, ch, contact, extra)
              for i, (who, t, type_, ch, contact, extra) in enumerate(SCENARIO)]
    events += [cloudevent(1000 + s, base, "clock", s / scale, "cx.page.viewed", "web", "", {}) for s in range(0, 401, 25)]
    random_order = sorted(events, key=lambda e: e["id"])  # the file need not be in time order
    recorded.write_text("".join(json.dumps(e) + "\n" for e in random_order))
    alert_sets, took = {}, {}
    for speed in ("1", "10", "1000"):
        with replayed(kafka_bootstrap, tmp_path / f"x{speed}", fast, recorded, speed) as (pipeline, took[speed]):
            records = alerts_on_topic(pipeline, N_CHANGES)
            alert_sets[speed] = {(r["alert_id"], r["rule"], r["state"]) for r in records}
            shown = [json.loads(line) for line in pipeline.cli("alerts", "--format", "json").stdout.splitlines()]
            assert [(a["rule"], a["state"]) for a in shown] == [("long_queue_wait", "escalated")]  # the do-not-contact one
    print(f"replay: {len(alert_sets['1'])} alert changes at each speed; wall seconds {took}")
    assert len(alert_sets["1"]) == N_CHANGES
    assert alert_sets["1"] == alert_sets["10"] == alert_sets["1000"]
    assert took["1"] > 15 > took["1000"] + 5


@contextmanager
def replayed(kafka_bootstrap, workdir, rules_text: str, recorded, speed: str):
    """A fresh event-clock pipeline that replayed the `recorded` file at `speed`: (pipeline, wall seconds taken)."""
    workdir.mkdir()
    pipeline = event_clock_pipeline(kafka_bootstrap, workdir, rules_text)
    try:
        pipeline.start_worker()
        started = time.monotonic()
        pipeline.cli("replay", str(recorded), "--speed", speed)
        yield pipeline, time.monotonic() - started
    finally:
        pipeline.close()


def scaled(rules_text: str, scale: float) -> str:
    """The rules with every *_seconds threshold divided by `scale` (a compressed replay)."""
    return "\n".join(f"{k} = {float(v) / scale}" if k.endswith("_seconds") else line
                     for line in rules_text.splitlines() for k, _, v in [line.partition(" = ")])
