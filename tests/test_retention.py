"""Retention: [retention] validated at start, applied as ClickHouse TTLs, rows gone after a merge."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from streams.cli.dlq import replay
from streams.config import ConfigError, RetentionSettings, Settings, load_settings
from streams.runtime.topics import retention_ms
from streams.warehouse import retention, rollups

KEEP_ALL = RetentionSettings(**{key: 0 for key in msgspec.structs.asdict(RetentionSettings())})


@pytest.fixture
def ttl_warehouse(warehouse):
    """The session engine; its TTLs removed afterwards, so other tests' old rows survive merges."""
    yield warehouse
    retention.apply(warehouse, KEEP_ALL)


# --- configuration ------------------------------------------------------------------------------

def test_file_and_environment_set_retention(tmp_path):
    file = tmp_path / "cxpulse.toml"
    file.write_text("[retention]\nevents_days = 30\ndead_letter_payloads_days = 3\n")
    settings = load_settings(file, environ={"CXPULSE_RETENTION_ALERTS_DAYS": "60"})
    assert (settings.retention.events_days, settings.retention.dead_letter_payloads_days,
            settings.retention.alerts_days) == (30, 3, 60)


@pytest.mark.parametrize("env, names", [
    ({"CXPULSE_RETENTION_EVENTS_DAYS": "-1"}, "retention.events_days"),
    ({"CXPULSE_RETENTION_ROLLUPS_DAYS": "ninety"}, "retention.rollups_days"),
    ({"CXPULSE_RETENTION_DEAD_LETTER_PAYLOADS_DAYS": "91"}, "dead_letter_payloads_days (91) must not exceed"),
    ({"CXPULSE_RETENTION_DEAD_LETTERS_DAYS": "10", "CXPULSE_RETENTION_DEAD_LETTER_PAYLOADS_DAYS": "0"},
     "dead_letter_payloads_days (for ever) must not exceed dead_letters_days (10)"),
    ({"CXPULSE_RETENTION_IDENTITY_LINKS_DAYS": "30"}, "identity_links_days (30) must be 0 or at least events_days"),
    ({"CXPULSE_RETENTION_EVENTS_DAYS": "0"}, "at least events_days (for ever)"),
    ({"CXPULSE_RETENTION_WORK_ITEMS_DAYS": "7"}, "retention.work_items_days (7 days) must exceed ingest.max_age_seconds"),
    ({"CXPULSE_RETENTION_EVENTS_DAYS": "20", "CXPULSE_INGEST_MAX_AGE_SECONDS": str(21 * 86400)},
     "retention.events_days (20 days) must exceed ingest.max_age_seconds"),
    ({"CXPULSE_RETENTION_EVENT_DAYS": "30"}, "[retention] has no key 'event_days'"),
])
def test_a_retention_that_cannot_work_fails_at_start_naming_the_key(env, names):
    with pytest.raises(ConfigError) as refused:
        load_settings(environ=env)
    assert names in str(refused.value)


@given(payloads=st.integers(0, 400), rows=st.integers(0, 400))
def test_a_payload_never_outlives_its_dead_letter(payloads, rows):
    env = {"CXPULSE_RETENTION_DEAD_LETTER_PAYLOADS_DAYS": str(payloads), "CXPULSE_RETENTION_DEAD_LETTERS_DAYS": str(rows)}
    kept_no_longer = rows == 0 or 0 < payloads <= rows
    try:
        load_settings(environ=env)
        assert kept_no_longer
    except ConfigError:
        assert not kept_no_longer


def test_topics_keep_what_their_table_keeps():
    settings = load_settings(environ={"CXPULSE_RETENTION_ALERTS_DAYS": "0", "CXPULSE_KAFKA_INPUT_TOPICS": "a,b"})
    day = 86_400_000
    assert retention_ms(settings) == {"a": 90 * day, "b": 90 * day, "cx.events.dlq": 14 * day,
                                      "cx.alerts.undelivered": 14 * day, "cx.identity.links": 400 * day,
                                      "cx.alerts": -1, "cx.work_items": 180 * day}


# --- ClickHouse TTLs (chDB) ------------------------------------------------------------------------

def test_every_table_gets_the_ttl_of_its_setting_once(ttl_warehouse):
    distinct = RetentionSettings(events_days=31, contacts_days=32, identity_links_days=40, alerts_days=33,
                                 work_items_days=34, dead_letters_days=35, dead_letter_payloads_days=9, rollups_days=36)
    changed = retention.apply(ttl_warehouse, distinct)
    assert set(changed) == set(retention.TABLES) | {f"cx.dead_letters.{c}" for c in retention.PAYLOAD_COLUMNS}
    for table, (key, _) in retention.TABLES.items():
        assert retention.current_days(ttl_warehouse, table) == getattr(distinct, key), table
    for column in retention.PAYLOAD_COLUMNS:
        assert retention.current_days(ttl_warehouse, "cx.dead_letters", column) == 9
    assert retention.current_days(ttl_warehouse, "cx.dead_letters", "reason") == 0
    assert retention.apply(ttl_warehouse, distinct) == []  # a rerun changes nothing
    distinct.alerts_days = 50
    assert retention.apply(ttl_warehouse, distinct) == ["cx.alerts"]
    assert retention.current_days(ttl_warehouse, "cx.alerts") == 50
    assert len(retention.apply(ttl_warehouse, KEEP_ALL)) == len(changed)
    assert all(retention.current_days(ttl_warehouse, t) == 0 for t in retention.TABLES)


@hypothesis_settings(max_examples=8)
@given(days=st.lists(st.integers(0, 36500), min_size=2, max_size=4))
def test_the_ttl_read_back_is_the_one_set(chdb_warehouse, days):
    """What apply compares with is parsed from ClickHouse's own CREATE query: any sequence of
    settings reads back as set, for a table TTL and a column TTL."""
    try:
        for d in days:
            wanted = msgspec.structs.replace(KEEP_ALL, work_items_days=d, dead_letters_days=d,
                                             dead_letter_payloads_days=d)
            retention.apply(chdb_warehouse, wanted)
            assert retention.current_days(chdb_warehouse, "cx.work_items") == d
            assert retention.current_days(chdb_warehouse, "cx.dead_letters", "payload_preview") == d
            assert retention.apply(chdb_warehouse, wanted) == []
    finally:
        retention.apply(chdb_warehouse, KEEP_ALL)


def test_whole_part_dropping_left_by_earlier_versions_is_reset(ttl_warehouse):
    ttl_warehouse.execute("ALTER TABLE cx.alerts_per_minute MODIFY SETTING ttl_only_drop_parts = 1")
    retention.apply(ttl_warehouse, Settings().retention)
    assert "ttl_only_drop_parts" not in retention._create_query(ttl_warehouse, "cx.alerts_per_minute")


TTL, PAYLOAD_TTL = 30, 10


def _rows(at: dt.datetime, tag: str) -> dict[str, list[dict]]:
    """One row for every table a test inserts into directly, dated `at` (by each table's TTL column)."""
    t = at.strftime("%Y-%m-%d %H:%M:%S")
    customer = f"c_{tag}"
    return {
        "cx.events": [  # also feed cx.contact_facts and every rollup (streams/warehouse/rollups.py)
            {"event_time": t, "source": "/t", "event_id": f"{tag}-q", "type": "cx.contact.queued", "channel": "voice",
             "customer": customer, "contact_id": f"k-{tag}", "queue": "billing"},
            {"event_time": t, "source": "/t", "event_id": f"{tag}-j", "type": "cx.journey.step", "channel": "web",
             "customer": customer, "attributes": '{"journey":"j","step":"s","status":"entered"}'}],
        "cx.alerts": [{"alert_id": f"al-{tag}", "version": 1, "rule": "long_queue_wait", "state": "open",
                       "severity": "warning", "customer_id": customer, "channel": "voice", "since": t,
                       "threshold_at": t, "changed_at": t, "detected_at": t}],
        "cx.identity_links": [{"identifier": f"email:{tag}@x.test", "kind": "email", "node_id": customer,
                               "customer_id": customer, "status": "linked", "change": "new", "version": 1,
                               "first_seen": t, "changed_at": t}],
        "cx.work_items": [{"work_item_id": f"wi-{tag}", "version": 1, "state": "open", "customer_id": customer,
                           "opened_at": t, "changed_at": t, "detected_at": t}],
        "cx.dead_letters": [{"published_at": t, "rejected_at": t, "reason": "schema", "detail": "d", "origin": f"o-{tag}",
                             "message_key": "a2V5", "payload_base64": "e30=", "payload_size": 2,
                             "payload_preview": "{}", "headers": "[]"}],
    }


def test_rows_older_than_the_ttl_are_gone_after_a_merge(ttl_warehouse):
    """The must-show: a fixed clock, rows dated either side of each TTL, OPTIMIZE ... FINAL."""
    w = ttl_warehouse
    settings = RetentionSettings(**{k: TTL for k in msgspec.structs.asdict(KEEP_ALL)})
    settings.dead_letter_payloads_days = PAYLOAD_TTL
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ages = {"expired": TTL + 2, "payload_expired": PAYLOAD_TTL + 2, "kept": PAYLOAD_TTL - 2}
    for tag, days in ages.items():  # stored before the TTL is set (rows expired on arrival may go at once)
        for table, rows in _rows(now - dt.timedelta(days=days), tag).items():
            w.insert(table, rows, token=f"retention-{tag}-{table}")
    rollups.flush(w)
    retention.apply(w, settings)

    def rows_by_table() -> dict[str, int]:
        return {t: w.query(f"SELECT count() FROM {t}").scalar() for t in retention.TABLES}

    before = rows_by_table()
    assert all(before.values()), before  # every table with a TTL has rows of each age to lose or keep
    for table in retention.TABLES:
        w.execute(f"OPTIMIZE TABLE {table} FINAL")
    after = rows_by_table()
    print("rows before -> after OPTIMIZE FINAL:", {t: f"{before[t]} -> {after[t]}" for t in before})
    # the views write one row per age (per minute, day, contact), so a third of every table expired
    assert after == {t: n * 2 // 3 for t, n in before.items()}, (before, after)
    cutoff = (now - dt.timedelta(days=TTL)).strftime("%Y-%m-%d %H:%M:%S")
    older = {t: w.query(f"SELECT countIf(toDateTime({c}) < toDateTime('{cutoff}', 'UTC')) FROM {t}").scalar()
             for t, (_, c) in retention.TABLES.items()}
    assert set(older.values()) == {0}, older
    letters = w.query("SELECT origin, reason, detail, payload_size, message_key, payload_base64, payload_preview, headers "
                      "FROM cx.dead_letters ORDER BY origin").rows
    assert letters == [("o-kept", "schema", "d", 2, "a2V5", "e30=", "{}", "[]"),
                       ("o-payload_expired", "schema", "d", 2, "", "", "", "")]
    assert replay(Settings(), w, reason=None, origin=None, limit=10, dry_run=True) == 1  # nothing left to replay


def test_cxpulse_migrate_applies_and_changes_the_ttls(tmp_path):
    def migrate(**env):
        environ = {**os.environ, "CXPULSE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(Path(__file__).parents[1]),
                   **env}
        done = subprocess.run([sys.executable, "-m", "streams.cli", "migrate"], cwd=tmp_path, env=environ,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return [line for line in done.stdout.splitlines() if line.startswith("retention ")]

    assert len(migrate()) == len(retention.TABLES) + len(retention.PAYLOAD_COLUMNS)
    assert migrate() == []
    assert migrate(CXPULSE_RETENTION_EVENTS_DAYS="60") == ["retention cx.events"]
    refused = subprocess.run([sys.executable, "-m", "streams.cli", "migrate"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]),
                                                          "CXPULSE_RETENTION_EVENTS_DAYS": "3"})
    assert refused.returncode == 2 and "retention.events_days (3 days)" in refused.stderr
