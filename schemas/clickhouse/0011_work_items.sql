-- Every version of a customer's outreach work item (topic cx.work_items; schemas/work_items/v1), one
-- row per (work_item_id, version), inserted idempotently like cx.alerts. cx.work_items_current is
-- each item's newest version; cx.work_list the items the team works from (not closed, outreach allowed).
CREATE TABLE IF NOT EXISTS cx.work_items
(
    work_item_id      String,
    version           UInt32,
    state             LowCardinality(String),
    customer_id       String,
    identifiers       String COMMENT 'JSON object kind -> value; empty for do-not-contact customers',
    do_not_contact    Bool,
    outreach          Bool,
    priority          Float64,
    escalated         Bool,
    alert_ids         String COMMENT 'JSON array: the open alerts, highest priority first',
    rules             String COMMENT 'JSON array',
    reasons           String COMMENT 'JSON array',
    suggested_actions String COMMENT 'JSON array, in priority order',
    holder            String,
    team              LowCardinality(String),
    channel           LowCardinality(String),
    opened_at         DateTime64(3, 'UTC'),
    changed_at        DateTime64(3, 'UTC'),
    claimed_at        Nullable(DateTime64(3, 'UTC')),
    first_claimed_at  Nullable(DateTime64(3, 'UTC')),
    first_attempt_at  Nullable(DateTime64(3, 'UTC')),
    attempts          UInt32,
    last_outcome      LowCardinality(String),
    snoozed_until     Nullable(DateTime64(3, 'UTC')),
    expired_claims    UInt32,
    closed_at         Nullable(DateTime64(3, 'UTC')),
    resolution        LowCardinality(String),
    action            String COMMENT 'JSON: the verdict on the action applied in this version, or null',
    detected_at       DateTime64(3, 'UTC'),
    stored_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(opened_at)
ORDER BY (work_item_id, version)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE VIEW IF NOT EXISTS cx.work_items_current AS
SELECT * EXCEPT (rn)
FROM (SELECT *, row_number() OVER (PARTITION BY work_item_id ORDER BY version DESC) AS rn FROM cx.work_items FINAL)
WHERE rn = 1;

CREATE VIEW IF NOT EXISTS cx.work_list AS
SELECT * FROM cx.work_items_current WHERE state != 'closed' AND outreach ORDER BY priority DESC, opened_at;
