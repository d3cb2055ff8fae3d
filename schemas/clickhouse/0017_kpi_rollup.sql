-- The contact KPIs (cx.contacts_per_minute) rolled up every few seconds instead of by two
-- materialized views on every cx.events insert. chDB analyses and plans a view's query for every
-- insert, whatever its rows: contacts_per_minute_mv and surveys_per_minute_mv cost about half of
-- every insert (docs/benchmarks.md), and the sink inserts twice a second. The rollup
-- (streams/warehouse/kpi_rollup.py) plans its query once per slot of store time.
--
-- What decides a KPI is unchanged (0009, 0016): each mark counted once, in the minute its deciding
-- event happened, whatever order and batches its events arrive in. "Once" is now by store time:
-- cx.contact_progress keeps when each milestone was first stored, and a mark fires in the slot in
-- which the last milestone it needs was stored (an abandon only if no answer was stored by then).
-- Every worker cuts the same slots and inserts a slot's rows under the slot's token, so a slot
-- rolled up twice (a crash before its watermark was saved, two workers) is stored once.
DROP VIEW IF EXISTS cx.contacts_per_minute_mv;

DROP VIEW IF EXISTS cx.surveys_per_minute_mv;

-- When the event was stored: one time per insert, which every view of that insert reads alike.
ALTER TABLE cx.events
    ADD COLUMN IF NOT EXISTS stored_at DateTime64(3, 'UTC') MATERIALIZED now64(3, 'UTC')
        COMMENT 'when the warehouse stored the event (the insert); not in SELECT *';

-- When each milestone was first stored (NULL: not reached; a milestone stored before this migration
-- has NULL too, and the rollup reads it as stored long ago: the views counted it then).
ALTER TABLE cx.contact_progress
    ADD COLUMN IF NOT EXISTS first_stored       SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    ADD COLUMN IF NOT EXISTS started_stored     SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    ADD COLUMN IF NOT EXISTS queued_stored      SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    ADD COLUMN IF NOT EXISTS answered_stored    SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    ADD COLUMN IF NOT EXISTS first_agent_stored SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    ADD COLUMN IF NOT EXISTS abandoned_stored   SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    ADD COLUMN IF NOT EXISTS callback_stored    SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    ADD COLUMN IF NOT EXISTS ended_stored       SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC')));

ALTER TABLE cx.contact_progress_mv MODIFY QUERY
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
       minIf(toNullable(event_time), type = 'cx.contact.ended')     AS ended_at,
       min(stored_at) AS first_stored,
       if(started_at IS NULL, NULL, first_stored)     AS started_stored,
       if(queued_at IS NULL, NULL, first_stored)      AS queued_stored,
       if(answered_at IS NULL, NULL, first_stored)    AS answered_stored,
       if(first_agent_at IS NULL, NULL, first_stored) AS first_agent_stored,
       if(abandoned_at IS NULL, NULL, first_stored)   AS abandoned_stored,
       if(callback_at IS NULL, NULL, first_stored)    AS callback_stored,
       if(ended_at IS NULL, NULL, first_stored)       AS ended_stored
FROM cx.events
WHERE contact_id != ''
GROUP BY stored_at, contact_id;

-- What the rollup has to look at, by the time it was stored: the contacts an insert changed, and
-- its survey responses under the contact they rate (attributes.contact_id). Read by store time only.
CREATE TABLE IF NOT EXISTS cx.kpi_inbox
(
    stored_at  DateTime64(3, 'UTC'),
    contact_id String,
    responses  Array(Tuple(at DateTime64(3, 'UTC'), csat Int16, nps Int16)) COMMENT 'survey responses; -1: no score'
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(stored_at)
ORDER BY (stored_at, contact_id)
TTL toDate(stored_at) + INTERVAL 2 DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS cx.kpi_inbox_mv TO cx.kpi_inbox AS
SELECT stored_at,
       if(type = 'cx.survey.responded', JSONExtractString(attributes, 'contact_id'), e.contact_id) AS contact_id,
       groupArrayIf((event_time,
                     if(JSONHas(attributes, 'csat'), JSONExtractInt(attributes, 'csat'), -1),
                     if(JSONHas(attributes, 'nps'), JSONExtractInt(attributes, 'nps'), -1)),
                    type = 'cx.survey.responded') AS responses
FROM cx.events AS e
WHERE e.contact_id != '' OR type = 'cx.survey.responded'
GROUP BY stored_at, contact_id;

-- The last slot end rolled up (per rollup; one row once merged).
CREATE TABLE IF NOT EXISTS cx.kpi_rollups
(
    rollup   LowCardinality(String),
    slot_end DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(slot_end)
ORDER BY rollup;
