-- Every alert state change (topic cx.alerts), one row per (alert_id, version). The newest version
-- of an alert is its state now (cx.alerts_current); cx.open_alerts is what outreach works from.
CREATE TABLE IF NOT EXISTS cx.alerts
(
    alert_id          String,
    version           UInt32,
    rule              LowCardinality(String),
    state             LowCardinality(String),
    severity          LowCardinality(String),
    priority          Float64,
    customer_id       String,
    identifiers       String COMMENT 'JSON object kind -> value; empty for do-not-contact customers',
    channel           LowCardinality(String),
    contact_id        String,
    since             DateTime64(3, 'UTC'),
    threshold_at      DateTime64(3, 'UTC'),
    changed_at        DateTime64(3, 'UTC'),
    detected_at       DateTime64(3, 'UTC'),
    reason            String,
    suggested_action  String,
    do_not_contact    Bool,
    outreach          Bool,
    resolution        LowCardinality(String),
    stored_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(threshold_at)
ORDER BY (alert_id, version)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE VIEW IF NOT EXISTS cx.alerts_current AS
SELECT alert_id, latest_version AS version, first_detected_at,
       latest.1 AS rule, latest.2 AS state, latest.3 AS severity, latest.4 AS priority, latest.5 AS customer_id,
       latest.6 AS identifiers, latest.7 AS channel, latest.8 AS contact_id, latest.9 AS since,
       latest.10 AS threshold_at, latest.11 AS changed_at, latest.12 AS detected_at, latest.13 AS reason,
       latest.14 AS suggested_action, latest.15 AS do_not_contact, latest.16 AS outreach, latest.17 AS resolution
FROM
(
    SELECT alert_id,
           argMax((rule, state, severity, priority, customer_id, identifiers, channel, contact_id, since,
                   threshold_at, changed_at, detected_at, reason, suggested_action, do_not_contact, outreach,
                   resolution), version) AS latest,
           max(version) AS latest_version,
           min(detected_at) AS first_detected_at
    FROM cx.alerts
    GROUP BY alert_id
);

CREATE VIEW IF NOT EXISTS cx.open_alerts AS
SELECT * FROM cx.alerts_current WHERE state != 'resolved' ORDER BY priority DESC;
