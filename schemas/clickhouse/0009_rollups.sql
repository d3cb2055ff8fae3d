-- Rollups for the live boards (streams/boards): materialized views fill small AggregatingMergeTree
-- tables as events are stored, so a board reads minutes, not raw events, whatever its range.
--
-- cx.contact_progress: the milestones of every contact of the last days (first queued, answered,
-- abandoned, ended ... times), one partial row per contact and insert. The contact rollup is fed by
-- these rows and looks their contacts up here (by primary key) to pair an answer with its queue
-- entry; the live floor
-- reads the contacts waiting now from it. `day` is the day a row was stored, and rows are dropped
-- 8 days later (a contact that has not progressed by then is not on the floor any more; a backfill
-- of old events keeps its context while it runs).
CREATE TABLE IF NOT EXISTS cx.contact_progress
(
    contact_id      String,
    day             Date,
    channel         SimpleAggregateFunction(min, LowCardinality(String)),
    customer        SimpleAggregateFunction(max, String),
    queue           AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    queued_outbound SimpleAggregateFunction(max, UInt8),
    started_at      SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    queued_at       SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    answered_at     SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_agent_at  SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    abandoned_at    SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    callback_at     SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    ended_at        SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC')))
)
ENGINE = AggregatingMergeTree
PARTITION BY day
ORDER BY contact_id
TTL day + INTERVAL 8 DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS cx.contact_progress_mv TO cx.contact_progress AS
SELECT contact_id, today() AS day,
       min(channel) AS channel,
       max(customer) AS customer,
       argMaxState(queue, if(queue = '', toDateTime64(0, 3, 'UTC'), event_time)) AS queue,
       maxIf(direction = 'outbound', type = 'cx.contact.queued') AS queued_outbound,
       minIf(toNullable(event_time), type = 'cx.contact.started')   AS started_at,
       minIf(toNullable(event_time), type = 'cx.contact.queued')    AS queued_at,
       minIf(toNullable(event_time), type = 'cx.contact.answered')  AS answered_at,
       minIf(toNullable(event_time), type = 'cx.contact.message'
             AND JSONExtractString(attributes, 'author') = 'agent') AS first_agent_at,
       minIf(toNullable(event_time), type = 'cx.contact.abandoned') AS abandoned_at,
       minIf(toNullable(event_time), type = 'cx.callback.requested') AS callback_at,
       minIf(toNullable(event_time), type = 'cx.contact.ended')     AS ended_at
FROM cx.events
WHERE contact_id != ''
GROUP BY contact_id;

-- Per minute x channel x queue: the counts and sums behind every contact KPI of cx.kpis (same
-- definitions and thresholds from cx.settings), each counted in the minute its deciding event
-- happened (offered: queue entry; answered, service level, wait: the answer; abandons: the
-- abandon; handle time: the end; CSAT/NPS: the survey response), as ACD interval reports do.
-- offered = queued - short_abandons; abandoned = abandons - abandons_called_back.
CREATE TABLE IF NOT EXISTS cx.contacts_per_minute
(
    minute               DateTime('UTC'),
    channel              LowCardinality(String),
    queue                LowCardinality(String),
    started              SimpleAggregateFunction(sum, UInt64) COMMENT 'contacts started (any channel, any direction)',
    queued               SimpleAggregateFunction(sum, UInt64) COMMENT 'inbound contacts entering a queue',
    short_abandons       SimpleAggregateFunction(sum, UInt64) COMMENT 'abandoned before kpi.short_abandon_seconds: not offered',
    answered             SimpleAggregateFunction(sum, UInt64),
    answered_within_sl   SimpleAggregateFunction(sum, UInt64) COMMENT 'queue wait <= kpi.service_level_seconds of the channel',
    abandons             SimpleAggregateFunction(sum, UInt64) COMMENT 'abandoned after the short-abandon cutoff',
    abandons_called_back SimpleAggregateFunction(sum, UInt64) COMMENT 'of those, the customer asked for a callback: not abandoned',
    handled              SimpleAggregateFunction(sum, UInt64),
    wait_seconds_sum     SimpleAggregateFunction(sum, Float64) COMMENT 'queue wait of answered contacts (ASA = sum / answered)',
    wait_seconds_max     SimpleAggregateFunction(max, Float64),
    wait_quantiles       AggregateFunction(quantiles(0.5, 0.9, 0.95), Float64) COMMENT 'queue wait of answered contacts',
    handle_seconds_sum   SimpleAggregateFunction(sum, Float64) COMMENT 'answered -> ended (AHT = sum / handled)',
    csat_responses       SimpleAggregateFunction(sum, UInt64),
    csat_satisfied       SimpleAggregateFunction(sum, UInt64) COMMENT 'csat 4-5',
    nps_responses        SimpleAggregateFunction(sum, UInt64),
    promoters            SimpleAggregateFunction(sum, UInt64) COMMENT 'nps 9-10',
    detractors           SimpleAggregateFunction(sum, UInt64) COMMENT 'nps 0-6'
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, channel, queue)
SETTINGS non_replicated_deduplication_window = 1000;

-- Fed by the rows cx.contact_progress_mv writes for each block of events (a chained view: in it,
-- cx.contact_progress is that block only), merged with what cx.contact_progress holds for the same
-- contacts (read through merge(), which is the stored table, this block included or not). A KPI of
-- a contact is counted once, in the block that brings the last event it needs, whatever order the
-- events arrive in: a milestone is new in this block when the block holds its earliest time.
CREATE MATERIALIZED VIEW IF NOT EXISTS cx.contacts_per_minute_mv TO cx.contacts_per_minute AS
WITH
    (SELECT ifNull(argMaxOrNull(value, updated_at), 5) FROM cx.settings
     WHERE name = 'short_abandon_seconds' AND channel = '') AS short_abandon,
    (SELECT ifNull(argMaxOrNull(value, updated_at), 20) FROM cx.settings
     WHERE name = 'service_level_seconds' AND channel = '') AS default_sl
SELECT toStartOfMinute(mark.2) AS minute, c.channel AS channel, c.queue AS queue,
       countIf(mark.1 = 'started')                               AS started,
       countIf(mark.1 = 'queued')                                AS queued,
       countIf(mark.1 = 'short_abandon')                         AS short_abandons,
       countIf(mark.1 = 'answered')                              AS answered,
       countIf(mark.1 = 'answered' AND mark.3 <= c.sl_seconds)   AS answered_within_sl,
       countIf(mark.1 = 'abandon')                               AS abandons,
       countIf(mark.1 = 'called_back')                           AS abandons_called_back,
       countIf(mark.1 = 'handled')                               AS handled,
       sumIf(mark.3, mark.1 = 'answered')                        AS wait_seconds_sum,
       maxIf(mark.3, mark.1 = 'answered')                        AS wait_seconds_max,
       quantilesStateIf(0.5, 0.9, 0.95)(mark.3, mark.1 = 'answered') AS wait_quantiles,
       sumIf(mark.3, mark.1 = 'handled')                         AS handle_seconds_sum
FROM
(
    SELECT a.contact_id AS contact_id, a.channel AS channel, a.queue AS queue,
           if(s.threshold > 0, s.threshold, default_sl) AS sl_seconds,
           a.channel IN ('email', 'sms', 'whatsapp', 'social') AS messaging,
           coalesce(a.answered_time, if(messaging, a.first_agent_time, NULL)) AS answer_at,
           coalesce(a.block_answered_time, if(messaging, a.block_first_agent_time, NULL)) AS block_answer_at,
           a.block_started_time = a.started_time     AS new_started,
           a.block_queued_time = a.queued_time       AS new_queued,
           block_answer_at = answer_at           AS new_answer,
           a.block_abandoned_time = a.abandoned_time AS new_abandon,
           a.block_callback_time = a.callback_time   AS new_callback,
           a.block_ended_time = a.ended_time         AS new_end,
           a.queued_time IS NOT NULL AND a.queued_outbound = 0              AS inbound_queued,
           dateDiff('millisecond', a.queued_time, answer_at) / 1000         AS wait,
           dateDiff('millisecond', a.queued_time, a.abandoned_time) / 1000    AS abandon_wait,
           inbound_queued AND a.abandoned_time IS NOT NULL AND answer_at IS NULL AND abandon_wait >= short_abandon AS abandoned,
           arrayFilter(m -> m.1 != '', [
               if(new_started, ('started', assumeNotNull(a.started_time), 0.), ('', toDateTime64(0, 3, 'UTC'), 0.)),
               if(new_queued AND inbound_queued, ('queued', assumeNotNull(a.queued_time), 0.), ('', toDateTime64(0, 3, 'UTC'), 0.)),
               if(inbound_queued AND answer_at IS NOT NULL AND (new_answer OR new_queued),
                  ('answered', assumeNotNull(answer_at), assumeNotNull(wait)), ('', toDateTime64(0, 3, 'UTC'), 0.)),
               if(inbound_queued AND a.abandoned_time IS NOT NULL AND answer_at IS NULL AND (new_abandon OR new_queued),
                  (if(abandon_wait < short_abandon, 'short_abandon', 'abandon'), assumeNotNull(a.abandoned_time), assumeNotNull(abandon_wait)),
                  ('', toDateTime64(0, 3, 'UTC'), 0.)),
               if(abandoned AND a.callback_time IS NOT NULL AND (new_callback OR new_abandon OR new_queued),
                  ('called_back', assumeNotNull(a.abandoned_time), 0.), ('', toDateTime64(0, 3, 'UTC'), 0.)),
               if(answer_at IS NOT NULL AND a.ended_time IS NOT NULL AND (new_answer OR new_end),
                  ('handled', assumeNotNull(a.ended_time), dateDiff('millisecond', assumeNotNull(answer_at), assumeNotNull(a.ended_time)) / 1000),
                  ('', toDateTime64(0, 3, 'UTC'), 0.))
           ]) AS marks
    FROM
    (
        SELECT contact_id, min(channel) AS channel, argMaxMerge(queue) AS queue, max(queued_outbound) AS queued_outbound,
               min(started_at) AS started_time, minIf(started_at, in_block) AS block_started_time,
               min(queued_at) AS queued_time, minIf(queued_at, in_block) AS block_queued_time,
               min(answered_at) AS answered_time, minIf(answered_at, in_block) AS block_answered_time,
               min(first_agent_at) AS first_agent_time, minIf(first_agent_at, in_block) AS block_first_agent_time,
               min(abandoned_at) AS abandoned_time, minIf(abandoned_at, in_block) AS block_abandoned_time,
               min(callback_at) AS callback_time, minIf(callback_at, in_block) AS block_callback_time,
               min(ended_at) AS ended_time, minIf(ended_at, in_block) AS block_ended_time
        FROM
        (
            SELECT 1 AS in_block, * FROM cx.contact_progress
            UNION ALL
            SELECT 0 AS in_block, * FROM merge('cx', '^contact_progress$')
            WHERE contact_id IN (SELECT contact_id FROM cx.contact_progress)
        )
        GROUP BY contact_id
    ) AS a
    LEFT JOIN (SELECT channel, argMax(value, updated_at) AS threshold FROM cx.settings
               WHERE name = 'service_level_seconds' AND channel != '' GROUP BY channel) AS s ON s.channel = a.channel
) AS c
ARRAY JOIN c.marks AS mark
GROUP BY minute, channel, queue;

-- Survey responses, in the minute they arrive, under the channel and queue of the contact they rate
-- (attributes.contact_id, looked up in this block and cx.contact_progress; 'unknown' when absent).
CREATE MATERIALIZED VIEW IF NOT EXISTS cx.surveys_per_minute_mv TO cx.contacts_per_minute AS
SELECT toStartOfMinute(r.1) AS minute, ifNull(c.channel, 'unknown') AS channel, c.queue AS queue,
       countIf(r.2 >= 0)              AS csat_responses,
       countIf(r.2 >= 4)              AS csat_satisfied,
       countIf(r.3 >= 0)              AS nps_responses,
       countIf(r.3 >= 9)              AS promoters,
       countIf(r.3 BETWEEN 0 AND 6)   AS detractors
FROM
(
    SELECT contact_id, min(channel) AS channel, argMaxMerge(queue) AS queue, groupArrayArray(responses) AS responses
    FROM
    (
        SELECT if(type = 'cx.survey.responded', JSONExtractString(attributes, 'contact_id'), contact_id) AS rated,
               minIf(toNullable(toString(channel)), type != 'cx.survey.responded') AS channel,
               argMaxState(queue, if(queue = '' OR type = 'cx.survey.responded', toDateTime64(0, 3, 'UTC'), event_time)) AS queue,
               groupArrayIf((event_time,
                             if(JSONHas(attributes, 'csat'), JSONExtractInt(attributes, 'csat'), -1),
                             if(JSONHas(attributes, 'nps'), JSONExtractInt(attributes, 'nps'), -1)),
                            type = 'cx.survey.responded') AS responses
        FROM cx.events
        WHERE type = 'cx.survey.responded'
           OR contact_id IN (SELECT JSONExtractString(attributes, 'contact_id') FROM cx.events
                             WHERE type = 'cx.survey.responded')
        GROUP BY rated
        UNION ALL
        SELECT contact_id AS rated, toNullable(toString(channel)) AS channel, queue, [] AS responses
        FROM cx.contact_progress
        WHERE contact_id IN (SELECT JSONExtractString(attributes, 'contact_id') FROM cx.events
                             WHERE type = 'cx.survey.responded')
    )
    GROUP BY rated AS contact_id
    HAVING length(responses) > 0
) AS c
ARRAY JOIN c.responses AS r
GROUP BY minute, channel, queue;

-- Contacts in a queue now: queued in the last day, not answered (for messaging: no agent message),
-- abandoned or ended. The live floor and the demo board read it. It reads the queue times of the
-- rows stored in the last two days, then only the rows of the contacts queued in the last day
-- (by primary key), so its cost does not grow with the history kept.
CREATE VIEW IF NOT EXISTS cx.contacts_waiting AS
SELECT contact_id, channel, queue, customer, queued_at,
       dateDiff('millisecond', queued_at, now64(3)) / 1000 AS wait_seconds
FROM
(
    SELECT contact_id, min(channel) AS channel, argMaxMerge(queue) AS queue, max(customer) AS customer,
           min(queued_at) AS queued_at, min(answered_at) AS answered_at, min(first_agent_at) AS first_agent_at,
           min(abandoned_at) AS abandoned_at, min(ended_at) AS ended_at
    FROM cx.contact_progress
    WHERE day >= today() - 1
      AND contact_id IN (SELECT contact_id FROM cx.contact_progress
                         WHERE day >= today() - 1 AND queued_at >= now64(3) - INTERVAL 1 DAY)
    GROUP BY contact_id
)
WHERE queued_at >= now64(3) - INTERVAL 1 DAY AND answered_at IS NULL AND abandoned_at IS NULL AND ended_at IS NULL
  AND NOT (channel IN ('email', 'sms', 'whatsapp', 'social') AND first_agent_at IS NOT NULL);

-- Alert state changes per minute x rule x state x channel, and how resolved alerts were resolved:
-- resolved_by is 'outreach' (the resolving event was outbound or a callback), 'self_service' (a web,
-- app or self-service event: the customer got through alone), 'agent' (an inbound contact served
-- them), 'unknown' (the resolving event is not stored), or the resolution when it was not served
-- (expired, gone). Time to resolve: threshold crossed -> resolved.
CREATE TABLE IF NOT EXISTS cx.alerts_per_minute
(
    minute              DateTime('UTC'),
    rule                LowCardinality(String),
    state               LowCardinality(String) COMMENT 'the state the alert changed to',
    channel             LowCardinality(String),
    resolved_by         LowCardinality(String) COMMENT 'resolved changes only: outreach | self_service | agent | unknown | expired | gone',
    changes             SimpleAggregateFunction(sum, UInt64),
    resolve_seconds_sum SimpleAggregateFunction(sum, Float64),
    resolve_quantiles   AggregateFunction(quantiles(0.5, 0.9), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, rule, state, channel, resolved_by)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS cx.alerts_per_minute_mv TO cx.alerts_per_minute AS
SELECT toStartOfMinute(a.changed_at) AS minute, a.rule AS rule, a.state AS state, a.channel AS channel,
       multiIf(a.state != 'resolved', '', a.resolution != 'served', a.resolution,
               e.how = 3, 'outreach', e.how = 2, 'agent', e.how = 1, 'self_service', 'unknown') AS resolved_by,
       count() AS changes,
       sumIf(dateDiff('millisecond', a.threshold_at, a.changed_at) / 1000, a.state = 'resolved') AS resolve_seconds_sum,
       quantilesStateIf(0.5, 0.9)(toFloat64(dateDiff('millisecond', a.threshold_at, a.changed_at) / 1000),
                                  a.state = 'resolved') AS resolve_quantiles
FROM cx.alerts AS a
LEFT JOIN
(
    SELECT customer, event_time,
           max(multiIf(direction = 'outbound' OR startsWith(type, 'cx.callback.'), 3,
                       channel IN ('web', 'app', 'self_service'), 1, 2)) AS how
    FROM cx.events
    WHERE customer IN (SELECT customer_id FROM cx.alerts WHERE state = 'resolved')
      AND event_time >= (SELECT min(changed_at) FROM cx.alerts WHERE state = 'resolved')
      AND event_time <= (SELECT max(changed_at) FROM cx.alerts WHERE state = 'resolved')
    GROUP BY customer, event_time
) AS e ON e.customer = a.customer_id AND e.event_time = a.changed_at
GROUP BY minute, rule, state, channel, resolved_by;

-- Journey steps per minute: entered, completed, failed (the stuck steps of the journey board).
CREATE TABLE IF NOT EXISTS cx.journey_steps_per_minute
(
    minute    DateTime('UTC'),
    journey   LowCardinality(String),
    step      LowCardinality(String),
    channel   LowCardinality(String),
    entered   SimpleAggregateFunction(sum, UInt64),
    completed SimpleAggregateFunction(sum, UInt64),
    failed    SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, journey, step, channel)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS cx.journey_steps_per_minute_mv TO cx.journey_steps_per_minute AS
SELECT toStartOfMinute(event_time) AS minute,
       JSONExtractString(attributes, 'journey') AS journey, JSONExtractString(attributes, 'step') AS step, channel,
       countIf(JSONExtractString(attributes, 'status') = 'entered')   AS entered,
       countIf(JSONExtractString(attributes, 'status') = 'completed') AS completed,
       countIf(JSONExtractString(attributes, 'status') = 'failed')    AS failed
FROM cx.events
WHERE type = 'cx.journey.step'
GROUP BY minute, journey, step, channel;

-- Per day and customer (as resolved when processed): the channels used and when each was first
-- used that day (minMap), so the journey board computes the share of customers using 3+ channels
-- and the most common channel paths from one row per customer and day. Surveys are not a channel
-- a customer chooses and are left out.
CREATE TABLE IF NOT EXISTS cx.customer_channels_daily
(
    day       Date,
    customer  String,
    first_use SimpleAggregateFunction(minMap, Tuple(Array(String), Array(DateTime64(3, 'UTC')))),
    events    SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, customer)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS cx.customer_channels_daily_mv TO cx.customer_channels_daily AS
SELECT toDate(event_time) AS day, customer,
       minMap(([toString(channel)], [event_time])) AS first_use,
       count() AS events
FROM cx.events
WHERE customer != '' AND channel != 'survey'
GROUP BY day, customer;

-- The open alerts, as cx.open_alerts gives them, without grouping every alert ever stored:
-- resolved is a final state (a new incident is a new alert_id), so alerts with a resolved change
-- are left out before the latest versions are picked. The live floor and outreach boards read it.
CREATE VIEW IF NOT EXISTS cx.alerts_open_now AS
SELECT *
FROM cx.open_alerts
WHERE alert_id NOT IN (SELECT alert_id FROM cx.alerts WHERE state = 'resolved');
