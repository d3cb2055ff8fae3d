-- The two rollup views on cx.events' insert path that cost most, said with fewer expressions. chDB
-- analyses and plans a view's query for every insert, about 0.1-0.2 ms per expression whatever the
-- rows (docs/benchmarks.md), so: cx.settings is read by one scalar subquery (a map 'name/channel'
-- -> value) instead of two and a join; the milestones travel as arrays; the views emit one row per
-- KPI mark or survey response and cx.contacts_per_minute (AggregatingMergeTree) adds them up, instead
-- of grouping them by minute first (the boards sum its columns either way). The KPIs, thresholds and
-- "counted once, in the insert that brings the last event it needs" are those of 0009_rollups.sql.
-- MODIFY QUERY swaps each query in place: no insert runs without the view, and a rerun is harmless.

-- m: a contact's first started, queued, answer (messaging: else the first agent message), abandoned,
-- callback and ended times over this block and what cx.contact_progress holds; n: which of them this
-- block brings. A mark is a (kind, time, seconds) that fires once: 1 started, 2 queued (inbound),
-- 3 answered (wait), 4/5 abandoned before/after kpi.short_abandon_seconds, 6 an abandon called back,
-- 7 handled (answer -> end).
ALTER TABLE cx.contacts_per_minute_mv MODIFY QUERY
WITH
    (SELECT CAST((groupArray(concat(name, '/', channel)), groupArray(value)), 'Map(String, Float64)')
     FROM (SELECT name, channel, argMax(value, updated_at) AS value FROM cx.settings
           WHERE name IN ('short_abandon_seconds', 'service_level_seconds') GROUP BY name, channel)) AS cfg
SELECT toStartOfMinute(assumeNotNull(at)) AS minute, channel, queue,
       kind = 1                             AS started,
       kind = 2                             AS queued,
       kind = 4                             AS short_abandons,
       kind = 3                             AS answered,
       kind = 3 AND seconds <= sl_seconds   AS answered_within_sl,
       kind = 5                             AS abandons,
       kind = 6                             AS abandons_called_back,
       kind = 7                             AS handled,
       if(kind = 3, seconds, 0.)            AS wait_seconds_sum,
       wait_seconds_sum                     AS wait_seconds_max,
       initializeAggregation('quantilesStateIf(0.5, 0.9, 0.95)', seconds, kind = 3) AS wait_quantiles,
       if(kind = 7, seconds, 0.)            AS handle_seconds_sum
FROM
(
    SELECT min(channel) AS channel, argMaxMerge(queue) AS queue,
           minForEach(times) AS t, minForEachIf(times, in_block) AS b,
           channel IN ('email', 'sms', 'whatsapp', 'social') AS messaging,
           [t[1], t[2], if(messaging, coalesce(t[3], t[4]), t[3]), t[5], t[6], t[7]] AS m,
           arrayMap((x, y) -> ifNull(x = y, 0),
                    [b[1], b[2], if(messaging, coalesce(b[3], b[4]), b[3]), b[5], b[6], b[7]], m) AS n,
           m[2] IS NOT NULL AND max(queued_outbound) = 0 AS inbound,
           ifNull(dateDiff('millisecond', m[2], m[4]) / 1000, 0.) AS abandon_wait,
           abandon_wait < if(mapContains(cfg, 'short_abandon_seconds/'), cfg['short_abandon_seconds/'], 5) AS short,
           cfg[concat('service_level_seconds/', channel)] AS channel_sl,
           if(channel_sl > 0, channel_sl,
              if(mapContains(cfg, 'service_level_seconds/'), cfg['service_level_seconds/'], 20)) AS sl_seconds
    FROM
    (
        SELECT 1 AS in_block, contact_id, channel, queue, queued_outbound,
               [started_at, queued_at, answered_at, first_agent_at, abandoned_at, callback_at, ended_at] AS times
        FROM cx.contact_progress
        UNION ALL
        SELECT 0 AS in_block, contact_id, channel, queue, queued_outbound,
               [started_at, queued_at, answered_at, first_agent_at, abandoned_at, callback_at, ended_at] AS times
        FROM merge('cx', '^contact_progress$')
        WHERE contact_id IN (SELECT contact_id FROM cx.contact_progress)
    )
    GROUP BY contact_id
)
ARRAY JOIN [1, 2, 3, if(short, 4, 5), 6, 7] AS kind,
           [m[1], m[2], m[3], m[4], m[4], m[6]] AS at,
           [n[1], inbound AND n[2], inbound AND (n[3] OR n[2]), inbound AND m[3] IS NULL AND (n[4] OR n[2]),
            inbound AND m[3] IS NULL AND NOT short AND m[5] IS NOT NULL AND (n[5] OR n[4] OR n[2]),
            m[3] IS NOT NULL AND (n[3] OR n[6])] AS fire,
           [0., 0., ifNull(dateDiff('millisecond', m[2], m[3]) / 1000, 0.), abandon_wait, 0.,
            ifNull(dateDiff('millisecond', m[3], m[6]) / 1000, 0.)] AS seconds
WHERE fire AND at IS NOT NULL;

-- One row per survey response of the block, under the channel and queue of the contact it rates
-- (attributes.contact_id, from this block and cx.contact_progress; 'unknown' when absent).
ALTER TABLE cx.surveys_per_minute_mv MODIFY QUERY
SELECT toStartOfMinute(r.1) AS minute, ifNull(channel, 'unknown') AS channel, queue,
       r.2 >= 0 AS csat_responses, r.2 >= 4 AS csat_satisfied, r.3 >= 0 AS nps_responses,
       r.3 >= 9 AS promoters, r.3 BETWEEN 0 AND 6 AS detractors
FROM
(
    SELECT min(channel) AS channel, argMaxMerge(queue) AS queue, groupArrayArray(responses) AS responses
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
    GROUP BY rated
)
ARRAY JOIN responses AS r;
