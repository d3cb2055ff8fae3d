"""Detection stage: per-customer state, event-time timers, alert changes on cx.alerts.

Records in: resolved `CxEvent` envelopes routed by customer, and clock ticks (one per partition
every `detect.tick_seconds`) on a co-partitioned topic, read by one batch source, so timer work runs
inside batch handling like any event and its table writes land on the right changelog partition.
Timers due by the watermark fire after every message; the ticks are for partitions with no events.
A customer with several events in one envelope is folded once and evaluated once after them;
the table is written once per customer and batch.

Time: each partition's watermark is the newest event time it has seen minus the allowed
lateness; in `live` mode it also follows the wall clock minus the allowed lateness, so a
customer waiting alone is alerted on time. A customer is re-evaluated when one of their events
arrives and when the watermark passes the next time one of their findings changes (a per
partition heap of due times, rebuilt from the table after recovery). Events later than the
watermark still update the state; the alerts they would have prevented may already be out.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import defaultdict

import orjson

from streams.domain.detect.advance import advance, due_at
from streams.domain.detect.lifecycle import Change, findings_of
from streams.domain.detect.rules_config import load_rules
from streams.domain.detect.state import CustomerState, apply, decode_state, encode, forget_before
from streams.domain.detect.work_items import WorkItem
from streams.domain.records import decode_resolved
from streams.domain.times import rfc3339_at, rfc3339_or_none
from streams.process import metrics
from streams.process.connections import kafka_client_config
from streams.runtime.batch_source import Batch, BatchSource
from streams.runtime.envelopes import unpack
from streams.runtime.state import Table
from streams.stages import detect_outbox as outbox
from streams.stages import forget

log = logging.getLogger(__name__)
TICK = b"tick"


def alert_record(state: CustomerState, change: Change, now: float) -> dict:
    """The public record (schemas/alerts/v1/alert.schema.json)."""
    a = change.alert
    return {
        "alert_id": a.alert_id, "rule": a.rule, "state": a.state, "severity": a.severity, "priority": a.priority,
        "customer_id": state.customer, "identifiers": {} if state.do_not_contact else dict(state.identifiers),
        "channel": a.channel, "contact_id": a.contact_id, "since": rfc3339_at(a.since), "threshold_at": rfc3339_at(a.opened_at),
        "changed_at": rfc3339_at(change.at), "detected_at": rfc3339_at(now), "reason": a.reason,
        "suggested_action": a.suggested_action, "do_not_contact": state.do_not_contact,
        "outreach": not state.do_not_contact, "resolution": a.resolution, "resolved_by": a.resolved_by,
        "version": a.version,
    }


def work_item_record(state: CustomerState, item: WorkItem, now: float) -> dict:
    """The public record (schemas/work_items/v1/work_item.schema.json)."""
    at = rfc3339_or_none
    v = item.verdict
    return {
        "work_item_id": item.item_id, "version": item.version, "state": item.state, "customer_id": state.customer,
        "identifiers": {} if state.do_not_contact else dict(state.identifiers), "do_not_contact": state.do_not_contact,
        "outreach": not state.do_not_contact, "priority": item.priority, "escalated": item.escalated,
        "assigned_team": item.assigned_team, "held_reason": item.held_reason, "eligible_at": at(item.eligible_at),
        "alert_ids": [a.alert_id for a in item.alerts], "rules": [a.rule for a in item.alerts],
        "reasons": [a.reason for a in item.alerts],
        "suggested_actions": list(dict.fromkeys(a.suggested_action for a in item.alerts if a.suggested_action)),
        "holder": item.holder, "team": item.team, "channel": item.channel, "opened_at": at(item.opened_at),
        "changed_at": at(item.changed_at), "claimed_at": at(item.claimed_at),
        "first_claimed_at": at(item.first_claimed_at), "first_attempt_at": at(item.first_attempt_at),
        "attempts": item.attempts, "last_outcome": item.last_outcome, "snoozed_until": at(item.snoozed_until),
        "expired_claims": item.expired_claims, "closed_at": at(item.closed_at), "resolution": item.resolution,
        "action": None if v is None else {"event_id": v.event_id, "kind": v.kind, "agent": v.agent,
                                           "accepted": v.accepted, "reason": v.reason},
        "detected_at": rfc3339_at(now),
    }


class Clock:
    """Watermarks and due-time heaps per partition.

    A customer has at most one live heap entry, its earliest due time (`next`): re-evaluating a
    customer on every event used to push an entry each time, and entries due days later (expiry
    of a channel-hopping window) piled up by the million in a soak run. Superseded entries are
    skipped when they surface; the evaluation at the earliest due time schedules the next one.
    """

    def __init__(self, lateness: float, live: bool) -> None:
        self.lateness, self.live = lateness, live
        self.newest: dict[int, float] = {}
        self.due: dict[int, list[tuple[float, str]]] = defaultdict(list)
        self.next: dict[str, float] = {}

    def saw(self, partition: int, event_time: float) -> None:
        if event_time > self.newest.get(partition, float("-inf")):
            self.newest[partition] = event_time

    def watermark(self, partition: int, wall: float) -> float:
        w = self.newest.get(partition, float("-inf")) - self.lateness
        return max(w, wall - self.lateness) if self.live else w

    def schedule(self, partition: int, at: float | None, customer: str) -> None:
        if at is not None and at < self.next.get(customer, float("inf")):
            self.next[customer] = at
            heapq.heappush(self.due[partition], (at, customer))

    def pop_due(self, partition: int, watermark: float) -> list[str]:
        heap, out = self.due[partition], []
        while heap and heap[0][0] <= watermark:
            at, customer = heapq.heappop(heap)
            if self.next.get(customer) == at:
                del self.next[customer]
                out.append(customer)
        return out

    def clear(self) -> None:
        self.due.clear()
        self.next.clear()

    def pending(self) -> int:
        return sum(len(heap) for heap in self.due.values())


def register(app, settings, topics) -> BatchSource:
    d, k = settings.detect, settings.kafka
    rules = load_rules(d.rules_file or None)
    clock = Clock(d.allowed_lateness_seconds, d.clock == "live")
    published = outbox.Published()
    table = Table(settings, "detect_customers", decode_state, encode, cache=d.cached_customers)

    async def after_assignment(partitions: set[int]) -> None:
        """Rebuild the timers, and send what the table holds but cx.alerts / cx.work_items do not (outbox)."""
        await app.producer.flush()  # sends still buffered from before the rebalance reach the topics first
        loop = asyncio.get_running_loop()
        for topic, id_field in ((k.alerts_topic, "alert_id"), (k.work_items_topic, "work_item_id")):
            published.update(await loop.run_in_executor(
                None, outbox.on_topic, kafka_client_config(settings), topic, sorted(partitions), id_field))
        clock.clear()
        missing = []
        for customer, state in table.items():
            clock.schedule(state.partition, due_at(state, rules, findings_of(state, rules), float("-inf")), customer)
            missing += [(state, c) for c in _current(state) if _key(c) not in published]
        if missing:
            log.info("sending %d alert changes and work items the table holds and the topics do not", len(missing))
        await send(missing)

    source = BatchSource(app, settings, "detect", [k.resolved_topic, k.ticks_topic], d.batch_size, d.batch_seconds,
                         tables=(table,), on_assigned=after_assignment)

    async def send(out: list[tuple[CustomerState, Change | WorkItem]]) -> None:
        now = time.time()
        alerts, work_items = [], []
        for state, change in out:
            if not published.claim(_key(change)):
                continue  # on the topic already (computed again after a crash), or being sent
            if isinstance(change, WorkItem):
                metrics.WORK_ITEMS.labels(state=change.state).inc()
                work_items.append((state.customer.encode(), orjson.dumps(work_item_record(state, change, now))))
                continue
            record = alert_record(state, change, now)
            metrics.ALERTS.labels(rule=change.alert.rule, state=change.alert.state).inc()
            if change.alert.state == "open":
                metrics.ALERT_LATENCY.labels(rule=change.alert.rule).observe(max(0.0, now - change.at))
            alerts.append((state.customer.encode(), orjson.dumps(record)))
        await topics.send_keyed(topics.alerts, alerts)
        await topics.send_keyed(k.work_items_topic, work_items)

    @app.timer(interval=d.tick_seconds)
    async def tick() -> None:
        for partition in range(settings.kafka.partitions):
            await topics.send(settings.kafka.ticks_topic, TICK, TICK, partition=partition)

    def evaluate(state: CustomerState, partition: int, watermark: float, out: list) -> None:
        found = findings_of(state, rules)
        changes, items = advance(state, rules, watermark, found)
        if forget_before(state, watermark - d.forget_after_seconds):
            found = findings_of(state, rules)
        clock.schedule(partition, due_at(state, rules, found, watermark), state.customer)
        out.extend(sorted([*((state, c) for c in changes), *((state, i) for i in items)], key=lambda sc: _at(sc[1])))

    consumed = metrics.CONSUMED.labels(stage="detect")

    async def handle(batch: Batch) -> None:
        out: list[tuple[CustomerState, Change | WorkItem]] = []
        read = 0
        for m in _in_arrival_order(batch):
            p, wall = m.partition, time.time()
            touched: dict[str, CustomerState] = {}  # evaluated once after this message
            if m.key == forget.FORGET:  # an erasure, on the ticks topic: these customers never were
                for customer in forget.decode(m.value).keys:
                    table.delete(customer, p)
                    clock.next.pop(customer, None)
                continue
            if m.value != TICK:
                for value in unpack(m.value):
                    ev = decode_resolved(value)
                    customer = ev.resolved_customer
                    if not customer:
                        continue
                    read += 1
                    clock.saw(p, ev.time.timestamp())
                    state = touched.get(customer) or table.get(customer, p)
                    if state is None:
                        state = CustomerState(customer=customer, partition=p)
                    apply(state, ev)
                    touched[customer] = state
            watermark = clock.watermark(p, wall)
            # timers due by now fire on any message, so a busy partition does not wait for its tick
            for customer in clock.pop_due(p, watermark):
                if customer not in touched:
                    state = table.get(customer, p)
                    if state is not None:  # else forgotten since its timer was set
                        touched[customer] = state
            for customer, state in touched.items():
                evaluate(state, p, watermark, out)
                table.set(customer, state, p)
        consumed.inc(read)
        await table.commit(app.producer)
        await send(out)
        metrics.DETECT_TIMERS.set(clock.pending())

    @app.task
    async def detect() -> None:
        await source.run(handle)

    return source


def _in_arrival_order(batch: Batch):
    """A batch's messages of both topics, each partition's in offset order, merged by their timestamps:
    a partition's events and its ticks (or an erasure's Forget) interleave about as they were produced."""
    return heapq.merge(*batch.values(), key=lambda m: m.timestamp)


def _current(state: CustomerState) -> list[Change | WorkItem]:
    current: list[Change | WorkItem] = [Change(a, a.resolved_at or a.opened_at) for a in state.alerts.values()]
    return current + ([state.work] if state.work is not None else [])


def _key(change: Change | WorkItem) -> tuple[str, int]:
    if isinstance(change, WorkItem):
        return change.item_id, change.version
    return change.alert.alert_id, change.alert.version


def _at(change: Change | WorkItem) -> float:
    return change.changed_at if isinstance(change, WorkItem) else change.at
