-- Erasure receipts (docs/erasure.md), one per erasure: what `cxpulse forget` or a
-- cx.privacy.erasure_requested event erased, where and when. Identifiers only as keyed hashes.
CREATE TABLE IF NOT EXISTS cx.erasures
(
    erasure_id   String,
    status       LowCardinality(String) COMMENT 'erased | already_erased | unknown',
    requested_at DateTime64(3, 'UTC'),
    completed_at DateTime64(3, 'UTC'),
    identifiers  Array(String) COMMENT 'kind:HMAC-SHA256 of each identifier erased',
    receipt      String COMMENT 'the receipt as published on cx.privacy.erasures (JSON)',
    stored_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY erasure_id;
