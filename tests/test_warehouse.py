"""Warehouse on the embedded engine: migrations once, idempotent batches, exact payload round trip."""

from __future__ import annotations

import base64
import datetime as dt
import io
import shutil
import subprocess
import sys

import orjson
import pytest

from streams.cli.output import write_result
from streams.domain.records import CxEvent
from streams.stages.sink import batch_token, dead_letter_row, event_row
from streams.warehouse import Result, WarehouseError
from streams.warehouse.migrate import applied, migrate, migrations


def _event(i: int) -> CxEvent:
    return CxEvent(source="/t", id=f"e{i}", type="cx.contact.message", time=dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC),
                   channel="chat", customer={"email": "a@b.co", "phone": "+12025550143"}, contact_id="c1",
                   attributes={"author": "customer", "n": i}, origin=f"cx.events:0:{i}", received_at=1_795_000_000.5)


def test_migrations_apply_once_and_are_recorded(chdb_warehouse):
    assert migrate(chdb_warehouse) == []
    assert set(applied(chdb_warehouse)) == {m.version for m in migrations()}


def test_an_edited_applied_migration_is_refused(chdb_warehouse, tmp_path):
    from streams.domain.contract import schemas_dir

    copy = tmp_path / "clickhouse"
    shutil.copytree(schemas_dir() / "clickhouse", copy)
    first = sorted(copy.glob("*.sql"))[-1]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(WarehouseError, match="changed after it was applied"):
        migrate(chdb_warehouse, copy)


def test_a_retried_batch_is_stored_once(warehouse):
    rows = [event_row(_event(i), 0, i) for i in range(50)]
    token = batch_token("cx.events", [f"{r['source']}\x1f{r['event_id']}" for r in rows])
    warehouse.insert("cx.events", rows, token)
    warehouse.insert("cx.events", rows, token)
    assert warehouse.query("SELECT count() FROM cx.events").scalar() == 50


def test_a_replayed_row_in_another_batch_collapses_under_final(warehouse):
    row = event_row(_event(1), 0, 1)
    warehouse.insert("cx.events", [row], batch_token("cx.events", ["a"]))
    warehouse.insert("cx.events", [{**row, "kafka_offset": 99}], batch_token("cx.events", ["b"]))
    assert warehouse.query("SELECT count() FROM cx.events FINAL").scalar() == 1


def test_event_rows_read_back(warehouse):
    warehouse.insert("cx.events", [event_row(_event(7), 2, 70)], "t-readback")
    row = warehouse.query("SELECT * FROM cx.events").dicts()[0]
    assert row["event_time"].startswith("2026-11-24 12:00:00")
    assert (row["email"], row["phone"], row["customer_key"]) == ("a@b.co", "+12025550143", "email:a@b.co")
    assert orjson.loads(row["attributes"]) == {"author": "customer", "n": 7}
    assert (row["kafka_partition"], row["kafka_offset"], row["origin"]) == (2, 70, "cx.events:0:7")


def test_identifier_issues_are_stored_beside_the_event_and_an_anonymous_call_waits(warehouse):
    """A withheld caller ID is kept raw in the issue columns; with no identifier left the call still waits on the floor."""
    from streams.domain.records import IdentifierIssue
    from streams.warehouse.queries import WAITING

    call = CxEvent(source="/t", id="q1", type="cx.contact.queued", time=dt.datetime.now(dt.UTC), channel="voice",
                   customer={}, contact_id="call-9", queue="support", origin="cx.events:0:1", received_at=1.0,
                   identifier_issues=[IdentifierIssue("phone", "withheld", "anonymous")])
    warehouse.insert("cx.events", [event_row(call, 0, 1), event_row(_event(2), 0, 2)], "t-issues")
    rows = warehouse.query("SELECT event_id, customer_key, phone, identifier_issue_kinds k, identifier_issue_reasons r, "
                           "identifier_issue_values v FROM cx.events ORDER BY event_id").rows
    assert rows == [("e2", "email:a@b.co", "+12025550143", [], [], []), ("q1", "", "", ["phone"], ["withheld"], ["anonymous"])]
    assert warehouse.query(WAITING.text).scalar() == 1


def test_dead_letter_payload_round_trips_exactly(warehouse):
    payload = b'{"id": "\xff\xfe broken'
    headers = [("ce_id", b"x"), ("cxpulse-dlq-reason", b"invalid_utf8"),
               ("cxpulse-dlq", orjson.dumps({"reason": "invalid_utf8", "detail": "bad byte", "origin": "cx.events:1:2",
                                              "stage": "ingest", "published_at": 1.5e9, "rejected_at": 1.6e9}))]
    warehouse.insert("cx.dead_letters", [dead_letter_row(b"k", payload, headers, 0, 3)], "t-dl")
    row = warehouse.query("SELECT * FROM cx.dead_letters FINAL").dicts()[0]
    assert base64.b64decode(row["payload_base64"]) == payload
    assert (row["reason"], row["origin"], row["payload_size"]) == ("invalid_utf8", "cx.events:1:2", len(payload))
    assert [base64.b64decode(v) for _, v in orjson.loads(row["headers"])][0] == b"x"


def test_output_formats():
    result = Result(["a", "b"], [("x\ty", None), ("line\nbreak", 3)])
    tsv, js = io.StringIO(), io.StringIO()
    write_result(result, "tsv", tsv)
    write_result(result, "json", js)
    assert tsv.getvalue() == "a\tb\nx\\ty\t\\N\nline\\nbreak\t3\n"
    assert [orjson.loads(line) for line in js.getvalue().splitlines()] == [{"a": "x\ty", "b": None}, {"a": "line\nbreak", "b": 3}]


KEEP_LOGS = """
import sys
from pathlib import Path
from streams.warehouse.embedded import LOG_DATABASE, ChdbWarehouse
warehouse = ChdbWarehouse(Path(sys.argv[1]), keep_logs=True)
second = ChdbWarehouse(Path(sys.argv[1]), keep_logs=True)  # a worker's two handles (streams.stages.sink.BatchStore)
warehouse.execute("CREATE TABLE default.t (n UInt64) ENGINE = MergeTree ORDER BY n")
warehouse.execute("INSERT INTO default.t SELECT number FROM numbers(10)")
warehouse.close()
second.close()
warehouse = ChdbWarehouse(Path(sys.argv[1]))
print(sorted(k for (k,) in warehouse.query(
    f"SELECT query_kind FROM {LOG_DATABASE}.query_log WHERE type = 'QueryFinish' AND has(tables, 'default.t')").rows))
print(warehouse.query(f"SELECT count() FROM {LOG_DATABASE}.part_log WHERE table = 't'").scalar())
warehouse.close()
"""


def test_chdbs_own_logs_are_kept_across_a_close_when_asked(tmp_path):
    """benchmarks/profile_pipeline.py reads what each query cost after the worker stopped: chDB holds
    its system logs in memory, so the close copies them into the data directory, once however many of
    the process's handles close. (A process of its own: chDB opens one data path per process, and the
    tests share one.)"""
    out = subprocess.run([sys.executable, "-c", KEEP_LOGS, str(tmp_path)], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert out[0] == "['Create', 'Insert']"
    assert int(out[1]) > 0
