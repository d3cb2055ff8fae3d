-- Every valid, deduplicated event, normalized (UTC times, E.164 phones, lowercase emails).
-- ReplacingMergeTree on (channel, type, event_time, source, event_id): a replayed row has the same
-- key and collapses; query with FINAL (or GROUP BY source, event_id) for exact counts right after a
-- crash. The ORDER BY prefix serves the boards, which filter by channel/type and time.
CREATE TABLE IF NOT EXISTS cx.events
(
    event_time      DateTime64(3, 'UTC'),
    source          String,
    event_id        String,
    type            LowCardinality(String),
    channel         LowCardinality(String),
    customer_key    String COMMENT 'kind:value of the strongest identifier on the event',
    customer_id     String,
    account_id      String,
    email           String,
    phone           String,
    visitor_id      String,
    device_id       String,
    social          String,
    contact_id      String,
    queue           LowCardinality(String),
    agent_id        String,
    direction       LowCardinality(String),
    subject         String,
    attributes      String CODEC(ZSTD(3)) COMMENT 'JSON object; read with JSONExtract*',
    mode            LowCardinality(String) COMMENT 'CloudEvents Kafka binding mode: structured|binary',
    origin          String COMMENT 'topic:partition:offset of the inbound message',
    received_at     DateTime64(3, 'UTC') COMMENT 'ingest wall clock',
    stored_at       DateTime64(3, 'UTC') DEFAULT now64(3),
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (channel, type, event_time, source, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
