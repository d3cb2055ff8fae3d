"""The contact KPIs (cx.contacts_per_minute) rolled up per slot of store time.

Why not materialized views: chDB plans a view's query for every insert, and the two KPI views cost
about half of every cx.events insert (schemas/clickhouse/0017_kpi_rollup.sql, docs/benchmarks.md).
Here their query is planned once per slot. The definitions are 0016's: a mark (started, queued,
answered, abandoned, called back, handled; a survey response) counts once, in the minute its
deciding event happened. It fires in the slot in which the last milestone it needs was first
stored (cx.contact_progress keeps those times), so arrival order and batching change nothing.

Every worker cuts the same slots (of the warehouse's clock) and inserts a slot's rows under the
slot's token, so a slot rolled up twice is stored once (cx.contacts_per_minute's deduplication
window). Workers that share a ClickHouse server leave the rollup to one of them (`Roller.leads`);
one whose own chDB is its warehouse rolls it up itself. A slot is rolled up once it is `settle`
seconds old: an insert that began in it has committed by then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from streams.domain.channels import MESSAGING, sql_list
from streams.runtime import metrics
from streams.warehouse import Warehouse, WarehouseError

log = logging.getLogger(__name__)

SLOT_SECONDS = 5.0
SETTLE_SECONDS = 3.0
_NAME = "contacts_per_minute"

# One slot (lo, hi] of store time. A milestone's store time is `far` while it is not reached, the
# epoch when it was stored before 0017 (the views counted what it completed then). Marks: 1 started,
# 2 queued (inbound), 3 answered (wait), 4/5 abandoned before/after kpi.short_abandon_seconds, 6 an
# abandon called back, 7 handled (answer -> end); an abandon fires only if no answer was stored by
# then. Survey responses count in the slot they were stored, under the rated contact's channel and
# queue if it was stored by then ('unknown' else).
_ROLLUP = f"""
INSERT INTO cx.contacts_per_minute SETTINGS insert_deduplication_token = '{{token}}'
WITH
    fromUnixTimestamp64Milli({{lo}}, 'UTC') AS lo,
    fromUnixTimestamp64Milli({{hi}}, 'UTC') AS hi,
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
        WHERE contact_id IN (SELECT contact_id FROM cx.kpi_inbox WHERE stored_at > lo AND stored_at <= hi)
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
    SELECT 8 AS kind, toNullable(r.1) AS at, i.stored_at AS fire, 0. AS seconds,
           if(c.contact_id != '' AND c.known_at <= i.stored_at, c.channel, 'unknown') AS channel,
           if(channel = 'unknown', '', c.queue) AS queue, 0. AS sl_seconds, r.2 AS csat, r.3 AS nps
    FROM (SELECT stored_at, contact_id, responses FROM cx.kpi_inbox
          WHERE stored_at > lo AND stored_at <= hi AND notEmpty(responses)) AS i
    ARRAY JOIN i.responses AS r
    LEFT JOIN (SELECT contact_id, min(channel) AS channel, argMaxMerge(queue) AS queue, min(first_stored) AS known_at
               FROM cx.contact_progress
               WHERE contact_id IN (SELECT contact_id FROM cx.kpi_inbox
                                    WHERE stored_at > lo AND stored_at <= hi AND notEmpty(responses))
               GROUP BY contact_id) AS c ON c.contact_id = i.contact_id
)
GROUP BY minute, channel, queue
"""


def roll_up(warehouse: Warehouse, lo_ms: int, hi_ms: int) -> None:
    """The marks that fired in (lo, hi] of store time (ms since the epoch), under that slot's token."""
    warehouse.execute(_ROLLUP.format(token=f"{_NAME}-{lo_ms}-{hi_ms}", lo=lo_ms, hi=hi_ms))


def catch_up(warehouse: Warehouse, slot: float = SLOT_SECONDS, settle: float = SETTLE_SECONDS) -> int:
    """Roll up every slot that is over, settled and not rolled up yet, in order; returns how many.
    Only slots something was stored in cost a query."""
    slot_ms, settle_ms = max(1, round(slot * 1000)), round(settle * 1000)
    now_ms, done_ms = warehouse.query(
        "SELECT toUnixTimestamp64Milli(now64(3)), "
        f"(SELECT toUnixTimestamp64Milli(max(slot_end)) FROM cx.kpi_rollups WHERE rollup = '{_NAME}')").rows[0]
    ready_ms = (now_ms - settle_ms) // slot_ms * slot_ms
    if ready_ms <= done_ms:
        return 0
    ends = [end for (end,) in warehouse.query(
        f"SELECT DISTINCT (intDiv(toUnixTimestamp64Milli(stored_at) - 1, {slot_ms}) + 1) * {slot_ms} AS slot_end "
        f"FROM cx.kpi_inbox WHERE stored_at > fromUnixTimestamp64Milli({done_ms}, 'UTC') "
        f"AND stored_at <= fromUnixTimestamp64Milli({ready_ms}, 'UTC') ORDER BY slot_end").rows]
    for end in ends:
        roll_up(warehouse, end - slot_ms, end)
    if ends:
        warehouse.insert("cx.kpi_rollups", [{"rollup": _NAME, "slot_end": ready_ms / 1000}], token=f"{_NAME}-{ready_ms}")
    return len(ends)


def flush(warehouse: Warehouse) -> int:
    """Roll up everything stored so far, in 1 ms slots (no insert runs beside it: the simulated
    boards, the tests)."""
    return catch_up(warehouse, slot=0.001, settle=0)


class Roller:
    """Runs `catch_up` on the warehouse thread at most once a slot, right after an events insert.

    Why then: the query takes the warehouse thread for 0.1-0.3 s; started by a timer it made the
    next events insert wait behind it, a tail in the end-to-end latency. Right after an insert the
    sink gathers its next batch meanwhile, whose window (sink.batch_seconds) absorbs the query. A
    timer covers idle stretches: the last slots of a burst are rolled up with no insert after them.

    `leads()` says whether this worker rolls up now: workers sharing a server give it to one of
    them, and the next one to lead starts from the last slot saved (cx.kpi_rollups)."""

    def __init__(self, store, leads: Callable[[], bool] = lambda: True) -> None:
        self.store, self.leads = store, leads
        self.last = 0.0

    async def tick(self, idle: float = 0.0) -> None:
        """Roll up if the last run is a slot (plus `idle`) ago and this worker leads."""
        now = time.monotonic()
        if now - self.last < SLOT_SECONDS + idle or not self.leads():
            return
        self.last = now
        try:
            slots = await self.store.with_warehouse(catch_up)
        except WarehouseError as exc:  # the next tick starts again from the last slot saved
            metrics.STORE_FAILURES.labels(table="cx.contacts_per_minute").inc()
            log.warning("KPI rollup failed (%s); retried next tick", exc)
            return
        if slots:
            metrics.STORE_SECONDS.labels(table="cx.contacts_per_minute").observe(time.monotonic() - now)


def register(app, store, leads: Callable[[], bool]) -> Roller:
    """The worker's roller; its timer rolls up when no insert did for two slots."""
    roller = Roller(store, leads)

    @app.timer(interval=SLOT_SECONDS, name="kpi-rollup")
    async def roll_up_when_idle() -> None:
        await roller.tick(idle=SLOT_SECONDS)

    return roller
