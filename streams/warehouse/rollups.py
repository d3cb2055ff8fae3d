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
from streams.warehouse import Warehouse, WarehouseError

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
# (the views counted what it completed then). Marks: 1 started, 2 queued (inbound), 3 answered
# (wait), 4/5 abandoned before/after kpi.short_abandon_seconds, 6 an abandon called back, 7 handled
# (answer -> end); an abandon fires only if no answer was stored by then. Survey responses count in
# the slot they were stored, under the rated contact's channel and queue if it was stored by then
# ('unknown' else).
_CONTACTS_PER_MINUTE = f"""
INSERT INTO cx.contacts_per_minute SETTINGS insert_deduplication_token = '{{token}}', max_threads = 1
WITH
    {_BOUNDS},
    toDateTime64('2299-12-31 00:00:00', 3, 'UTC') AS far,
    toDateTime64(0, 3, 'UTC') AS epoch,
    (SELECT CAST((groupArray(concat(name, '/', channel)), groupArray(value)), 'Map(String, Float64)')
     FROM (SELECT name, channel, argMax(value, updated_at) AS value FROM cx.settings
           WHERE name IN ('short_abandon_seconds', 'service_level_seconds') GROUP BY name, channel)) AS cfg
SELECT toStartOfMinute(assumeNotNull(at)) AS minute, channel, queue,
       countIf(kind = 1) AS started, countIf(kind = 2) AS queued, countIf(kind = 4) AS short_abandons,
       countIf(kind = 3) AS answered, countIf(kind = 3 AND seconds <= sl_seconds) AS answered_within_sl,
       countIf(kind = 5) AS abandons, countIf(kind = 6) AS abandons_called_back, countIf(kind = 7) AS handled,
       sumIf(seconds, kind = 3) AS wait_seconds_sum, maxIf(seconds, kind = 3) AS wait_seconds_max,
       quantilesStateIf(0.5, 0.9, 0.95)(seconds, kind = 3) AS wait_quantiles,
       sumIf(seconds, kind = 7) AS handle_seconds_sum,
       countIf(kind = 8 AND csat >= 0) AS csat_responses, countIf(kind = 8 AND csat >= 4) AS csat_satisfied,
       countIf(kind = 8 AND nps >= 0) AS nps_responses, countIf(kind = 8 AND nps >= 9) AS promoters,
       countIf(kind = 8 AND nps BETWEEN 0 AND 6) AS detractors
FROM
(
    SELECT kind, at, fire, seconds, channel, queue, sl_seconds, -1 AS csat, -1 AS nps
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
               abandon_wait < if(mapContains(cfg, 'short_abandon_seconds/'), cfg['short_abandon_seconds/'], 5) AS short,
               cfg[concat('service_level_seconds/', channel)] AS channel_sl,
               if(channel_sl > 0, channel_sl,
                  if(mapContains(cfg, 'service_level_seconds/'), cfg['service_level_seconds/'], 20)) AS sl_seconds
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
    SELECT 8 AS kind, toNullable(i.at) AS at, i.stored_at AS fire, 0. AS seconds,
           if(c.contact_id != '' AND c.known_at <= i.stored_at, c.channel, 'unknown') AS channel,
           if(channel = 'unknown', '', c.queue) AS queue, 0. AS sl_seconds, i.csat AS csat, i.nps AS nps
    FROM (SELECT stored_at, JSONExtractString(attributes, 'contact_id') AS contact_id, event_time AS at,
                 if(JSONHas(attributes, 'csat'), JSONExtractInt(attributes, 'csat'), -1) AS csat,
                 if(JSONHas(attributes, 'nps'), JSONExtractInt(attributes, 'nps'), -1) AS nps
          FROM cx.events WHERE {_SLOT} AND type = 'cx.survey.responded') AS i
    LEFT JOIN (SELECT contact_id, min(channel) AS channel, argMaxMerge(queue) AS queue, min(first_stored) AS known_at
               FROM cx.contact_progress
               WHERE contact_id IN (SELECT JSONExtractString(attributes, 'contact_id') FROM cx.events
                                    WHERE {_SLOT} AND type = 'cx.survey.responded')
               GROUP BY contact_id) AS c ON c.contact_id = i.contact_id
)
GROUP BY minute, channel, queue
"""


# {name: the INSERT of one slot}; the name is the rollup's watermark in cx.kpi_rollups.
ROLLUPS: dict[str, str] = {
    "contact_facts": _CONTACT_FACTS,
    "journey_steps_per_minute": _JOURNEY_STEPS,
    "customer_channels_daily": _CUSTOMER_CHANNELS,
    "contacts_per_minute": _CONTACTS_PER_MINUTE,
}


@dataclass(frozen=True)
class Due:
    """The slots to roll up, in order, as (rollup, lo, hi) in ms since the epoch, and the slot end
    every rollup has reached once they are done (`ready_ms`)."""
    slots: list[tuple[str, int, int]]
    ready_ms: int

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
    return Due([(name, max(end - slot_ms, done[name]), end) for end in ends for name in ROLLUPS if end > done[name]],
               ready_ms)


def roll_up(warehouse: Warehouse, name: str, lo_ms: int, hi_ms: int) -> None:
    """Rollup `name` of what was stored in (lo, hi] (ms since the epoch), under that slot's token."""
    warehouse.execute(ROLLUPS[name].format(token=f"{name}-{lo_ms}-{hi_ms}", lo=lo_ms, hi=hi_ms))


def mark_done(warehouse: Warehouse, work: Due) -> None:
    """Every rollup has reached `work.ready_ms` (saved only when there were slots: idle ticks write nothing)."""
    if work.slots:
        warehouse.insert("cx.kpi_rollups", [{"rollup": name, "slot_end": work.ready_ms / 1000} for name in ROLLUPS],
                         token=f"rollups-{work.ready_ms}")


def catch_up(warehouse: Warehouse, slot: float = SLOT_SECONDS, settle: float = SETTLE_SECONDS) -> int:
    """Roll up every due slot, in order; returns how many slots."""
    work = due(warehouse, slot, settle)
    for name, lo, hi in work.slots:
        roll_up(warehouse, name, lo, hi)
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
                await self.store.with_warehouse(lambda warehouse: roll_up(warehouse, name, lo, hi))
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
