"""Simulated traffic stored the way the pipeline stores it, without a broker or a worker.

The board checks, the snapshot pictures and the demo-less README need a warehouse that looks like
one a running pipeline filled: events with their customers, identity links, alerts. This runs
the simulator's events through the stages' own pure logic, in event-time order — ingest
(`ingest.parse`), identity stitching (`identity_graph.handle` until no message is left, as the
graph agent would), detection (`detect.state.apply` and `advance.advance` at the event-time
watermark, timers included: alerts and work items) — and inserts the rows the sink would write, in sink-sized batches,
so the materialized views fill the rollups as they do in production.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, deque
from dataclasses import dataclass, field

import msgspec

from streams import identity_graph as graph
from streams.config import Settings
from streams.detect.advance import advance, due_at
from streams.detect.lifecycle import findings_of
from streams.detect.rules_config import load_rules
from streams.detect.stage import Clock, alert_record, work_item_record
from streams.detect.state import CustomerState, apply
from streams.identity import blocked_record, guards_of, link_record
from streams.ingest import parse
from streams.records import CxEvent
from streams.simulator import generate
from streams.sink import alert_row, batch_token, event_row, link_row, work_item_row
from streams.warehouse import Warehouse


@dataclass
class Loaded:
    events: int = 0
    links: int = 0
    alerts: int = 0
    work_items: int = 0
    customers: int = 0
    channels_by_customer: Counter = field(default_factory=Counter)
    identifier_of: dict[str, str] = field(default_factory=dict)

    def busiest_identifier(self) -> str:
        """An identifier of the customer who used the most channels: a good journey to look at."""
        customer, _ = self.channels_by_customer.most_common(1)[0]
        return self.identifier_of[customer]


def events(seed: int, end: dt.datetime, minutes: float, rate: float, settings: Settings) -> list[CxEvent]:
    """The simulator's valid events between end - minutes and end, parsed as ingest parses them."""
    start = end - dt.timedelta(minutes=minutes)
    out = []
    for i, emission in enumerate(generate(seed, start, rate, bad_fraction=0.0)):
        if emission.at > minutes * 60:
            break
        received = (start + dt.timedelta(seconds=emission.at)).timestamp()
        out.append(parse(emission.value, emission.headers, origin=f"cx.events:0:{i}", received_at=received,
                         settings=settings.ingest, now=end))
    return out


def stitch(evs: list[CxEvent], settings: Settings) -> tuple[list[CxEvent], list[dict]]:
    """Each event with the customer the identity graph gives it, and the identity link records."""
    guards = guards_of(settings)
    nodes: dict[str, graph.Node] = {}
    customers: dict[int, str] = {}
    links: list[dict] = []
    seen_blocked: set[str] = set()
    for i, ev in enumerate(evs):
        at = ev.time.timestamp()
        sends, blocked = graph.observations(ev.customer, at, str(i).encode(), guards)
        for identifier, reason in blocked:
            if identifier not in seen_blocked:
                seen_blocked.add(identifier)
                links.append(blocked_record(identifier, reason, at))
        queue = deque(sends)
        while queue:
            message = queue.popleft()
            nodes[message.node], fx = graph.handle(nodes.get(message.node), message, guards)
            queue.extend(fx.sends)
            for value, label in fx.resolved:
                customers[int(value)] = graph.canonical_id(label)
            links += [link_record(change, at) for change in fx.links]
    return [msgspec.structs.replace(ev, resolved_customer=customers.get(i, "")) for i, ev in enumerate(evs)], links


def detect(evs: list[CxEvent], settings: Settings, until: float) -> tuple[list[dict], list[dict]]:
    """The alert and work item records the detect stage would publish, with an event-time clock up to `until`."""
    rules = load_rules(settings.detect.rules_file or None)
    clock = Clock(settings.detect.allowed_lateness_seconds, live=False)
    states: dict[str, CustomerState] = {}
    out: list[dict] = []
    items: list[dict] = []

    def evaluate(state: CustomerState, watermark: float) -> None:
        found = findings_of(state, rules)
        changes, versions = advance(state, rules, watermark, found)
        out.extend(alert_record(state, change, change.at) for change in changes)
        items.extend(work_item_record(state, item, item.changed_at) for item in versions)
        clock.schedule(0, due_at(state, rules, found, watermark), state.customer)

    def catch_up(watermark: float) -> None:
        for customer in clock.pop_due(0, watermark):
            evaluate(states[customer], watermark)

    for ev in evs:
        if not ev.resolved_customer:
            continue
        t = ev.time.timestamp()
        clock.saw(0, t)
        catch_up(clock.watermark(0, t))
        state = states.setdefault(ev.resolved_customer, CustomerState(customer=ev.resolved_customer))
        apply(state, ev)
        evaluate(state, clock.watermark(0, t))
    catch_up(until - settings.detect.allowed_lateness_seconds)
    return out, items


def load(warehouse: Warehouse, *, end: dt.datetime, minutes: float, rate: float, seed: int = 7,
         batch: int = 5000, settings: Settings | None = None) -> Loaded:
    """Simulate `minutes` of traffic ending at `end` at `rate` events/s and store it; return what was stored."""
    settings = settings or Settings()
    evs, links = stitch(events(seed, end, minutes, rate, settings), settings)
    alerts, items = detect(evs, settings, end.timestamp())
    rows = [event_row(ev, 0, i) for i, ev in enumerate(evs)]
    for table, records in (("cx.events", rows), ("cx.identity_links", [link_row(r) for r in links]),
                           ("cx.alerts", [alert_row(a) for a in alerts]),
                           ("cx.work_items", [work_item_row(i) for i in items])):
        for first in range(0, len(records), batch):
            part = records[first:first + batch]
            warehouse.insert(table, part, batch_token(table, [f"{seed}:{end}:{first + j}" for j in range(len(part))]))
    loaded = Loaded(events=len(rows), links=len(links), alerts=len(alerts), work_items=len(items))
    channels: dict[str, set[str]] = {}
    for ev in evs:
        channels.setdefault(ev.resolved_customer, set()).add(ev.channel)
        loaded.identifier_of.setdefault(ev.resolved_customer, ev.customer_key)
    loaded.customers = len(channels)
    loaded.channels_by_customer = Counter({c: len(chs) for c, chs in channels.items() if c})
    return loaded
