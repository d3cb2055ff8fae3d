-- Every refused inbound message with its reason. The payload is kept exactly (base64) so
-- `cxpulse dlq replay` can republish it after the cause is fixed; payload_preview is for people.
CREATE TABLE IF NOT EXISTS cx.dead_letters
(
    published_at     DateTime64(3, 'UTC') COMMENT 'Kafka timestamp of the inbound message',
    rejected_at      DateTime64(3, 'UTC'),
    reason           LowCardinality(String),
    detail           String,
    path             String COMMENT 'JSON pointer of the offending value, when known',
    stage            LowCardinality(String),
    origin           String COMMENT 'topic:partition:offset of the inbound message',
    source           String,
    event_id         String,
    message_key      String COMMENT 'base64',
    payload_base64   String CODEC(ZSTD(3)),
    payload_size     UInt32,
    payload_preview  String COMMENT 'first 512 bytes, invalid UTF-8 replaced',
    headers          String COMMENT 'JSON [[name, base64 value], ...] as sent',
    stored_at        DateTime64(3, 'UTC') DEFAULT now64(3),
    kafka_partition  UInt32,
    kafka_offset     UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(published_at)
ORDER BY (origin, reason)
SETTINGS non_replicated_deduplication_window = 1000;
