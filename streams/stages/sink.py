"""Sink stage: topics -> ClickHouse tables, in batches, offsets committed only after the store.

"Store the batch, then commit the offsets": every topic is read by a batch source
(streams.runtime.batch_source) that awaits `BatchStore.store` (retried with backoff while the
warehouse is down, which also stops consumption: backpressure instead of memory growth), and only
then commits the batch's offsets.
A replayed batch is harmless: the insert deduplication token (content hash) makes an exact retry
a no-op, the tables' ReplacingMergeTree keys collapse any other replayed row, and rows the table holds
already are left out of the insert, so the views that count see them once (streams.warehouse.replays).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Callable

import orjson
from aiokafka import TopicPartition

from streams.domain.deadletter import read_detail
from streams.domain.records import IDENTIFIER_PRIORITY, CxEvent, decode_resolved
from streams.process import metrics
from streams.process.redact import redact
from streams.runtime.batch_source import BatchSource
from streams.runtime.envelopes import unpack
from streams.runtime.topics import sink_record_tables
from streams.warehouse import Warehouse, WarehouseError, replays, rollups

log = logging.getLogger(__name__)


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def event_row(ev: CxEvent, partition: int, offset: int) -> dict[str, Any]:
    row = {
        "event_time": ev.time, "source": ev.source, "event_id": ev.id, "type": ev.type,
        "channel": ev.channel, "customer_key": ev.customer_key, "customer": ev.resolved_customer,
        "contact_id": ev.contact_id, "queue": ev.queue, "agent_id": ev.agent_id,
        "direction": ev.direction, "subject": ev.subject,
        "attributes": orjson.dumps(ev.attributes).decode(), "mode": ev.mode, "origin": ev.origin,
        "received_at": _ts(ev.received_at), "kafka_partition": partition, "kafka_offset": offset,
    }
    for kind in IDENTIFIER_PRIORITY:
        row[kind] = ev.customer.get(kind, "")
    issues = ev.identifier_issues
    row["identifier_issue_kinds"] = [i.kind for i in issues]
    row["identifier_issue_reasons"] = [i.reason for i in issues]
    row["identifier_issue_values"] = [i.raw for i in issues]
    return row


def dead_letter_row(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]],
                    partition: int, offset: int, pseudonymized: bool = False) -> dict[str, Any]:
    """The cx.dead_letters row; pseudonymized, its readable columns (detail, preview) lose identifiers
    as logs do: the payload kept for replay is the one place raw values live (docs/pseudonymization.md)."""
    detail = read_detail(headers)
    value = value or b""
    readable = redact if pseudonymized else str
    return {
        "published_at": _ts(detail.get("published_at", 0.0)),
        "rejected_at": _ts(detail.get("rejected_at", 0.0)),
        "reason": detail.get("reason", "unknown"), "detail": readable(detail.get("detail", "")),
        "path": detail.get("path", ""), "stage": detail.get("stage", ""),
        "origin": detail.get("origin", f"?:{partition}:{offset}"),
        "source": detail.get("source", ""), "event_id": detail.get("id", ""),
        "message_key": base64.b64encode(key or b"").decode(),
        "payload_base64": base64.b64encode(value).decode(), "payload_size": len(value),
        "payload_preview": readable(value[:512].decode("utf-8", "replace")),
        "headers": orjson.dumps([[n, base64.b64encode(v or b"").decode()] for n, v in headers]).decode(),
        "kafka_partition": partition, "kafka_offset": offset,
    }


def link_row(record: dict[str, Any]) -> dict[str, Any]:
    """A cx.identity.links record (JSON) as a cx.identity_links row."""
    row = dict(record)
    for key in ("first_seen", "changed_at"):
        row[key] = datetime.fromisoformat(row[key])
    return row


def alert_row(record: dict[str, Any]) -> dict[str, Any]:
    """A cx.alerts record (JSON) as a cx.alerts row."""
    row = dict(record)
    row.setdefault("resolved_by", "")  # a change made by a worker before 2026-12-07
    row["identifiers"] = orjson.dumps(record["identifiers"]).decode()
    for key in ("since", "threshold_at", "changed_at", "detected_at"):
        row[key] = datetime.fromisoformat(row[key])
    return row


def work_item_row(record: dict[str, Any]) -> dict[str, Any]:
    """A cx.work_items record (JSON) as a cx.work_items row: lists and the action verdict as JSON, no NULL times."""
    row = dict(record)
    for key in ("identifiers", "alert_ids", "rules", "reasons", "suggested_actions", "action"):
        row[key] = orjson.dumps(record[key]).decode()
    for key in ("opened_at", "changed_at", "claimed_at", "first_claimed_at", "first_attempt_at", "snoozed_until",
                "closed_at", "eligible_at", "detected_at"):
        row[key] = datetime.fromisoformat(row[key]) if row[key] else None
    return row


def dispatch_row(record: dict[str, Any]) -> dict[str, Any]:
    """A cx.outreach.dispatch record (JSON) as a cx.outreach_dispatch row."""
    row = dict(record)
    for key in ("at", "listed_at"):
        row[key] = datetime.fromisoformat(row[key]) if row[key] else None
    return row


def batch_token(table: str, keys: list[str]) -> str:
    """Same rows -> same token, so ClickHouse drops an exact retry; different rows never collide."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(table.encode())
    for key in keys:
        digest.update(b"\x00" + key.encode())
    return f"{table}-{digest.hexdigest()}"


def leads_rollup(shared: bool, assignment: set[TopicPartition] | None, resolved_topic: str) -> bool:
    """Whether this worker runs the rollups (streams.warehouse.rollups): a worker's own
    chDB, always; a ClickHouse server that workers share, the one holding the resolved topic's
    partition 0 (the next holder takes over after a rebalance, from the last slot saved)."""
    return not shared or (assignment is not None and TopicPartition(resolved_topic, 0) in assignment)


class _Lane:
    """A warehouse connection and the one thread it is used on (chDB and the driver are blocking),
    opened lazily on that thread (retried with the next call)."""

    def __init__(self, open_warehouse: Callable[[], Warehouse], name: str) -> None:
        self._open = open_warehouse
        self._warehouse: Warehouse | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"warehouse-{name}")

    def _with(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(warehouse, *args), on the lane's thread."""
        if self._warehouse is None:
            self._warehouse = self._open()
        return fn(self._warehouse, *args)

    def call(self, fn: Callable[[Warehouse], Any]) -> Any:
        """fn(warehouse) on the lane's thread, waited for by this thread."""
        return self.executor.submit(self._with, fn).result()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(warehouse, *args) on the lane's thread, awaited."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._with, fn, *args)

    def close(self) -> None:
        self.executor.submit(lambda: self._warehouse and self._warehouse.close()).result()
        self.executor.shutdown()


class BatchStore:
    """Writes batches through two warehouse connections, each on a thread of its own, and retries forever.

    cx.events inserts have a connection of their own: the end-to-end latency waits for them, and on
    one shared thread they waited behind the other tables' inserts, the rollups and the floor figures
    (e2e p99 1.0-1.5 s at 2,000 ev/s, docs/benchmarks.md). Every other call goes through the second
    one, in order. Both connections see the same tables (two chDB handles on one data path run their
    queries in parallel; a server gets two clients); a rollup reads a slot only once every insert
    that began in it has committed (streams.warehouse.rollups), as it does with several workers."""

    def __init__(self, open_warehouse: Callable[[], Warehouse], retry_initial: float, retry_max: float) -> None:
        self._events, self._other = _Lane(open_warehouse, "events"), _Lane(open_warehouse, "other")
        self.retry_initial, self.retry_max = retry_initial, retry_max

    def _lane(self, table: str) -> _Lane:
        return self._events if table == "cx.events" else self._other

    def call(self, fn: Callable[[Warehouse], Any]) -> Any:
        """Run fn(warehouse) on the second connection and wait (start-up and shutdown work)."""
        return self._other.call(fn)

    async def with_warehouse(self, fn: Callable[[Warehouse], Any]) -> Any:
        """Run fn(warehouse) on the second connection, after the calls submitted before it."""
        return await self._other.run(fn)

    async def store(self, table: str, rows: list[dict[str, Any]], token: str, replays_before: float = 0.0) -> None:
        """Insert `rows`, but those made before `replays_before` (wall clock) that the table holds
        already (streams.warehouse.replays)."""
        delay = self.retry_initial
        while True:
            started = time.perf_counter()
            try:
                stored = await self._lane(table).run(_insert, table, rows, token, replays_before)
            except (WarehouseError, OSError) as exc:
                metrics.STORE_FAILURES.labels(table=table).inc()
                log.warning("store into %s failed (%s); retrying in %.1fs", table, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            metrics.STORE_SECONDS.labels(table=table).observe(time.perf_counter() - started)
            metrics.BATCH_ROWS.labels(table=table).observe(len(rows))
            metrics.ROWS_STORED.labels(table=table).inc(stored)
            if stored < len(rows):
                metrics.REPLAYED_ROWS.labels(table=table).inc(len(rows) - stored)
                log.info("%s: %d of %d rows were stored before (a replay); left out", table, len(rows) - stored, len(rows))
            return

    def close(self) -> None:
        self._events.close()
        self._other.close()


def _insert(warehouse: Warehouse, table: str, rows: list[dict[str, Any]], token: str, replays_before: float) -> int:
    rows = replays.unstored(warehouse, table, rows, replays_before)
    warehouse.insert(table, rows, token)
    return len(rows)


def register(app, settings, topics, store: BatchStore) -> list[BatchSource]:
    # cx.events within batch_seconds (the end-to-end latency waits for it); the other tables less often
    # (records_batch_seconds): each insert is a query, views included, on the connection they share.
    size, within, records_within = settings.sink.batch_size, settings.sink.batch_seconds, settings.sink.records_batch_seconds
    end_to_end = metrics.Children(metrics.END_TO_END)

    # Resolved events are read by a batch source of their own, not a second Faust agent beside
    # detection: a Faust hop cost 2.0-2.4 s p50 of a live run's end-to-end latency at 1,451 ev/s
    # (benchmarks/harness.py, hops table) against 0.05 s for ingest's batch source, and a topic read
    # by two Faust agents kept a message's second reference after flow control cleared one queue
    # (docs/faust-pitfalls.md). Same delivery: stored, then committed.
    resolved = BatchSource(app, settings, "sink-events", [topics.resolved], size, within,
                           max_poll_interval=3600.0)

    roller = rollups.register(app, store, lambda: leads_rollup(
        bool(settings.clickhouse.url), resolved.consumer and resolved.consumer.assignment(), topics.resolved))

    async def store_events(batch) -> None:
        events = [(decode_resolved(value), m) for records in batch.values() for m in records for value in unpack(m.value)]
        rows = [event_row(ev, m.partition, m.offset) for ev, m in events]
        await store.store("cx.events", rows, batch_token("cx.events", [f"{r['source']}\x1f{r['event_id']}" for r in rows]),
                          resolved.assigned_at)
        now = time.time()
        for ev, _ in events:
            end_to_end(ev.channel).observe(now - ev.time.timestamp())
        roller.kick()  # the rollups, in a task of their own, while the next batch gathers

    @app.task
    async def sink_events() -> None:
        await resolved.run(store_events)

    # The other public topics (identity links, alerts, work items, dispatch decisions, both dead-letter
    # topics) in one batch source: as Faust agents each record cost Faust's per-message bookkeeping, a
    # fifth of the worker's CPU in an alert flood. Each table gets one insert per batch. A warehouse
    # outage holds a batch for as long as it lasts, hence the long poll interval: the group keeps its
    # partitions meanwhile.
    pseudonymized = settings.privacy.pseudonymize

    def json_row(to_row: Callable[[dict], dict]) -> Callable:
        return lambda m: to_row(orjson.loads(m.value))

    def dead_letter(m) -> dict:
        return dead_letter_row(m.key, m.value, list(m.headers or []), m.partition, m.offset, pseudonymized)

    rows_of: dict[str, tuple[Callable, Callable[[dict], str]]] = {  # table: (record -> row, row -> its key)
        "cx.identity_links": (json_row(link_row), lambda r: f"{r['identifier']}\x1f{r['version']}\x1f{r['status']}"),
        "cx.alerts": (json_row(alert_row), lambda r: f"{r['alert_id']}\x1f{r['version']}"),
        "cx.work_items": (json_row(work_item_row), lambda r: f"{r['work_item_id']}\x1f{r['version']}"),
        "cx.outreach_dispatch": (json_row(dispatch_row), lambda r: f"{r['work_item_id']}\x1f{r['status']}\x1f{r['at']}"),
        "cx.dead_letters": (dead_letter, lambda r: f"{r['origin']}/{r['reason']}"),
    }
    table_of = sink_record_tables(settings)
    records = BatchSource(app, settings, "sink-records", list(table_of), size, records_within,
                          max_poll_interval=3600.0)

    async def store_records(batch) -> None:
        rows: dict[str, list[dict]] = {}
        for tp, messages in batch.items():
            table = table_of[tp.topic]
            rows.setdefault(table, []).extend(map(rows_of[table][0], messages))
        for table, table_rows in rows.items():
            key = rows_of[table][1]
            await store.store(table, table_rows, batch_token(table, [key(r) for r in table_rows]), records.assigned_at)

    @app.task
    async def sink_records() -> None:
        await records.run(store_records)

    return [resolved, records]
