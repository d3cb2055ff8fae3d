-- cx.contact_facts, cx.journey_steps_per_minute and cx.customer_channels_daily rolled up per slot of
-- store time (streams/warehouse/rollups.py), as the contact KPIs are since 0017, instead of by
-- materialized views on every cx.events insert. chDB analyses and plans each view's query on every
-- insert, whatever its rows: these three and cx.kpi_inbox_mv were half of a 650-row insert's cost
-- (59.0 ms with every view, 29.8 with cx.contact_progress_mv alone; docs/benchmarks.md), and the sink
-- inserts several times a second. cx.contact_progress keeps its view: the live floor reads the
-- contacts waiting now from it.
--
-- The rollups read a slot's events from cx.events by stored_at (one value per insert), through this
-- min-max index: a slot reads the parts and granules of its inserts, not the table.
ALTER TABLE cx.events ADD INDEX IF NOT EXISTS stored_at_minmax stored_at TYPE minmax GRANULARITY 1;

ALTER TABLE cx.events MATERIALIZE INDEX stored_at_minmax;

DROP VIEW IF EXISTS cx.contact_facts_mv;

DROP VIEW IF EXISTS cx.journey_steps_per_minute_mv;

DROP VIEW IF EXISTS cx.customer_channels_daily_mv;

-- The KPI rollup reads the slot's contacts and survey responses from cx.events too.
DROP VIEW IF EXISTS cx.kpi_inbox_mv;

DROP TABLE IF EXISTS cx.kpi_inbox;

-- The new rollups start after the last event the views handled; the KPI rollup goes on from its own
-- watermark. (A worker of an older version that still leads the KPI rollup on a shared server finds
-- no cx.kpi_inbox and retries until one of this version leads: no slot is skipped.)
INSERT INTO cx.kpi_rollups (rollup, slot_end)
SELECT name, (SELECT max(stored_at) FROM cx.events)
FROM (SELECT arrayJoin(['contact_facts', 'journey_steps_per_minute', 'customer_channels_daily']) AS name);
