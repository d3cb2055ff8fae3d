"""Identity stage: every event gets its customer; identifiers seen together are stitched.

`Router`: dedup routes each event it accepts (no topic of its own between them since 2026-12-07: an
`accepted` topic and a route stage cost every event one more hop). One `Observe` per usable
identifier goes to the graph topic, routed by identifier (so the graph is spread over all
partitions); the graph stage applies `identity_graph.handle` with each node's state in a
changelogged table (written once per batch with the node's final state), sends the resulting graph
messages back to the graph topic, every change of an identifier's customer to the links topic
(public JSON, stored in cx.identity_links), and the event with its customer id to the resolved
topic routed by customer (what later stages and the sink read; `records.encode_resolved`: the
event's bytes as dedup encoded them, not decoded and encoded again). Internal topics carry
envelopes of records (streams.runtime.envelopes); the links topic is one JSON per record.

Blocked identifiers are recorded on the links topic (status "blocked") the first time this
worker sees them; an event with no usable identifier is resolved to no customer ("").
"""

from __future__ import annotations

import time
from collections import Counter

import orjson

from streams.domain import identity_graph as graph
from streams.domain.identity_graph import LinkChange, canonical_id, guards_of, kind_of
from streams.domain.records import CxEvent, encode_resolved
from streams.domain.times import rfc3339_at
from streams.process import metrics
from streams.runtime.batch_source import Batch, BatchSource
from streams.runtime.bounded import BoundedSet
from streams.runtime.envelopes import Envelopes, partition_of, send_records, unpack
from streams.runtime.state import Table

# The links topic is partitioned as the graph topic (crc32 of the identifier), not by Kafka's murmur2:
# each identifier's versions still share a partition, and most identifiers are new, so aiokafka's
# pure-Python murmur2 missed its cache on most link records (3.5 % of a backlog's Python samples).
LINKS_BY = partition_of


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


class Router:
    """Where an accepted event goes: its Observes to the graph topic, or, with no usable identifier,
    the event itself to the resolved topic (customer ""); blocked identifiers to the links topic."""

    def __init__(self, settings, topics) -> None:
        self.guards = guards_of(settings)
        self.graph_topic, self.resolved_topic, self.links_topic = topics.identity, topics.resolved, topics.links
        self._blocked_seen = BoundedSet(10_000)  # blocked identifiers recorded already (repeats are harmless)
        self._blocked_kinds = metrics.Children(metrics.IDENTIFIERS_BLOCKED)

    def route(self, ev: CxEvent, value: bytes, out: Envelopes, blocked_records: list) -> None:
        """Add `ev`'s records (`value`: the event encoded) to `out`, its new blocked identifiers' to `blocked_records`."""
        observes, blocked = graph.observations(ev.customer, ev.time.timestamp(), value, self.guards)
        for identifier, reason in blocked:
            self._blocked_kinds(kind_of(identifier)).inc()
            if self._blocked_seen.add(identifier):
                blocked_records.append(blocked_record(identifier, reason, time.time()))
        if not observes:  # no usable identifier: stored with customer "", detection skips it
            out.add(self.resolved_topic, ev.dedup_key.encode(), encode_resolved("", value))
        for message in observes:
            out.add(self.graph_topic, message.node.encode(), graph.encode(message))

    async def send_blocked(self, producer, blocked_records: list) -> None:
        await send_records(producer, self.links_topic,
                           [(None, r["identifier"].encode(), orjson.dumps(r)) for r in blocked_records], LINKS_BY)


def register(app, settings, topics) -> BatchSource:
    guards, i = guards_of(settings), settings.identity
    nodes = Table(settings, "identity_nodes", graph.decode_node, graph.encode, cache=i.cached_nodes)
    graph_topic, resolved_topic, links_topic = topics.identity, topics.resolved, topics.links
    resolver = BatchSource(app, settings, "identity-graph", [graph_topic], i.batch_size, i.batch_seconds,
                           tables=(nodes,))
    changes = metrics.Children(metrics.IDENTITY_CHANGES)

    async def resolve(batch: Batch) -> None:
        effects: list[graph.Effects] = []
        forgets = topics.envelopes()  # an erasure's Forgets go out before the deletes are saved:
        for tp, messages in batch.items():  # a replayed Forget finds no node left to send them from
            p = tp.partition
            for m in messages:
                for index, value in enumerate(unpack(m.value)):
                    message = graph.decode_message(value)
                    node = nodes.get(message.node, p)
                    new, fx = graph.handle(node, message, guards, f"{p}:{m.offset}:{index}")
                    if new is None:
                        if node is not None:
                            nodes.delete(message.node, p)
                        for s in fx.sends:
                            forgets.add(graph_topic, s.node.encode(), graph.encode(s))
                        continue
                    if new != node:
                        nodes.set(message.node, new, p)
                    effects.append(fx)
        await topics.send_envelopes(forgets)
        await nodes.commit(app.producer)
        out, now = topics.envelopes(), time.time()
        for fx in effects:
            for s in fx.sends:
                out.add(graph_topic, s.node.encode(), graph.encode(s))
            for value, label in fx.resolved:
                customer = canonical_id(label)
                out.add(resolved_topic, customer.encode(), encode_resolved(customer, value))
        await topics.send_envelopes(out)
        links, kinds = [], Counter()
        for fx in effects:
            for change in fx.links:
                record = link_record(change, now)
                kinds[record["change"]] += 1
                links.append((None, change.identifier.encode(), orjson.dumps(record)))
        for kind, n in kinds.items():  # once per batch: a counter update per link was 1.6 % of a backlog's CPU
            changes(kind).inc(n)
        await send_records(app.producer, links_topic, links, LINKS_BY)

    @app.task
    async def identity_graph() -> None:
        await resolver.run(resolve)

    return resolver
