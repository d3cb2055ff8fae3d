"""The warehouse's rollups, run per slot of store time rather than by materialized views.

Why not views: chDB analyses and plans a view's query on every insert, whatever its rows, and the
sink inserts cx.events several times a second. The contact KPIs moved here in 0017 (their two views
were half of every insert), cx.contact_facts, cx.journey_steps_per_minute and
cx.customer_channels_daily in 0019 (half of what was left: docs/benchmarks.md). Here each query is
planned once per slot. cx.contact_progress keeps its view: the live floor reads the contacts waiting
now from it, and the KPI rollup reads when each milestone was first stored from it.

A slot (lo, hi] is the events whose insert began in it (cx.events.stored_at, one value per insert,
found through its min-max index). Every worker cuts the same slots (of the warehouse's clock) and
inserts a slot's rows under the slot's token, so a slot rolled up twice is stored once (the counting
tables' deduplication window; cx.contact_facts' aggregates are idempotent). Workers that share a
ClickHouse server leave the rollups to one of them (`Roller.leads`); one whose own chDB is its
warehouse rolls them up itself. A slot is rolled up once it is `settle` seconds old: an insert that
began in it has committed by then. Each rollup keeps its own watermark (cx.kpi_rollups).

The KPI definitions are 0016's: a mark (started, queued, answered, abandoned, called back, handled;
a survey response) counts once, in the minute its deciding event happened. It fires in the slot in
which the last milestone it needs was first stored (cx.contact_progress keeps those times), so
arrival order and batching change nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from streams.domain.channels import MESSAGING, sql_list
from streams.process import metrics
from streams.warehouse import Warehouse, WarehouseError, sql_string

log = logging.getLogger(__name__)

SLOT_SECONDS = 5.0
SETTLE_SECONDS = 3.0

_BOUNDS = "fromUnixTimestamp64Milli({lo}, 'UTC') AS lo, fromUnixTimestamp64Milli({hi}, 'UTC') AS hi"
_SLOT = "stored_at > lo AND stored_at <= hi"

# One row per contact and slot; cx.contacts folds them (order-independent aggregates: min, max,
# argMax by event time, sets of event ids and times), so a contact spread over slots, or an event
# stored twice, gives the row it would in one.
_CONTACT_FACTS = f"""
INSERT INTO cx.contact_facts SETTINGS insert_deduplication_token = '{{token}}', max_threads = 1
WITH {_BOUNDS}
SELECT contact_id,
       min(channel)                                                  AS channel,
       max(customer)                                                 AS customer,
       max(direction)                                                AS direction,
       argMaxState(queue, if(queue = '', toDateTime64(0, 3, 'UTC'), event_time))       AS queue,
       argMaxState(agent_id, if(agent_id = '', toDateTime64(0, 3, 'UTC'), event_time)) AS agent_id,
       min(event_time)                                               AS first_event_at,
       max(event_time)                                               AS last_event_at,
       minIf(toNullable(event_time), type = 'cx.contact.started')    AS started_at,
       minIf(toNullable(event_time), type = 'cx.contact.queued')     AS queued_at,
       minIf(toNullable(event_time), type = 'cx.contact.assigned')   AS assigned_at,
       minIf(toNullable(event_time), type = 'cx.contact.answered')   AS answered_at,
       minIf(toNullable(event_time), type = 'cx.contact.abandoned')  AS abandoned_at,
       maxIf(toNullable(event_time), type = 'cx.contact.ended')      AS ended_at,
       minIf(toNullable(event_time), type = 'cx.contact.message'
             AND JSONExtractString(attributes, 'author') = 'customer') AS first_customer_message_at,
       minIf(toNullable(event_time), type = 'cx.contact.message'
             AND JSONExtractString(attributes, 'author') = 'agent')    AS first_agent_message_at,
       minIf(toNullable(event_time), type = 'cx.callback.requested') AS callback_requested_at,
       minIf(toNullable(event_time), type = 'cx.callback.completed') AS callback_completed_at,
       groupUniqArrayIf(event_time, type = 'cx.contact.hold')        AS hold_times,
       groupUniqArrayIf(event_time, type = 'cx.contact.resumed')     AS resume_times,
       groupUniqArrayIf(concat(source, '/', event_id), type = 'cx.contact.transferred') AS transfer_ids,
       groupUniqArrayIf(concat(source, '/', event_id), type = 'cx.contact.message')     AS message_ids,
       maxIf(JSONExtractString(attributes, 'resolution'), type = 'cx.contact.ended')    AS resolution
FROM cx.events
WHERE {_SLOT} AND contact_id != ''
GROUP BY contact_id
"""

_JOURNEY_STEPS = f"""
INSERT INTO cx.journey_steps_per_minute SETTINGS insert_deduplication_token = '{{token}}', max_threads = 1
WITH {_BOUNDS}
SELECT toStartOfMinute(event_time) AS minute,
       JSONExtractString(attributes, 'journey') AS journey, JSONExtractString(attributes, 'step') AS step, channel,
       countIf(JSONExtractString(attributes, 'status') = 'entered')   AS entered,
       countIf(JSONExtractString(attributes, 'status') = 'completed') AS completed,
       countIf(JSONExtractString(attributes, 'status') = 'failed')    AS failed
FROM cx.events
WHERE {_SLOT} AND type = 'cx.journey.step'
GROUP BY minute, journey, step, channel
"""

# Surveys are not a channel a customer chooses: left out.
_CUSTOMER_CHANNELS = f"""
INSERT INTO cx.customer_channels_daily SETTINGS insert_deduplication_token = '{{token}}', max_threads = 1
WITH {_BOUNDS}
SELECT toDate(event_time) AS day, customer,
       minMap(([toString(channel)], [event_time])) AS first_use,
       count() AS events
FROM cx.events
WHERE {_SLOT} AND customer != '' AND channel != 'survey'
GROUP BY day, customer
"""

# A milestone's store time is `far` while it is not reached, the epoch when it was stored before 0017
# (the views counted what it completed then). Marks (`kind`): 1 started, 2 queued (inbound), 3 answered
# (wait), 4/5 abandoned before/after kpi.short_abandon_seconds, 6 an abandon called back, 7 handled
# (answer -> end); an abandon fires only if no answer was stored by then. Survey responses: 8 csat
# given, 9 csat 4-5, 10 nps given, 11 nps 9-10, 12 nps 0-6, in the slot they were stored, under the
# rated contact's channel and queue if it was stored by then ('unknown' else).
#
# Why it is shaped so: chDB plans this query on every slot, and planning was most of its cost (64 of
# ~70 ms per slot, docs/benchmarks.md), about 2 ms per aggregate. So the marks are counted by kind in
# one map (sumMap) instead of an aggregate per KPI, and the cut-offs come in as literals (`Cutoffs`),
# not a subquery of cx.settings: 45-55 ms per slot.
_CONTACTS_PER_MINUTE = f"""
INSERT INTO cx.contacts_per_minute SETTINGS insert_deduplication_token = '{{token}}', max_threads = 1
WITH
    {_BOUNDS},
    toDateTime64('2299-12-31 00:00:00', 3, 'UTC') AS far,
    toDateTime64(0, 3, 'UTC') AS epoch
SELECT minute, channel, queue,
       marks[1] AS started, marks[2] AS queued, marks[4] AS short_abandons, marks[3] AS answered,
       within_sl AS answered_within_sl, marks[5] AS abandons, marks[6] AS abandons_called_back, marks[7] AS handled,
       wait_sum AS wait_seconds_sum, wait_max AS wait_seconds_max, quantiles AS wait_quantiles,
       handle_sum AS handle_seconds_sum, marks[8] AS csat_responses, marks[9] AS csat_satisfied,
       marks[10] AS nps_responses, marks[11] AS promoters, marks[12] AS detractors
FROM
(
    SELECT toStartOfMinute(assumeNotNull(at)) AS minute, channel, queue,
           CAST(sumMap([kind], [toUInt64(1)]), 'Map(UInt8, UInt64)') AS marks,
           countIf(kind = 3 AND seconds <= sl_seconds) AS within_sl,
           sumIf(seconds, kind = 3) AS wait_sum, maxIf(seconds, kind = 3) AS wait_max,
           quantilesStateIf(0.5, 0.9, 0.95)(seconds, kind = 3) AS quantiles, sumIf(seconds, kind = 7) AS handle_sum
    FROM
    (
        SELECT kind, at, fire, seconds, channel, queue, sl_seconds
        FROM
        (
            SELECT min(channel) AS channel, argMaxMerge(queue) AS queue,
                   channel IN ({sql_list(MESSAGING)}) AS messaging,
                   min(started_at) AS t1, min(queued_at) AS t2, min(answered_at) AS t3, min(first_agent_at) AS t4,
                   min(abandoned_at) AS t5, min(callback_at) AS t6, min(ended_at) AS t7,
                   if(t1 IS NULL, far, ifNull(min(started_stored), epoch)) AS s1,
                   if(t2 IS NULL, far, ifNull(min(queued_stored), epoch)) AS s2,
                   if(t3 IS NULL, far, ifNull(min(answered_stored), epoch)) AS s3,
                   if(t4 IS NULL, far, ifNull(min(first_agent_stored), epoch)) AS s4,
                   if(t5 IS NULL, far, ifNull(min(abandoned_stored), epoch)) AS s5,
                   if(t6 IS NULL, far, ifNull(min(callback_stored), epoch)) AS s6,
                   if(t7 IS NULL, far, ifNull(min(ended_stored), epoch)) AS s7,
                   t2 IS NOT NULL AND max(queued_outbound) = 0 AS inbound,
                   if(messaging, coalesce(t3, t4), t3) AS answer_at,
                   if(messaging, least(s3, s4), s3) AS answer_stored,
                   greatest(s2, s5) AS abandon_stored,
                   inbound AND answer_stored > abandon_stored AS abandoned,
                   ifNull(dateDiff('millisecond', t2, t5) / 1000, 0.) AS abandon_wait,
                   abandon_wait < {{short_abandon}} AS short,
                   {{service_level}} AS sl_seconds
            FROM cx.contact_progress
            WHERE contact_id IN (SELECT if(type = 'cx.survey.responded', JSONExtractString(attributes, 'contact_id'),
                                         contact_id) FROM cx.events WHERE {_SLOT})
            GROUP BY contact_id
        )
        ARRAY JOIN [1, 2, 3, if(short, 4, 5), 6, 7] AS kind,
                   [t1, t2, answer_at, t5, t5, t7] AS at,
                   [s1, if(inbound, s2, far), if(inbound, greatest(s2, answer_stored), far),
                    if(abandoned, abandon_stored, far), if(abandoned AND NOT short, greatest(abandon_stored, s6), far),
                    greatest(answer_stored, s7)] AS fire,
                   [0., 0., ifNull(dateDiff('millisecond', t2, answer_at) / 1000, 0.), abandon_wait, 0.,
                    ifNull(dateDiff('millisecond', answer_at, t7) / 1000, 0.)] AS seconds
        WHERE fire > lo AND fire <= hi
        UNION ALL
        SELECT kind, toNullable(i.at) AS at, i.stored_at AS fire, 0. AS seconds,
               if(c.contact_id != '' AND c.known_at <= i.stored_at, c.channel, 'unknown') AS channel,
               if(channel = 'unknown', '', c.queue) AS queue, 0. AS sl_seconds
        FROM (SELECT stored_at, JSONExtractString(attributes, 'contact_id') AS contact_id, event_time AS at,
                     if(JSONHas(attributes, 'csat'), JSONExtractInt(attributes, 'csat'), -1) AS csat,
                     if(JSONHas(attributes, 'nps'), JSONExtractInt(attributes, 'nps'), -1) AS nps
              FROM cx.events WHERE {_SLOT} AND type = 'cx.survey.responded') AS i
        LEFT JOIN (SELECT contact_id, min(channel) AS channel, argMaxMerge(queue) AS queue,
                          min(first_stored) AS known_at
                   FROM cx.contact_progress
                   WHERE contact_id IN (SELECT JSONExtractString(attributes, 'contact_id') FROM cx.events
                                        WHERE {_SLOT} AND type = 'cx.survey.responded')
                   GROUP BY contact_id) AS c ON c.contact_id = i.contact_id
        ARRAY JOIN arrayFilter(k -> k > 0, [if(i.csat >= 0, 8, 0), if(i.csat >= 4, 9, 0), if(i.nps >= 0, 10, 0),
                                            if(i.nps >= 9, 11, 0), if(i.nps BETWEEN 0 AND 6, 12, 0)]) AS kind
    )
    GROUP BY minute, channel, queue
)
"""


# {name: the INSERT of one slot}; the name is the rollup's watermark in cx.kpi_rollups.
ROLLUPS: dict[str, str] = {
    "contact_facts": _CONTACT_FACTS,
    "journey_steps_per_minute": _JOURNEY_STEPS,
    "customer_channels_daily": _CUSTOMER_CHANNELS,
    "contacts_per_minute": _CONTACTS_PER_MINUTE,
}


@dataclass(frozen=True)
class Cutoffs:
    """The KPI cut-offs in cx.settings (streams.warehouse.view_settings; newest value wins), read once
    per run of due slots and put in the KPI rollup as literals: a subquery in it was planned again in
    every slot. The defaults are what the KPIs use when cx.settings has none."""
    short_abandon: float = 5.0
    service_level: float = 20.0
    service_level_by_channel: tuple[tuple[str, float], ...] = ()

    @classmethod
    def read(cls, warehouse: Warehouse) -> Cutoffs:
        values = {(name, channel): value for name, channel, value in warehouse.query(
            "SELECT name, channel, argMax(value, updated_at) FROM cx.settings "
            "WHERE name IN ('short_abandon_seconds', 'service_level_seconds') GROUP BY name, channel "
            "ORDER BY name, channel").rows}
        return cls(values.get(("short_abandon_seconds", ""), cls.short_abandon),
                   values.get(("service_level_seconds", ""), cls.service_level),
                   tuple((channel, value) for (name, channel), value in values.items()
                         if name == "service_level_seconds" and channel and value > 0))

    def sql(self) -> dict[str, str]:
        """The literals of the KPI rollup's `{short_abandon}` and `{service_level}` (per channel)."""
        service_level = repr(float(self.service_level))
        if self.service_level_by_channel:
            channels = ", ".join(sql_string(channel) for channel, _ in self.service_level_by_channel)
            seconds = ", ".join(repr(float(value)) for _, value in self.service_level_by_channel)
            service_level = f"transform(channel, [{channels}], [{seconds}], {service_level})"
        return {"short_abandon": repr(float(self.short_abandon)), "service_level": service_level}


@dataclass(frozen=True)
class Due:
    """The slots to roll up, in order, as (rollup, lo, hi) in ms since the epoch, the slot end every
    rollup has reached once they are done (`ready_ms`), and the KPI cut-offs to roll them up with."""
    slots: list[tuple[str, int, int]]
    ready_ms: int
    cutoffs: Cutoffs = Cutoffs()

    @property
    def slot_count(self) -> int:
        return len({hi for _, _, hi in self.slots})


def due(warehouse: Warehouse, slot: float = SLOT_SECONDS, settle: float = SETTLE_SECONDS) -> Due:
    """Every slot that is over, settled and not rolled up yet by some rollup. Only slots something
    was stored in cost a query."""
    slot_ms, settle_ms = max(1, round(slot * 1000)), round(settle * 1000)
    now_ms = warehouse.query("SELECT toUnixTimestamp64Milli(now64(3))").scalar()
    done = dict.fromkeys(ROLLUPS, 0) | {name: ms for name, ms in warehouse.query(
        "SELECT rollup, toUnixTimestamp64Milli(max(slot_end)) FROM cx.kpi_rollups GROUP BY `rollup`").rows
        if name in ROLLUPS}
    # over: its end is before now (an insert stamped this very millisecond falls in a later slot)
    ready_ms, start_ms = (now_ms - settle_ms - 1) // slot_ms * slot_ms, min(done.values())
    if ready_ms <= start_ms:
        return Due([], ready_ms)
    ends = [end for (end,) in warehouse.query(
        f"SELECT DISTINCT (intDiv(toUnixTimestamp64Milli(stored_at) - 1, {slot_ms}) + 1) * {slot_ms} AS slot_end "
        f"FROM cx.events WHERE stored_at > fromUnixTimestamp64Milli({start_ms}, 'UTC') "
        f"AND stored_at <= fromUnixTimestamp64Milli({ready_ms}, 'UTC') ORDER BY slot_end").rows]
    slots = [(name, max(end - slot_ms, done[name]), end) for end in ends for name in ROLLUPS if end > done[name]]
    return Due(slots, ready_ms, Cutoffs.read(warehouse) if slots else Cutoffs())


def roll_up(warehouse: Warehouse, name: str, lo_ms: int, hi_ms: int, cutoffs: Cutoffs) -> None:
    """Rollup `name` of what was stored in (lo, hi] (ms since the epoch), under that slot's token."""
    warehouse.execute(ROLLUPS[name].format(token=f"{name}-{lo_ms}-{hi_ms}", lo=lo_ms, hi=hi_ms, **cutoffs.sql()))


def mark_done(warehouse: Warehouse, work: Due) -> None:
    """Every rollup has reached `work.ready_ms` (saved only when there were slots: idle ticks write nothing)."""
    if work.slots:
        warehouse.insert("cx.kpi_rollups", [{"rollup": name, "slot_end": work.ready_ms / 1000} for name in ROLLUPS],
                         token=f"rollups-{work.ready_ms}")


def catch_up(warehouse: Warehouse, slot: float = SLOT_SECONDS, settle: float = SETTLE_SECONDS) -> int:
    """Roll up every due slot, in order; returns how many slots."""
    work = due(warehouse, slot, settle)
    for name, lo, hi in work.slots:
        roll_up(warehouse, name, lo, hi, work.cutoffs)
    mark_done(warehouse, work)
    return work.slot_count


def flush(warehouse: Warehouse) -> int:
    """Roll up everything stored so far, in 1 ms slots (no insert runs beside it: the simulated
    boards, the tests), once the millisecond of the last insert is over."""
    time.sleep(0.002)
    return catch_up(warehouse, slot=0.001, settle=0)


class Roller:
    """Runs the due slots at most once a slot, right after an events insert, on the warehouse
    connection the other tables' inserts use (cx.events has its own: streams.stages.sink.BatchStore).

    The run is a task of its own (`kick`): awaited, its queries (0.1-0.4 s) held the sink's next
    events batch. Each slot's query is a call of its own, so the other tables' inserts wait for one
    query at most. A timer covers idle stretches: the last slots of a burst are rolled up with no
    insert after them.

    `leads()` says whether this worker rolls up now: workers sharing a server give it to one of
    them, and the next one to lead starts from the last slot saved (cx.kpi_rollups)."""

    def __init__(self, store, leads: Callable[[], bool] = lambda: True) -> None:
        self.store, self.leads = store, leads
        self.last = 0.0
        self.running: asyncio.Task | None = None

    def kick(self) -> None:
        """`tick` in a task of its own, one at a time: the caller (the sink, after an events insert)
        goes on at once. Awaited inline, the four rollups of a slot held the sink's next events batch
        for as long as all of them took (e2e p99 1.42 s at 2,175 ev/s, docs/benchmarks.md)."""
        if self.running is None or self.running.done():
            self.running = asyncio.get_running_loop().create_task(self.tick())
            self.running.add_done_callback(_report_failure)

    async def tick(self, idle: float = 0.0) -> None:
        """Roll up if the last run is a slot (plus `idle`) ago and this worker leads."""
        now = time.monotonic()
        if now - self.last < SLOT_SECONDS + idle or not self.leads():
            return
        self.last = now
        try:
            work = await self.store.with_warehouse(lambda warehouse: due(warehouse, SLOT_SECONDS, SETTLE_SECONDS))
            for name, lo, hi in work.slots:
                await self.store.with_warehouse(lambda warehouse: roll_up(warehouse, name, lo, hi, work.cutoffs))
            await self.store.with_warehouse(lambda warehouse: mark_done(warehouse, work))
            metrics.ROLLED_UP_UNTIL.set(work.ready_ms / 1000)
        except WarehouseError as exc:  # the next tick starts again from the last slot saved
            metrics.STORE_FAILURES.labels(table="cx.kpi_rollups").inc()
            log.warning("rollup failed (%s); retried next tick", exc)
            return
        if work.slots:
            metrics.STORE_SECONDS.labels(table="cx.kpi_rollups").observe(time.monotonic() - now)


def _report_failure(run: asyncio.Task) -> None:
    if not run.cancelled() and run.exception() is not None:
        log.error("rollup run failed", exc_info=run.exception())


def register(app, store, leads: Callable[[], bool]) -> Roller:
    """The worker's roller; its timer rolls up when no insert did for two slots."""
    roller = Roller(store, leads)

    @app.timer(interval=SLOT_SECONDS, name="rollups")
    async def roll_up_when_idle() -> None:
        await roller.tick(idle=SLOT_SECONDS)

    return roller
