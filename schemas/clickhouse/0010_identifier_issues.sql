-- Identifiers with no normal form (a withheld caller ID, an impossible phone number, a malformed
-- email or social handle), kept raw on their event instead of refusing it. Parallel arrays, one
-- element per refused identifier, so the boards count them without unpacking anything
-- (countIf(has(identifier_issue_reasons, 'withheld'))) and ARRAY JOIN lists them. The identifiers
-- themselves are not in the kind columns nor in customer_key: they are never used for stitching.
ALTER TABLE cx.events ADD COLUMN IF NOT EXISTS identifier_issue_kinds Array(LowCardinality(String)) COMMENT 'identifier kinds (phone, email, social)' AFTER social;
ALTER TABLE cx.events ADD COLUMN IF NOT EXISTS identifier_issue_reasons Array(LowCardinality(String)) COMMENT 'withheld | invalid | malformed, per kind' AFTER identifier_issue_kinds;
ALTER TABLE cx.events ADD COLUMN IF NOT EXISTS identifier_issue_values Array(String) COMMENT 'the values as sent, per kind' AFTER identifier_issue_reasons;
