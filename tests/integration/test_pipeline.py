"""End to end on a real broker and a real ClickHouse engine (chDB, or a server when configured)."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import orjson
import pytest

from streams.warehouse import rollups
from tests.integration.pipeline import event

pytestmark = pytest.mark.integration


def test_same_events_published_twice_are_stored_once(pipeline):
    """10,000 events published twice -> exactly 10,000 rows; the second copies are dead-lettered as duplicates."""
    n = 10_000
    pipeline.start_worker()
    for _ in range(2):
        for i in range(n):
            pipeline.send(event(i), key=f"c-{i // 5}".encode())
        pipeline.flush()
    pipeline.wait_stored(events=n, dead_letters=n)
    stats = pipeline.metrics()
    assert stats.valid_by_channel == {"chat": n}
    assert stats.dead_by_reason == {"duplicate": n}
    assert pipeline.stop_worker() == 0
    assert pipeline.scalar("SELECT count() FROM cx.events") == n
    assert pipeline.scalar("SELECT count() FROM cx.events FINAL") == n
    assert pipeline.scalar("SELECT uniqExact(source, event_id) FROM cx.events") == n
    assert pipeline.scalar("SELECT countIf(reason = 'duplicate') FROM cx.dead_letters FINAL") == n


@pytest.mark.same_on_any_broker(reason="CloudEvents modes are the parser's; one worker, no restart")
def test_structured_and_binary_mode_store_the_same_event(pipeline):
    pipeline.start_worker()
    structured = event(1, channel="voice", source="/test/voice")
    structured["data"]["customer"] = {"phone": "(202) 555-0143"}
    binary = event(2, channel="voice", source="/test/voice")
    binary["data"]["customer"] = {"phone": "+1 202 555 0143"}
    pipeline.send(structured, headers=[("content-type", b"application/cloudevents+json")])
    headers = [(f"ce_{k}", str(v).encode()) for k, v in binary.items() if k not in ("data", "datacontenttype")]
    pipeline.send(orjson.dumps(binary["data"]), headers=headers + [("content-type", b"application/json")])
    pipeline.flush()
    pipeline.wait_stored(events=2, dead_letters=0, timeout=60)
    pipeline.stop_worker()
    rows = pipeline.query("SELECT event_id, mode, phone, channel FROM cx.events FINAL ORDER BY event_id")
    assert rows == [
        {"event_id": "ev-1", "mode": "structured", "phone": "+12025550143", "channel": "voice"},
        {"event_id": "ev-2", "mode": "binary", "phone": "+12025550143", "channel": "voice"},
    ]


def test_kill_9_mid_stream_loses_nothing_and_stores_each_event_once(pipeline):
    n = 20_000
    pipeline.start_worker()
    publisher_done = threading.Event()

    def publish():
        for i in range(n):
            pipeline.send(event(i, channel=random.choice(["chat", "sms", "email"])), key=f"c-{i // 5}".encode())
            if i % 1000 == 999:
                pipeline.flush()
                time.sleep(0.1)
        pipeline.flush()
        publisher_done.set()

    thread = threading.Thread(target=publish)
    thread.start()
    pipeline.wait_stored(events=4_000, dead_letters=0)
    pipeline.kill_worker()  # SIGKILL: no shutdown, no final commit
    thread.join()
    pipeline.start_worker()
    pipeline.wait_stored(events=1, dead_letters=0)
    # Commits must catch up promptly, not creep: a second crash would otherwise replay everything since.
    restarted = time.monotonic()
    pipeline.wait_drained(timeout=90)
    drained_after = time.monotonic() - restarted
    replayed = sum(float(line.rsplit(" ", 1)[1]) for line in pipeline.metrics_text().splitlines()
                   if line.startswith("cxpulse_replayed_rows_skipped_total{"))
    assert pipeline.stop_worker() == 0
    stored = pipeline.scalar("SELECT count() FROM cx.events FINAL")
    unique = pipeline.scalar("SELECT uniqExact(source, event_id) FROM cx.events")
    physical = pipeline.scalar("SELECT count() FROM cx.events")
    counted = pipeline.scalar("SELECT sum(events) FROM cx.customer_channels_daily")  # a view that counts inserts
    print(f"kill -9: published {n}, stored (FINAL) {stored}, unique {unique}, physical rows {physical}, "
          f"counted by the rollup {counted}, replayed rows left out after the restart {replayed:.0f}, "
          f"drained {drained_after:.0f} s after the restart")
    assert unique == n, "events lost"
    assert stored == n, "duplicate rows visible"
    # The rollups count each event once. As materialized views they missed the rows of an insert the kill
    # cut short (chDB committed the table's part before the views' parts): 17,956 of 20,000 in 1 run of 7;
    # rolled up from cx.events since 0019, they count what cx.events holds. Unguarded against replays
    # (e65283a): 26,251-29,933 in 3 runs.
    assert counted == n, "the rollup counted an event twice or not at all"


def test_events_emitted_again_after_a_kill_9_are_counted_once(pipeline):
    """The stages commit offsets only every 30 s here, so after the kill they emit again
    everything they had processed: every event reaches the sink a second time, after it was stored.
    cx.events collapses them; the views that count would count them again unless the sink leaves
    them out (streams.warehouse.replays). Killed between inserts: nothing was arriving any more."""
    first, second = 3_000, 1_000
    pipeline.env["CXPULSE_KAFKA_COMMIT_INTERVAL"] = "30"
    pipeline.start_worker()
    for i in range(first):
        pipeline.send(event(i, channel=random.choice(["chat", "sms", "email"])), key=f"c-{i // 5}".encode())
    pipeline.flush()
    pipeline.wait_stored(events=first, dead_letters=0)
    pipeline.kill_worker()
    pipeline.start_worker()
    for i in range(first, first + second):
        pipeline.send(event(i, channel="chat"), key=f"c-{i // 5}".encode())
    pipeline.flush()
    pipeline.wait_stored(events=second, dead_letters=0)  # the replays come first on every partition
    replayed = sum(float(line.rsplit(" ", 1)[1]) for line in pipeline.metrics_text().splitlines()
                   if line.startswith("cxpulse_replayed_rows_skipped_total{"))
    assert pipeline.stop_worker() == 0
    counted = pipeline.scalar("SELECT sum(events) FROM cx.customer_channels_daily")
    print(f"replayed rows left out {replayed:.0f}, counted by the rollup {counted} of {first + second}")
    assert replayed > 0, "nothing came back: the test did not replay anything"
    assert pipeline.scalar("SELECT count() FROM cx.events FINAL") == first + second
    assert counted == first + second, "events emitted again after the crash were counted again"
    assert pipeline.scalar("SELECT count() FROM cx.dead_letters FINAL") == 0


def test_the_worker_rolls_up_each_contact_kpi_once_across_a_kill_9(pipeline):
    """The worker rolls cx.contacts_per_minute up per 5 s slot of store time (streams/warehouse/rollups.py).
    Killed at some point of that cycle, the next worker rolls up the slots left, and a slot rolled
    up again (killed between its insert and its watermark) counts once: its insert has the same token."""
    contacts = 400

    def contact_event(k: int, type_: str) -> dict:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"specversion": "1.0", "id": f"{type_}-{k}", "source": "/test/voice", "type": type_, "time": now,
                "datacontenttype": "application/json",
                "data": {"channel": "voice", "customer": {"email": f"caller{k}@example.com"}, "contact_id": f"k-{k}",
                         "queue": "billing"}}

    def publish(*types: str) -> None:
        for k in range(contacts):
            for type_ in types:
                pipeline.send(contact_event(k, type_), key=f"k-{k}".encode())
        pipeline.flush()

    settled = rollups.SLOT_SECONDS * 2 + rollups.SETTLE_SECONDS + 1  # the last slot over, settled, ticked
    pipeline.start_worker()
    publish("cx.contact.started", "cx.contact.queued")
    pipeline.wait_stored(events=2 * contacts, dead_letters=0)
    time.sleep(random.uniform(0, settled))
    pipeline.kill_worker()
    pipeline.start_worker()
    publish("cx.contact.answered")
    pipeline.wait_stored(events=contacts, dead_letters=0)
    time.sleep(settled)
    rolled = sum(float(line.rsplit(" ", 1)[1]) for line in pipeline.metrics_text().splitlines()
                 if line.startswith('cxpulse_store_latency_seconds_count{table="cx.kpi_rollups"}'))
    assert rolled >= 1, "the restarted worker rolled up nothing by itself (a stop rolls up what is left)"
    assert pipeline.stop_worker() == 0
    totals = pipeline.query("SELECT sum(started) AS started, sum(queued) AS queued, sum(answered) AS answered "
                            "FROM cx.contacts_per_minute")[0]
    print(f"rolled up after a kill -9: {totals}")
    assert totals == {"started": contacts, "queued": contacts, "answered": contacts}


@pytest.mark.same_on_any_broker(reason="dead-letter reasons are the parser's; one worker, no restart")
def test_garbage_goes_to_the_dlq_with_a_reason_and_good_events_still_flow(pipeline):
    """1,000 random byte strings and malformed events among 1,000 good ones; an impossible phone is
    no contract failure: that event is stored with the phone kept raw."""
    rng = random.Random(7)
    pipeline.start_worker()
    bad = impossible_phone = 0
    for i in range(1_000):
        pipeline.send(event(i))
        broken, mutation = event(100_000 + i), i % 10
        if i % 2:
            pipeline.send(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))))
        elif mutation == 8:
            broken["data"]["customer"] = {"phone": "12"}
            pipeline.send(broken)
            impossible_phone += 1
            continue
        else:
            if mutation == 0:
                del broken["id"]
            elif mutation == 2:
                broken["type"] = "cx.contact.teleported"
            elif mutation == 4:
                broken["data"]["channel"] = "carrier_pigeon"
            else:
                broken["time"] = 12345
            pipeline.send(broken)
        bad += 1
    pipeline.flush()
    pipeline.wait_stored(events=1_000 + impossible_phone, dead_letters=bad)
    assert pipeline.stop_worker() == 0
    assert pipeline.scalar("SELECT count() FROM cx.events FINAL") == 1_000 + impossible_phone
    assert pipeline.scalar("SELECT countIf(identifier_issue_reasons = ['invalid'] AND identifier_issue_values = ['12'] "
                           "AND customer = '') FROM cx.events FINAL") == impossible_phone
    assert pipeline.scalar("SELECT count() FROM cx.dead_letters FINAL") == bad
    assert pipeline.scalar("SELECT countIf(reason = '' OR detail = '') FROM cx.dead_letters") == 0
    reasons = {r["reason"] for r in pipeline.query("SELECT DISTINCT reason FROM cx.dead_letters")}
    assert {"missing_field", "unknown_type", "unknown_channel", "wrong_type"} <= reasons
    assert reasons & {"invalid_json", "invalid_utf8"}
