"""Simulated traffic stored the way the pipeline stores it, without a broker or a worker.

The board checks, the snapshot pictures and the demo-less README need a warehouse that looks like
one a running pipeline filled: events with their customers, identity links, alerts. This runs
the simulator's events through the stages' own pure logic, in event-time order — ingest
(`ingest.parse`), identity stitching (`identity_graph.handle` until no message is left, as the
graph agent would), detection (`detect.state.apply` and `advance.advance` at the event-time
watermark, timers included: alerts and work items) — and inserts the rows the sink would write, in sink-sized batches,
so the materialized views fill the rollups as they do in production; then it rolls up the KPIs as
the worker's timer would (`rollups.flush`).

An outreach team short of capacity works about half of the work items (`team_plan`): its
cx.outreach.* actions are built by the code behind `cxpulse alerts` (outreach.actions.action_event),
parsed by ingest and fed to detection in event-time order like any event, so the outreach board
has worked and unworked items to compare.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass

import msgspec
import orjson

from streams.config import Settings
from streams.domain import identity_graph as graph
from streams.domain.detect.advance import advance, due_at
from streams.domain.detect.lifecycle import findings_of
from streams.domain.detect.rules_config import load_rules
from streams.domain.detect.state import CustomerState, apply
from streams.domain.identity_graph import guards_of
from streams.domain.outreach.actions import action_event
from streams.domain.records import CxEvent
from streams.simulator import generate
from streams.simulator.generate import STRUCTURED
from streams.stages.detect import Clock, alert_record, work_item_record
from streams.stages.identity import blocked_record, link_record
from streams.stages.ingest import parse
from streams.stages.sink import alert_row, batch_token, event_row, link_row, work_item_row
from streams.warehouse import Warehouse, rollups


@dataclass
class Loaded:
    events: int = 0
    links: int = 0
    alerts: int = 0
    work_items: int = 0
    actions: int = 0
    customers: int = 0


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


def stitch(evs: list[CxEvent], settings: Settings,
           nodes: dict[str, graph.Node] | None = None) -> tuple[list[CxEvent], list[dict]]:
    """Each event with the customer the identity graph gives it, and the identity link records.
    `nodes` receives the graph's node states (benchmarks/state_size.py measures them)."""
    guards = guards_of(settings)
    nodes = {} if nodes is None else nodes
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


TEAM_SHARE = 0.5  # of the new work items, the share the team gets to (the rest are the unworked comparison)


def team_plan(item: dict, rng: random.Random) -> list[tuple[float, str, str | None]]:
    """(event time, `cxpulse alerts` verb, outcome) of the team's work on a new item; [] when unworked."""
    if rng.random() >= TEAM_SHARE or item["do_not_contact"] or not item["identifiers"]:
        return []
    claim = dt.datetime.fromisoformat(item["opened_at"]).timestamp() + rng.uniform(60, 1200)
    attempt = claim + rng.uniform(30, 180)
    if rng.random() < 0.6:
        outcome = rng.choices(["resolved", "callback_scheduled", "not_needed"], [0.75, 0.18, 0.07])[0]
        return [(claim, "claim", None), (attempt, "attempt", "reached"), (attempt + rng.uniform(120, 600), "done", outcome)]
    return [(claim, "claim", None), (attempt, "attempt", rng.choice(["no_answer", "voicemail"])),
            (attempt + rng.uniform(10, 60), "release", None)]


def detect(evs: list[CxEvent], settings: Settings, until: float, seed: int = 7,
           states: dict[str, CustomerState] | None = None) -> tuple[list[dict], list[dict], list[CxEvent]]:
    """The alert and work item records the detect stage would publish, with an event-time clock up to
    `until`, and the outreach team's action events (parsed like any event) up to `until`. `states`
    receives the customers' detection states (benchmarks/state_size.py measures them)."""
    rules = load_rules(settings.detect.rules_file or None)
    clock = Clock(settings.detect.allowed_lateness_seconds, live=False)
    states = {} if states is None else states
    out: list[dict] = []
    items: list[dict] = []
    actions: list[CxEvent] = []
    pending: list[tuple[float, int, CxEvent]] = []
    rng = random.Random(seed)
    now = dt.datetime.fromtimestamp(until, dt.UTC)
    numbers = itertools.count()

    def plan(item: dict) -> None:
        agent = f"agent-{rng.randint(1, 8):02d}"
        for n, (at, verb, outcome) in enumerate(team_plan(item, rng)):
            if at <= until:
                event = action_event(verb, item, agent=agent, team="proactive",
                                     channel="voice", at=at, outcome=outcome, event_id=f"{item['work_item_id']}-{n}")
                number = next(numbers)
                parsed = parse(orjson.dumps(event), STRUCTURED, origin=f"cx.events:0:team-{number}",
                               received_at=at, settings=settings.ingest, now=now)
                heapq.heappush(pending, (at, number, msgspec.structs.replace(parsed, resolved_customer=item["customer_id"])))

    def evaluate(state: CustomerState, watermark: float) -> None:
        found = findings_of(state, rules)
        changes, versions = advance(state, rules, watermark, found)
        out.extend(alert_record(state, change, change.at) for change in changes)
        for item in versions:
            items.append(work_item_record(state, item, item.changed_at))
            if item.version == 1:
                plan(items[-1])
        clock.schedule(0, due_at(state, rules, found, watermark), state.customer)

    def catch_up(watermark: float) -> None:
        for customer in clock.pop_due(0, watermark):
            evaluate(states[customer], watermark)

    def process(ev: CxEvent) -> None:
        t = ev.time.timestamp()
        clock.saw(0, t)
        catch_up(clock.watermark(0, t))
        state = states.setdefault(ev.resolved_customer, CustomerState(customer=ev.resolved_customer))
        apply(state, ev)
        evaluate(state, clock.watermark(0, t))

    for ev in evs:
        if not ev.resolved_customer:
            continue
        while pending and pending[0][0] <= ev.time.timestamp():
            actions.append(heapq.heappop(pending)[2])
            process(actions[-1])
        process(ev)
    while pending:
        actions.append(heapq.heappop(pending)[2])
        process(actions[-1])
    catch_up(until - settings.detect.allowed_lateness_seconds)
    return out, items, actions


def load(warehouse: Warehouse, *, end: dt.datetime, minutes: float, rate: float, seed: int = 7,
         batch: int = 5000, settings: Settings | None = None) -> Loaded:
    """Simulate `minutes` of traffic ending at `end` at `rate` events/s and store it; return what was stored."""
    settings = settings or Settings()
    evs, links = stitch(events(seed, end, minutes, rate, settings), settings)
    alerts, items, actions = detect(evs, settings, end.timestamp(), seed)
    rows = [event_row(ev, 0, i) for i, ev in enumerate(evs + actions)]
    for table, records in (("cx.events", rows), ("cx.identity_links", [link_row(r) for r in links]),
                           ("cx.alerts", [alert_row(a) for a in alerts]),
                           ("cx.work_items", [work_item_row(i) for i in items])):
        for first in range(0, len(records), batch):
            part = records[first:first + batch]
            warehouse.insert(table, part, batch_token(table, [f"{seed}:{end}:{first + j}" for j in range(len(part))]))
    rollups.flush(warehouse)
    loaded = Loaded(events=len(rows), links=len(links), alerts=len(alerts), work_items=len(items),
                    actions=len(actions))
    loaded.customers = len({ev.resolved_customer for ev in evs})
    return loaded
