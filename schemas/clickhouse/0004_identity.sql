-- Identity stitching (streams/identity.py). Every change of an identifier's customer is a row:
-- new identifiers, merges (a smaller customer id reached it), resets and over-cap identifiers, and
-- blocked values (version 0). The current customer of an identifier is its highest version.
CREATE TABLE IF NOT EXISTS cx.identity_links
(
    identifier           String COMMENT 'kind:value, normalized',
    kind                 LowCardinality(String),
    node_id              String COMMENT 'the customer id this identifier stands for when it is the earliest seen',
    customer_id          String COMMENT 'its customer after this change (empty for blocked values)',
    previous_customer_id String,
    status               LowCardinality(String) COMMENT 'linked | over_cap | blocked',
    change               LowCardinality(String) COMMENT 'new | merged | over_cap | blocked | republished',
    reason               String,
    epoch                UInt32,
    version              UInt64,
    first_seen           DateTime64(3, 'UTC'),
    changed_at           DateTime64(3, 'UTC'),
    stored_at            DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (identifier, version)
SETTINGS non_replicated_deduplication_window = 1000;

-- Identifier -> its customer now. Also maps any customer id ever stored on an event (node_id of
-- the identifier that was the label then) to today's customer id: the re-attribution of history.
CREATE VIEW IF NOT EXISTS cx.identity_map AS
SELECT identifier,
       any(kind)                      AS kind,
       any(node_id)                   AS node_id,
       argMax(customer_id, version)   AS customer_id,
       argMax(status, version)        AS status,
       min(first_seen)                AS first_seen,
       max(changed_at)                AS changed_at
FROM cx.identity_links
GROUP BY identifier;

-- The customer on each event as it was resolved when the event was processed.
ALTER TABLE cx.events ADD COLUMN IF NOT EXISTS customer String DEFAULT '' COMMENT 'canonical customer id when processed; cx.events_resolved maps it to today''s' AFTER customer_key;
ALTER TABLE cx.events ADD INDEX IF NOT EXISTS customer_bloom customer TYPE bloom_filter GRANULARITY 4;

-- Every event with today's customer id (merges after the event are applied), one row per event.
CREATE VIEW IF NOT EXISTS cx.events_resolved AS
SELECT e.* EXCEPT (customer),
       if(m.customer_id != '', m.customer_id, e.customer) AS customer,
       e.customer AS customer_when_processed
FROM cx.events AS e FINAL
LEFT JOIN (SELECT node_id, customer_id FROM cx.identity_map WHERE status != 'blocked') AS m ON m.node_id = e.customer;
