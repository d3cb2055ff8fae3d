-- The cx database and the ledger of applied migrations (cxpulse migrate reads it).
CREATE DATABASE IF NOT EXISTS cx;

CREATE TABLE IF NOT EXISTS cx.schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version;
