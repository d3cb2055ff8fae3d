"""Identity stage: every event gets its customer; identifiers seen together are stitched.

Records in: `CxEvent` on the accepted topic. The router sends one `Observe` per usable identifier
to the graph topic, keyed by identifier (so the graph is spread over all partitions); the graph
agent applies `identity_graph.handle` with each node's state in a changelogged table, sends the
resulting graph messages back to the graph topic, every change of an identifier's customer to the
links topic (public JSON, stored in cx.identity_links), and the event, now carrying its customer
id, to the resolved topic keyed by customer (what later stages and the sink read).

Blocked identifiers are recorded on the links topic (status "blocked") the first time this
worker sees them; an event with no usable identifier is resolved to no customer ("").
"""

from __future__ import annotations

import time

import msgspec
import orjson

from streams import identity_graph as graph
from streams import metrics
from streams.bounded import BoundedSet
from streams.faust_batches import batches, each_event
from streams.identity_graph import Guards, LinkChange, canonical_id, kind_of
from streams.records import decode_event, encode
from streams.simulator.clock import rfc3339_at


def guards_of(settings) -> Guards:
    i = settings.identity
    return Guards.build(i.caps, i.blocked_values, i.blocked_patterns)


def _iso(seconds: float) -> str:
    return rfc3339_at(0.0 if seconds == graph.NEVER else seconds)


def link_record(change: LinkChange, now: float) -> dict:
    """The public record of one change (schemas/identity/link.schema.json)."""
    if change.status == "over_cap":
        kind = "over_cap"
    elif not change.previous:
        kind = "new"
    elif change.previous == change.canonical:
        kind = "republished"
    else:
        kind = "merged"
    return {
        "identifier": change.identifier, "kind": kind_of(change.identifier),
        "node_id": canonical_id(change.identifier), "customer_id": canonical_id(change.canonical),
        "previous_customer_id": canonical_id(change.previous) if change.previous else "",
        "status": change.status, "change": kind, "reason": "", "epoch": change.epoch,
        "version": change.version, "first_seen": _iso(change.first_seen), "changed_at": _iso(now),
    }


def blocked_record(identifier: str, reason: str, now: float) -> dict:
    return {"identifier": identifier, "kind": kind_of(identifier), "node_id": canonical_id(identifier),
            "customer_id": "", "previous_customer_id": "", "status": "blocked", "change": "blocked",
            "reason": reason, "epoch": 0, "version": 0, "first_seen": _iso(now), "changed_at": _iso(now)}


def register(app, settings, topics) -> None:
    guards = guards_of(settings)
    # key_type/value_type on the table itself: Faust derives the changelog codecs from them (a
    # Schema argument alone leaves recovery decoding the values as JSON).
    nodes = app.Table("identity_nodes", default=None, partitions=settings.kafka.partitions,
                      key_type=str, value_type=bytes)
    blocked_seen = BoundedSet(10_000)  # blocked identifiers recorded already (repeats are harmless)

    @app.agent(topics.accepted, name="identity-route", concurrency=1)
    async def route(stream):
        async for batch in batches(stream, settings.sink.batch_size, within=0.05):
            for event in batch:
                value = event.message.value
                ev = decode_event(value)
                metrics.CONSUMED.labels(stage="identity-route").inc()
                observes, blocked = graph.observations(ev.customer, ev.time.timestamp(), value, guards)
                for identifier, reason in blocked:
                    metrics.IDENTIFIERS_BLOCKED.labels(kind=kind_of(identifier)).inc()
                    if blocked_seen.add(identifier):
                        await topics.send(topics.links, identifier.encode(),
                                          orjson.dumps(blocked_record(identifier, reason, time.time())))
                if not observes:
                    await topics.send(topics.resolved, b"", value)
                for message in observes:
                    await topics.send(topics.identity, message.node.encode(), graph.encode(message))

    @app.agent(topics.identity, name="identity-graph", concurrency=1)
    async def resolve(stream):
        async for batch in batches(stream, settings.sink.batch_size, within=0.05):
            out: list[tuple] = []
            for event in each_event(batch):
                m = event.message
                message = graph.decode_message(m.value)
                raw = nodes.get(message.node)
                node, fx = graph.handle(graph.decode_node(raw) if raw else None, message, guards,
                                        f"{m.partition}:{m.offset}")
                encoded = graph.encode(node)
                if encoded != raw:
                    nodes[message.node] = encoded  # before any await: the changelog follows this event
                out.append(fx)
            now = time.time()
            for fx in out:
                for s in fx.sends:
                    await topics.send(topics.identity, s.node.encode(), graph.encode(s))
                for change in fx.links:
                    record = link_record(change, now)
                    metrics.IDENTITY_CHANGES.labels(change=record["change"]).inc()
                    await topics.send(topics.links, change.identifier.encode(), orjson.dumps(record))
                for value, label in fx.resolved:
                    customer = canonical_id(label)
                    ev = msgspec.structs.replace(decode_event(value), resolved_customer=customer)
                    await topics.send(topics.resolved, customer.encode(), encode(ev))
