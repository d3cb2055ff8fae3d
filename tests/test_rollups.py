"""The rollups (schemas/clickhouse/0009_rollups.sql, rolled up per slot since 0017 and 0019:
streams/warehouse/rollups.py) on the real engine: the same KPIs as cx.kpis whatever order and
batches the events arrive in, retried batches and slots counted once, an upgrade counted once,
contacts waiting now, and how resolved alerts were resolved."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import time

import orjson
import pytest
from prometheus_client import REGISTRY

from streams.config import Settings
from streams.warehouse import replays, rollups, view_settings
from streams.warehouse.migrate import migrations
from streams.warehouse.queries import rollup_kpis
from tests.conftest import WAREHOUSE_TABLES
from tests.test_kpis import DAY, SCENARIO

# The boards' own SQL over the rollup (streams.warehouse.queries.rollup_kpis), against cx.kpis.
COLUMNS = ["channel", "queue", "offered", "answered", "answered_within_sl", "abandoned", "handled", "service_level",
           "asa_seconds", "abandonment_rate", "aht_seconds"]
TOTALS = rollup_kpis(COLUMNS, keys=("channel", "queue"), where="channel != 'unknown'",
                     having="offered > 0 OR handled > 0", order_by="channel, queue")
KPIS = (f"SELECT {', '.join(COLUMNS)} FROM cx.kpis(start = '{DAY} 00:00:00', stop = '{DAY} 23:59:59') "
        "ORDER BY channel, queue")
SURVEYS = "SELECT sum(csat_responses), sum(csat_satisfied), sum(nps_responses), sum(promoters), sum(detractors) " \
          "FROM cx.contacts_per_minute"


def store(warehouse, rows, batches: int) -> None:
    """Insert in `batches`, each rolled up on its own in 1 ms slots, as the sink's inserts and the
    rollup take turns on the warehouse thread: a mark fires in the slot of its last milestone."""
    for i in range(batches):
        warehouse.insert("cx.events", rows[i::batches], token=f"t-{random.random()}")
        roll_up(warehouse)


def roll_up(warehouse) -> int:
    return rollups.flush(warehouse)


def test_rollups_agree_with_cx_kpis(warehouse):
    view_settings.publish(warehouse, Settings())
    store(warehouse, SCENARIO, 1)
    want = warehouse.query(KPIS).rows
    assert warehouse.query(TOTALS).rows == want
    assert warehouse.query(SURVEYS).rows == [(3, 2, 3, 1, 1)]  # csat 5, 2, 4; nps 10, 3, 8
    per_channel = warehouse.query("SELECT channel, sum(csat_responses) FROM cx.contacts_per_minute "
                                  "GROUP BY channel HAVING sum(csat_responses) > 0 ORDER BY channel").rows
    assert per_channel == [("chat", 1), ("voice", 2)]


@pytest.mark.parametrize("seed", range(6))
def test_every_kpi_is_counted_once_whatever_the_order_and_batches(warehouse, seed):
    view_settings.publish(warehouse, Settings())
    store(warehouse, SCENARIO, 1)
    want = warehouse.query(KPIS).rows
    for table in ("cx.events", "cx.contact_facts", "cx.contact_progress", "cx.contacts_per_minute"):
        warehouse.execute(f"TRUNCATE TABLE {table}")
    rows = list(SCENARIO)
    random.Random(seed).shuffle(rows)
    store(warehouse, rows, batches=1 + seed)
    assert warehouse.query(TOTALS).rows == want
    # a survey stored before the contact it rates counts, under channel 'unknown'
    assert warehouse.query(SURVEYS).rows == [(3, 2, 3, 1, 1)]


def test_a_retried_batch_is_counted_once(warehouse):
    view_settings.publish(warehouse, Settings())
    warehouse.insert("cx.events", SCENARIO, token="same-batch")
    roll_up(warehouse)
    once = warehouse.query(TOTALS).rows
    warehouse.insert("cx.events", SCENARIO, token="same-batch")
    roll_up(warehouse)
    assert warehouse.query(TOTALS).rows == once


def test_a_slot_rolled_up_again_is_counted_once(warehouse):
    """A crash between a slot's insert and its watermark, or two workers, roll a slot up twice."""
    view_settings.publish(warehouse, Settings())
    store(warehouse, SCENARIO, 3)
    once = warehouse.query(TOTALS).rows, warehouse.query(SURVEYS).rows
    assert once[0] == warehouse.query(KPIS).rows
    warehouse.execute("TRUNCATE TABLE cx.kpi_rollups")
    assert roll_up(warehouse) >= 1
    assert (warehouse.query(TOTALS).rows, warehouse.query(SURVEYS).rows) == once


def test_a_slot_rolled_up_many_times_is_counted_once(warehouse):
    """The insert's token names a slot's rows only if they come as one block: run on several threads,
    a rollup's result came in a varying number of blocks, and 3 of 120 reruns of the KPI rollup's
    slots were stored again (0017's rollup, before `max_threads = 1`)."""
    view_settings.publish(warehouse, Settings())
    rows = SCENARIO + JOURNEY
    random.Random(2).shuffle(rows)
    store(warehouse, rows, 4)
    once = derived(warehouse)
    warehouse.execute("TRUNCATE TABLE cx.kpi_rollups")
    work = rollups.due(warehouse, slot=0.001, settle=0)
    for _ in range(25):
        for name, lo, hi in work.slots:
            if name != "contact_facts":  # its aggregates are idempotent: it needs no token
                rollups.roll_up(warehouse, name, lo, hi, work.cutoffs)
    assert derived(warehouse) == once


def test_a_slot_waits_until_it_is_over_and_settled(warehouse):
    view_settings.publish(warehouse, Settings())
    warehouse.insert("cx.events", SCENARIO, token="now")
    assert rollups.catch_up(warehouse, slot=60, settle=60) == 0
    assert warehouse.query("SELECT count() FROM cx.contacts_per_minute").scalar() == 0
    assert roll_up(warehouse) == 1
    assert warehouse.query(TOTALS).rows == warehouse.query(KPIS).rows


def made_before_a_crash(rows: list[dict]) -> list[dict]:
    """The scenario's rows as the sink makes them: times as datetimes, received at noon."""
    received = dt.datetime.fromisoformat(f"{DAY} 12:00:00").replace(tzinfo=dt.UTC)
    return [{**r, "event_time": dt.datetime.fromisoformat(r["event_time"]).replace(tzinfo=dt.UTC),
             "received_at": received} for r in rows]


def test_events_stored_again_in_a_different_batch_are_counted_once(warehouse):
    """After a crash the sink reads its last batch again and upstream stages emit their uncommitted
    events again: the same events come back in batches cut elsewhere (another token). Unguarded, the
    rollups counted them twice (offered 8 against 4 here); the sink leaves out what cx.events holds."""
    view_settings.publish(warehouse, Settings())
    rows = made_before_a_crash(SCENARIO)
    assigned = rows[0]["received_at"].timestamp() + 60  # the sink's partitions, assigned after the restart
    first = replays.unstored(warehouse, "cx.events", rows[: len(rows) // 2], assigned)
    warehouse.insert("cx.events", first, token="before-the-crash")
    again = replays.unstored(warehouse, "cx.events", rows + rows[-3:], assigned)  # some twice in the batch
    assert again == rows[len(rows) // 2:]
    warehouse.insert("cx.events", again, token="read-again-in-a-larger-batch")
    roll_up(warehouse)
    assert warehouse.query(TOTALS).rows == warehouse.query(KPIS).rows
    assert warehouse.query(SURVEYS).rows == [(3, 2, 3, 1, 1)]
    assert warehouse.query("SELECT count() FROM cx.events").scalar() == len(rows)


def test_rows_made_after_the_last_assignment_are_not_looked_up(warehouse):
    """In steady state nothing is a replay: rows received after the sink's last assignment go in
    unchecked (a look-up per insert would cost chDB ~20 ms), even when the table holds them."""
    rows = made_before_a_crash(SCENARIO)
    warehouse.insert("cx.events", rows, token="stored")
    long_before = rows[0]["received_at"].timestamp() - 3600
    assert replays.unstored(warehouse, "cx.events", rows, long_before) == rows
    assert replays.unstored(warehouse, "cx.events", rows, long_before + 3600) == []


def test_alert_changes_stored_again_in_a_different_batch_are_counted_once(warehouse):
    alerts = [_alert(n, f"{DAY} 10:00:00") for n in range(1, 5)]
    for a in alerts:
        a["detected_at"] = dt.datetime.fromisoformat(a["detected_at"]).replace(tzinfo=dt.UTC)
    assigned = alerts[0]["detected_at"].timestamp() + 60
    warehouse.insert("cx.alerts", replays.unstored(warehouse, "cx.alerts", alerts[:2], assigned), token="first")
    again = replays.unstored(warehouse, "cx.alerts", alerts, assigned)
    assert [a["alert_id"] for a in again] == [a["alert_id"] for a in alerts[2:]]
    warehouse.insert("cx.alerts", again, token="again")
    assert warehouse.query("SELECT sum(changes) FROM cx.alerts_per_minute").scalar() == 4


CUTOFFS = "SELECT sum(answered_within_sl), sum(short_abandons), sum(queued) FROM cx.contacts_per_minute " \
          "WHERE channel = 'voice'"


def test_the_kpi_cutoffs_come_from_the_newest_settings(warehouse):
    """Voice in SCENARIO: k1 waited 15 s, k2 40 s; one abandon is short under the default 5 s."""
    settings = Settings()
    view_settings.publish(warehouse, settings)
    settings.kpi.service_level_seconds = 40.0
    settings.kpi.short_abandon_seconds = 0.0
    settings.kpi.service_level_seconds_by_channel = {"chat": 1.0, "it's": 3.0}
    view_settings.publish(warehouse, settings)  # newer: it wins
    store(warehouse, SCENARIO, 2)
    assert warehouse.query(CUTOFFS).rows == [(2, 0, 5)]  # both within 40 s; no abandon is short
    chat = warehouse.query("SELECT sum(answered), sum(answered_within_sl) FROM cx.contacts_per_minute "
                           "WHERE channel = 'chat'").rows
    assert chat == [(1, 0)]  # waited 50 s, the chat target is now 1 s


def test_a_channel_target_wins_over_the_default(warehouse):
    settings = Settings()
    settings.kpi.service_level_seconds_by_channel = {"voice": 16.0}
    view_settings.publish(warehouse, settings)
    store(warehouse, SCENARIO, 1)
    assert warehouse.query(CUTOFFS).rows == [(1, 1, 5)]  # 15 s within 16 s, 40 s not


JOURNEY = [{"event_time": f"{DAY} 09:0{n}:00", "source": "/kpi/web", "event_id": f"j-{n}", "type": "cx.journey.step",
            "channel": "web", "customer": "c_a", "contact_id": "",
            "attributes": orjson.dumps({"journey": "checkout", "step": "pay", "status": status}).decode()}
           for n, status in enumerate(["entered", "entered", "completed", "failed"])]
CONTACTS = "SELECT contact_id, channel, customer, queue, state, queue_wait_seconds, hold_seconds, transfers, " \
           "handle_seconds FROM cx.contacts ORDER BY contact_id"
JOURNEYS = "SELECT journey, step, sum(entered), sum(completed), sum(failed) FROM cx.journey_steps_per_minute " \
           "GROUP BY journey, step"
CHANNELS = "SELECT day, customer, minMap(first_use), sum(events) FROM cx.customer_channels_daily GROUP BY day, customer " \
           "ORDER BY day, customer"


def derived(warehouse) -> tuple:
    """Everything the rollups make of the events, as the boards read it."""
    return tuple(warehouse.query(q).rows for q in (TOTALS, SURVEYS, CONTACTS, JOURNEYS, CHANNELS))


@pytest.mark.parametrize("seed", range(3))
def test_the_rollups_make_what_the_views_made_once_whatever_the_slots(warehouse, seed):
    """cx.contact_facts, the journey steps and the channels per customer and day, as one slot and as
    many slots, and a slot rolled up again: the same rows."""
    view_settings.publish(warehouse, Settings())
    rows = SCENARIO + JOURNEY
    store(warehouse, rows, 1)
    want = derived(warehouse)
    assert want[3] == [("checkout", "pay", 2, 1, 1)] and [r[3] for r in want[4]] == [13, 3, 2, 2, 3]
    for table in WAREHOUSE_TABLES:
        warehouse.execute(f"TRUNCATE TABLE {table}")
    view_settings.publish(warehouse, Settings())
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    store(warehouse, shuffled, batches=2 + seed)
    warehouse.execute("TRUNCATE TABLE cx.kpi_rollups")
    roll_up(warehouse)  # every slot again
    assert derived(warehouse) == want


def test_an_upgrade_to_0019_counts_everything_once_across_the_change(warehouse, monkeypatch):
    """Half the events stored under 0018's views (the KPI rollup already per slot), the rest after
    0019 drops them for the rollups: the same rows as if one version had stored them all."""
    view_settings.publish(warehouse, Settings())
    rows = SCENARIO + JOURNEY
    store(warehouse, rows, 1)
    want = derived(warehouse)
    for table in WAREHOUSE_TABLES:
        warehouse.execute(f"TRUNCATE TABLE {table}")
    view_settings.publish(warehouse, Settings())
    by_version = {m.version: m for m in migrations()}
    views = {m[1]: m[0] for m in (re.match(r"CREATE MATERIALIZED VIEW IF NOT EXISTS cx\.(\w+) TO [\w.]+ AS\n.*", s, re.DOTALL)
                                  for v in (6, 9, 17) for s in by_version[v].statements()) if m}
    random.Random(7).shuffle(rows)
    try:
        for statement in by_version[17].statements():
            if "kpi_inbox" in statement and "CREATE TABLE" in statement:
                warehouse.execute(statement)
        for name in ("contact_facts_mv", "journey_steps_per_minute_mv", "customer_channels_daily_mv", "kpi_inbox_mv"):
            warehouse.execute(views[name])
        with monkeypatch.context() as before:  # 0018's worker rolled up the KPIs only
            before.setattr(rollups, "ROLLUPS", {"contacts_per_minute": rollups.ROLLUPS["contacts_per_minute"]})
            store(warehouse, rows[:len(rows) // 2], 2)
    finally:
        for statement in by_version[19].statements():
            warehouse.execute(statement)
    store(warehouse, rows[len(rows) // 2:], 2)
    assert derived(warehouse) == want


def _now_event(contact: str, type_: str, seconds_ago: float, channel="voice", **attributes):
    at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    return {"event_time": at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], "source": f"/t/{channel}",
            "event_id": f"{contact}-{type_}-{seconds_ago}", "type": type_, "channel": channel, "customer": "c_w",
            "contact_id": contact, "queue": "billing", "attributes": orjson.dumps(attributes).decode()}


def test_contacts_waiting_now(warehouse):
    store(warehouse, [_now_event("w1", "cx.contact.queued", 30), _now_event("w2", "cx.contact.queued", 90),
                      _now_event("w3", "cx.contact.queued", 60), _now_event("w3", "cx.contact.answered", 10),
                      _now_event("w4", "cx.contact.queued", 50, channel="email"),
                      _now_event("w4", "cx.contact.message", 5, channel="email", author="agent")], 3)
    waiting = {r[0]: r[1] for r in warehouse.query("SELECT contact_id, wait_seconds FROM cx.contacts_waiting").rows}
    assert set(waiting) == {"w1", "w2"}
    assert waiting["w1"] == pytest.approx(30, abs=5) and waiting["w2"] == pytest.approx(90, abs=5)
    store(warehouse, [_now_event("w2", "cx.contact.abandoned", 0)], 1)
    assert [r[0] for r in warehouse.query("SELECT contact_id FROM cx.contacts_waiting").rows] == ["w1"]


def _alert(n: int, resolved_at: str, resolution: str = "served", resolved_by: str | None = None) -> dict:
    alert = {"alert_id": f"al_{n:020d}", "version": 2, "rule": "stuck_journey", "state": "resolved",
             "severity": "warning", "priority": 1.0, "customer_id": f"c_{n:016d}", "identifiers": "{}",
             "channel": "web", "contact_id": "", "since": f"{DAY} 09:00:00", "threshold_at": f"{DAY} 09:15:00",
             "changed_at": resolved_at, "detected_at": resolved_at, "reason": "r", "suggested_action": "a",
             "do_not_contact": False, "outreach": True, "resolution": resolution}
    return alert if resolved_by is None else {**alert, "resolved_by": resolved_by}


def test_how_resolved_alerts_were_resolved(warehouse):
    at = f"{DAY} 10:00:00"
    alerts = [_alert(1, at, resolved_by="self_service"), _alert(2, at, resolved_by="outreach"),
              _alert(3, at, resolved_by="agent"), _alert(4, at, resolved_by="unknown"),
              _alert(5, at),  # made by a worker from before resolved_by: not known
              _alert(6, at, resolution="expired", resolved_by="expired"),
              _alert(7, at, resolution="outreach", resolved_by="outreach")]  # the team closed the work item
    warehouse.insert("cx.alerts", alerts, token="alerts")
    got = dict(warehouse.query("SELECT resolved_by, sum(changes) FROM cx.alerts_per_minute GROUP BY resolved_by").rows)
    assert got == {"self_service": 1, "outreach": 2, "agent": 1, "unknown": 2, "expired": 1}
    p50 = warehouse.query("SELECT quantilesMerge(0.5, 0.9)(resolve_quantiles)[1] FROM cx.alerts_per_minute").scalar()
    assert p50 == pytest.approx(45 * 60)  # threshold 09:15 -> resolved 10:00


def test_the_roller_runs_at_most_once_a_slot_and_its_timer_only_when_no_insert_did(warehouse):
    runs = []

    class Store:  # the sink's BatchStore runs fn on the warehouse thread
        async def with_warehouse(self, fn):
            runs.append(fn(warehouse))
            return runs[-1]

    roller = rollups.Roller(Store())

    async def ticks():
        await roller.tick()  # after an events insert
        await roller.tick()  # the next insert, within the slot
        roller.last -= rollups.SLOT_SECONDS
        await roller.tick(idle=rollups.SLOT_SECONDS)  # the timer: an insert rolled up a slot ago
        await roller.tick()  # the next insert, a slot later
        roller.last -= 2 * rollups.SLOT_SECONDS
        await roller.tick(idle=rollups.SLOT_SECONDS)  # no insert for two slots: the timer does it

    asyncio.run(ticks())
    assert sum(isinstance(run, rollups.Due) for run in runs) == 3


def test_each_rollup_of_each_slot_is_a_warehouse_call_of_its_own(warehouse):
    """So the other tables' inserts that come due wait for one query, not for every due slot's."""
    calls = []

    class Store:
        async def with_warehouse(self, fn):
            calls.append(fn)
            return fn(warehouse)

    view_settings.publish(warehouse, Settings())
    for n, part in enumerate((SCENARIO[:10], SCENARIO[10:])):
        warehouse.insert("cx.events", part, token=f"part-{n}")
        time.sleep(0.01)  # the next insert in a later ms
    slots = rollups.due(warehouse, slot=0.001, settle=0).slot_count
    assert slots == 2

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollups, "SLOT_SECONDS", 0.001)
        patch.setattr(rollups, "SETTLE_SECONDS", 0)
        asyncio.run(rollups.Roller(Store()).tick())
    assert len(calls) == 1 + slots * len(rollups.ROLLUPS) + 1
    assert warehouse.query(TOTALS).rows == warehouse.query(KPIS).rows
    last_stored = warehouse.query("SELECT toUnixTimestamp64Milli(max(stored_at)) FROM cx.events").scalar() / 1000
    assert REGISTRY.get_sample_value("cxpulse_rolled_up_until_seconds") >= last_stored  # the gauge says so


def test_a_kick_does_not_wait_for_the_run_and_starts_one_run_at_a_time():
    """The sink kicks the roller after each events insert and gathers its next batch meanwhile."""
    calls, gate = [], None

    class Store:
        async def with_warehouse(self, fn):
            calls.append(fn)
            await gate.wait()
            return rollups.Due([("contacts_per_minute", 0, 5000)], 5000) if len(calls) == 1 else None

    async def main():
        nonlocal gate
        gate = asyncio.Event()
        roller = rollups.Roller(Store())
        roller.kick()  # returns at once
        await asyncio.sleep(0)
        roller.last = 0.0  # a slot later, while the run still waits for the warehouse
        roller.kick()
        await asyncio.sleep(0)
        assert len(calls) == 1
        gate.set()
        await roller.running
        assert len(calls) == 3  # what is due, its one slot, the watermark

    asyncio.run(main())


def test_a_worker_that_does_not_lead_leaves_the_rollup_to_the_one_that_does():
    calls = []

    class Store:
        async def with_warehouse(self, fn):
            calls.append(fn)
            return rollups.Due([], 0)

    leading = {"now": False}
    roller = rollups.Roller(Store(), lambda: leading["now"])

    async def ticks():
        await roller.tick()
        leading["now"] = True
        await roller.tick()  # the next insert: this worker leads now, and a slot is due

    asyncio.run(ticks())
    assert len(calls) == 2  # what is due (nothing here), then the watermark


@pytest.mark.parametrize(("shared", "partitions", "leads"), [
    (False, set(), True),  # a worker's own chDB: always its own rollup
    (True, {0, 2}, True),  # a shared server: the owner of partition 0
    (True, {1, 3}, False),
    (True, None, False),  # not joined yet
])
def test_the_rollup_leader_is_the_owner_of_partition_0_on_a_shared_server(shared, partitions, leads):
    from aiokafka import TopicPartition

    from streams.stages.sink import leads_rollup

    assignment = None if partitions is None else {TopicPartition("resolved", p) for p in partitions}
    assert leads_rollup(shared, assignment, "resolved") is leads
