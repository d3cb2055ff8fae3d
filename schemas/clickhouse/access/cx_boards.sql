-- The read-only user Grafana's ClickHouse datasource uses (issue 18 item 4). It may read what the
-- boards show and nothing else: no raw identifier column (events' customer identifiers and
-- attributes, identity_links.identifier, alerts' and work items' identifiers) and no dead letter.
-- The boards read masked forms from the SQL SECURITY NONE views of migration 0014 (cx.board_*).
-- Applied by `cxpulse migrate` on a server when clickhouse.boards_password is set
-- (streams/warehouse/board_access.py fills in the password's SHA-256); every statement is
-- idempotent, and REVOKE ALL first makes the grants exactly these. tests/test_board_access.py runs
-- every board panel as this user (the GRANTs below, parsed from this file) on chDB.
-- readonly = 1: SELECT only, no setting changed, except the query timeout, which Grafana's
-- ClickHouse datasource sets on every query (max_execution_time). ALTER, not OR REPLACE: a
-- replaced profile gets a new id, and the user would be without it until the ALTER USER.
CREATE SETTINGS PROFILE IF NOT EXISTS cx_boards_profile;
ALTER SETTINGS PROFILE cx_boards_profile SETTINGS readonly = 1, max_execution_time = 60 CHANGEABLE_IN_READONLY;
CREATE USER IF NOT EXISTS cx_boards IDENTIFIED WITH sha256_hash BY '{password_sha256}' SETTINGS PROFILE 'cx_boards_profile';
ALTER USER cx_boards IDENTIFIED WITH sha256_hash BY '{password_sha256}' SETTINGS PROFILE 'cx_boards_profile';
REVOKE ALL ON *.* FROM cx_boards;
-- the boards' own views: masked identifiers, no free text
GRANT SELECT ON cx.board_open_alerts TO cx_boards;
GRANT SELECT ON cx.board_customer TO cx_boards;
GRANT SELECT ON cx.board_timeline TO cx_boards;
-- one customer's alerts (journey board): everything but the identifiers
GRANT SELECT(alert_id, version, rule, state, severity, priority, customer_id, channel, contact_id, since,
             threshold_at, changed_at, detected_at, reason, suggested_action, do_not_contact, outreach,
             resolution) ON cx.alerts TO cx_boards;
-- rollups and views without identifiers
GRANT SELECT ON cx.contact_progress TO cx_boards;
GRANT SELECT ON cx.alerts_per_minute TO cx_boards;
GRANT SELECT ON cx.contacts_per_minute TO cx_boards;
GRANT SELECT ON cx.contact_facts TO cx_boards;
GRANT SELECT ON cx.contacts_waiting TO cx_boards;
GRANT SELECT ON cx.customer_channels_daily TO cx_boards;
GRANT SELECT ON cx.journey_steps_per_minute TO cx_boards;
GRANT SELECT ON cx.outreach_effect_between TO cx_boards;
GRANT SELECT ON cx.outreach_effect_by_rule_between TO cx_boards;
GRANT SELECT ON cx.settings TO cx_boards;
