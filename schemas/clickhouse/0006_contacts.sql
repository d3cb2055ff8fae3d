-- Contact state, one row per contact. A materialized view folds every stored cx.contact.* /
-- cx.callback.* event (and messages) into cx.contact_facts with order-independent aggregates
-- (min, max, argMax by event time, sets of event ids and times), so events arriving out of order,
-- or twice after a replay, give the same row as in order and once. cx.contacts derives the rest.
CREATE TABLE IF NOT EXISTS cx.contact_facts
(
    contact_id        String,
    channel           SimpleAggregateFunction(min, LowCardinality(String)),
    customer          SimpleAggregateFunction(max, String),
    direction         SimpleAggregateFunction(max, LowCardinality(String)),
    queue             AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    agent_id          AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    first_event_at    SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_event_at     SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    started_at        SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    queued_at         SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    assigned_at       SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    answered_at       SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    abandoned_at      SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    ended_at          SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    first_customer_message_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_agent_message_at    SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    callback_requested_at     SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    callback_completed_at     SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    hold_times        SimpleAggregateFunction(groupUniqArrayArray, Array(DateTime64(3, 'UTC'))),
    resume_times      SimpleAggregateFunction(groupUniqArrayArray, Array(DateTime64(3, 'UTC'))),
    transfer_ids      SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    message_ids       SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    resolution        SimpleAggregateFunction(max, String)
)
ENGINE = AggregatingMergeTree
ORDER BY contact_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS cx.contact_facts_mv TO cx.contact_facts AS
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
WHERE contact_id != ''
GROUP BY contact_id;

-- One row per contact, current. Times are UTC; durations in seconds (NULL when not reached).
-- answered_at: the answer event, else (messaging) the first agent message.
-- queue_wait: queued -> answered, or queued -> abandoned. hold: paired hold/resume events (an
-- open hold counts until the end). handle: answered -> ended (talk + hold + wrap-up).
-- reply_wait (messaging): first customer message -> first agent message after it.
-- is_repeat: the same customer (today's id, any channel) started another contact within
-- timeline.repeat_window_seconds before this one; repeated_later: one followed within it (FCR fails).
CREATE VIEW IF NOT EXISTS cx.contacts AS
WITH
    (SELECT ifNull(argMaxOrNull(value, updated_at), 604800) FROM cx.settings
     WHERE name = 'repeat_window_seconds' AND channel = '') AS repeat_window
SELECT *,
       customer != '' AND previous_started_at IS NOT NULL
           AND dateDiff('millisecond', previous_started_at, started_at) <= 1000 * repeat_window AS is_repeat,
       customer != '' AND next_started_at IS NOT NULL
           AND dateDiff('millisecond', started_at, next_started_at) <= 1000 * repeat_window AS repeated_later
FROM
(
    SELECT *,
           lagInFrame(toNullable(started_at)) OVER w AS previous_started_at,
           leadInFrame(toNullable(started_at)) OVER w AS next_started_at
    FROM
    (
        SELECT f.contact_id AS contact_id, f.channel AS channel, f.direction AS direction,
               f.queue AS queue, f.agent_id AS agent_id,
               if(m.customer_id != '', m.customer_id, f.customer) AS customer,
               coalesce(f.started_at, f.first_event_at) AS started_at,
               f.queued_at AS queued_at, f.assigned_at AS assigned_at,
               coalesce(f.answered_at, if(f.channel IN ('email', 'sms', 'whatsapp', 'social'), f.first_agent_message_at, NULL)) AS answered_at,
               f.abandoned_at AS abandoned_at, f.ended_at AS ended_at,
               f.callback_requested_at AS callback_requested_at, f.callback_completed_at AS callback_completed_at,
               f.first_customer_message_at AS first_customer_message_at, f.first_agent_message_at AS first_agent_message_at,
               if(f.queued_at IS NULL, NULL, dateDiff('millisecond', f.queued_at, coalesce(answered_at, f.abandoned_at)) / 1000) AS queue_wait_seconds,
               (arraySum(arrayMap(t -> toUnixTimestamp64Milli(t), f.resume_times))
                - arraySum(arrayMap(t -> toUnixTimestamp64Milli(t), f.hold_times))
                + if(length(f.hold_times) > length(f.resume_times),
                     toUnixTimestamp64Milli(coalesce(f.ended_at, now64(3))), 0)) / 1000 AS hold_seconds,
               length(f.hold_times) AS holds,
               length(f.transfer_ids) AS transfers,
               length(f.message_ids) AS messages,
               if(answered_at IS NULL OR f.ended_at IS NULL, NULL, dateDiff('millisecond', answered_at, f.ended_at) / 1000) AS handle_seconds,
               if(f.first_customer_message_at IS NULL OR f.first_agent_message_at < f.first_customer_message_at, NULL,
                  dateDiff('millisecond', f.first_customer_message_at, f.first_agent_message_at) / 1000) AS reply_wait_seconds,
               f.resolution AS resolution,
               multiIf(f.ended_at IS NOT NULL, 'ended', f.abandoned_at IS NOT NULL, 'abandoned',
                       answered_at IS NOT NULL, 'answered', f.queued_at IS NOT NULL, 'queued', 'started') AS state,
               f.last_event_at AS last_event_at
        FROM
        (
            SELECT contact_id, min(channel) AS channel, max(customer) AS customer, max(direction) AS direction,
                   argMaxMerge(queue) AS queue, argMaxMerge(agent_id) AS agent_id,
                   min(first_event_at) AS first_event_at, max(last_event_at) AS last_event_at,
                   min(started_at) AS started_at, min(queued_at) AS queued_at, min(assigned_at) AS assigned_at,
                   min(answered_at) AS answered_at, min(abandoned_at) AS abandoned_at, max(ended_at) AS ended_at,
                   min(first_customer_message_at) AS first_customer_message_at,
                   min(first_agent_message_at) AS first_agent_message_at,
                   min(callback_requested_at) AS callback_requested_at, min(callback_completed_at) AS callback_completed_at,
                   arraySort(groupUniqArrayArray(hold_times)) AS hold_times,
                   arraySort(groupUniqArrayArray(resume_times)) AS resume_times,
                   groupUniqArrayArray(transfer_ids) AS transfer_ids, groupUniqArrayArray(message_ids) AS message_ids,
                   max(resolution) AS resolution
            FROM cx.contact_facts
            GROUP BY contact_id
        ) AS f
        LEFT JOIN (SELECT node_id, customer_id FROM cx.identity_map WHERE status != 'blocked') AS m ON m.node_id = f.customer
    )
    WINDOW w AS (PARTITION BY customer ORDER BY started_at, contact_id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
);
