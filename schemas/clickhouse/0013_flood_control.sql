-- Flood control (docs/flood-control.md). Work items gain the contact policy's hold (state `held`,
-- held_reason, eligible_at) and the team whose list they go to; cx.outreach_dispatch stores each
-- item's place on that list (topic cx.outreach.dispatch): waiting, listed, closed or withdrawn.
ALTER TABLE cx.work_items ADD COLUMN IF NOT EXISTS assigned_team LowCardinality(String) DEFAULT '' AFTER escalated;
ALTER TABLE cx.work_items ADD COLUMN IF NOT EXISTS held_reason LowCardinality(String) DEFAULT '' AFTER assigned_team;
ALTER TABLE cx.work_items ADD COLUMN IF NOT EXISTS eligible_at Nullable(DateTime64(3, 'UTC')) AFTER held_reason;

CREATE TABLE IF NOT EXISTS cx.outreach_dispatch
(
    work_item_id String,
    customer_id  String,
    team         LowCardinality(String),
    status       LowCardinality(String) COMMENT 'waiting | listed | closed | withdrawn (do-not-contact since)',
    priority     Float64,
    at           DateTime64(3, 'UTC') COMMENT 'event time of the decision (the team''s clock)',
    seq          UInt64 COMMENT 'the team''s decision count: their order',
    listed_at    Nullable(DateTime64(3, 'UTC')),
    stored_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (work_item_id, status, at)
SETTINGS non_replicated_deduplication_window = 1000;

-- Views re-created so that they show the new columns.
DROP VIEW IF EXISTS cx.work_list;
DROP VIEW IF EXISTS cx.work_items_current;

CREATE VIEW cx.work_items_current AS
SELECT * EXCEPT (rn)
FROM (SELECT *, row_number() OVER (PARTITION BY work_item_id ORDER BY version DESC) AS rn FROM cx.work_items FINAL)
WHERE rn = 1;

-- Each item's place now: places only move forward (waiting -> listed -> closed|withdrawn).
CREATE VIEW IF NOT EXISTS cx.outreach_places AS
SELECT work_item_id, any(customer_id) AS customer_id, any(team) AS team,
       argMax(status, multiIf(status = 'waiting', 1, status = 'listed', 2, 3)) AS status,
       max(priority) AS priority, min(at) AS since, max(listed_at) AS listed_at
FROM cx.outreach_dispatch FINAL
GROUP BY work_item_id;

-- What the team works from: the items on its list, not closed.
CREATE VIEW cx.work_list AS
SELECT w.*, p.listed_at AS listed_at
FROM cx.work_items_current AS w
INNER JOIN (SELECT work_item_id, listed_at FROM cx.outreach_places WHERE status = 'listed') AS p USING (work_item_id)
WHERE w.state != 'closed' AND w.outreach
ORDER BY w.priority DESC, w.opened_at;

-- Items waiting for room on their team's list, with their position (1 = next in).
CREATE VIEW IF NOT EXISTS cx.outreach_waiting AS
SELECT team, row_number() OVER (PARTITION BY team ORDER BY priority DESC, since, work_item_id) AS position,
       work_item_id, customer_id, priority, since
FROM cx.outreach_places
WHERE status = 'waiting';
