"""The identity graph: one node per identifier, agreeing on one canonical id per customer.

Pure logic, no Kafka: `handle(node, message)` returns the node's new state and the messages it
sends. `streams.stages.identity` runs it as a Faust agent over a topic keyed by identifier, so each
identifier lives on one partition and no partition is a bottleneck.

How it reaches the same answer whatever the order (docs/identity.md has the long version):
- Events link the identifiers they carry (the strongest one with each of the others).
- Every node holds the smallest rank it has heard of, rank = (first seen, priority, identifier),
  and tells its neighbours whenever it learns a smaller one (min-label propagation). Min is
  commutative, associative and idempotent, so once the messages stop every node holds the
  minimum over its connected component, whatever the order, partitioning or replays.
- Guards: blocked values never become nodes (the router drops them). An identifier linked to
  more identifiers at least as strong as itself than its kind's cap (a switchboard number, a
  shared tablet) is over cap: it relays nothing and floods a reset through its old component.
  A reset makes every node forget what it heard and restart with an epoch higher than any it
  held; labels of older epochs are ignored, so labels that went through the over-cap node die
  out. Over cap depends only on the set of links, never on their order.
- The grouping is therefore: connected components of the links, minus blocked and over-cap
  identifiers. tests/test_identity_graph.py checks exactly that against random message orders.
"""

from __future__ import annotations

import hashlib
import math
import re
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import msgspec

from streams.domain.records import IDENTIFIER_PRIORITY

PRIORITY = {kind: i for i, kind in enumerate(IDENTIFIER_PRIORITY)}
NEVER = math.inf  # first_seen of a node heard of before its own first event arrives

Rank = tuple[float, int, str]


def kind_of(identifier: str) -> str:
    return identifier.split(":", 1)[0]


def rank_of(identifier: str, first_seen: float) -> Rank:
    return (first_seen, PRIORITY[kind_of(identifier)], identifier)


def canonical_id(identifier: str) -> str:
    """The customer id shown for a component: opaque, so no email or phone leaks into ids."""
    return "c_" + hashlib.blake2b(identifier.encode(), digest_size=8).hexdigest()


class Node(msgspec.Struct, array_like=True):
    first_seen: float
    label: Rank
    neighbors: list[str] = msgspec.field(default_factory=list)  # every identifier ever linked, sorted
    guarded: list[str] = msgspec.field(default_factory=list)    # neighbours that are over cap
    epoch: int = 0
    over_cap: bool = False
    resets: list[str] = msgspec.field(default_factory=list)     # origins of resets applied
    version: int = 0                                            # bumps with each published change
    published: str = ""                                         # over-cap flag + customer last published
    last_position: str = ""                                     # graph message that last changed us


class Observe(msgspec.Struct, tag="o", array_like=True):
    """An event carried `node` together with `neighbors`; the anchor's copy carries the event."""
    node: str
    neighbors: list[str]
    time: float
    event: bytes | None = None
    fallbacks: list[str] = msgspec.field(default_factory=list)


class Label(msgspec.Struct, tag="l", array_like=True):
    node: str
    sender: str
    epoch: int
    rank: Rank


class Reset(msgspec.Struct, tag="r", array_like=True):
    """`origin` went over cap: forget what you heard through it and start again."""
    node: str
    sender: str
    origin: str
    epoch: int


class Resolve(msgspec.Struct, tag="e", array_like=True):
    """Emit `event` with this node's customer (the anchor was over cap)."""
    node: str
    event: bytes
    fallbacks: list[str]


class Forget(msgspec.Struct, tag="f", array_like=True):
    """Erasure (streams.stages.privacy): `forgotten` are one customer's identifiers. A node among them is
    deleted and tells its other neighbours (an over-cap hub that still lists it) to drop them too;
    any other node just drops them from its lists."""
    node: str
    forgotten: list[str]


Message = Observe | Label | Reset | Resolve | Forget
encode = msgspec.msgpack.Encoder().encode
decode_message = msgspec.msgpack.Decoder(Message).decode
decode_node = msgspec.msgpack.Decoder(Node).decode


@dataclass(frozen=True)
class Guards:
    caps: dict[str, int]
    blocked_values: frozenset[str]
    blocked_patterns: tuple[re.Pattern, ...]

    @classmethod
    def build(cls, caps: dict[str, int], values: Iterable[str], patterns: Iterable[str]) -> "Guards":
        return cls(dict(caps), frozenset(v.strip().lower() for v in values),
                   tuple(re.compile(p, re.IGNORECASE) for p in patterns))

    def blocked(self, kind: str, value: str) -> str | None:
        """Why this value may not identify anyone, or None."""
        bare = value.strip().lower()
        if bare in self.blocked_values or f"{kind}:{bare}" in self.blocked_values:
            return f"blocked value {value!r}"
        for pattern in self.blocked_patterns:
            if pattern.fullmatch(bare) or pattern.fullmatch(f"{kind}:{bare}"):
                return f"blocked by pattern {pattern.pattern!r}"
        return None

    def over_cap(self, identifier: str, neighbors: Sequence[str]) -> bool:
        """More neighbours at least as strong as this identifier than its kind allows."""
        kind = kind_of(identifier)
        own = PRIORITY[kind]
        strong = sum(1 for n in neighbors if PRIORITY[kind_of(n)] <= own)
        return strong > self.caps.get(kind, self.caps.get("default", 10))


@dataclass
class LinkChange:
    """A node's customer changed (new node, merge, reset) or it went over cap."""
    identifier: str
    canonical: str          # identifier whose canonical_id is the customer now
    previous: str           # the one before ('' for a new node)
    status: str             # linked | over_cap
    epoch: int
    version: int
    first_seen: float


@dataclass
class Effects:
    sends: list[Message] = field(default_factory=list)
    links: list[LinkChange] = field(default_factory=list)
    resolved: list[tuple[bytes, str]] = field(default_factory=list)  # (event, canonical identifier)


def guards_of(settings) -> Guards:
    """The guards configured under [identity] (caps per kind, blocked values and patterns)."""
    i = settings.identity
    return Guards.build(i.caps, i.blocked_values, i.blocked_patterns)


def handle(node: Node | None, message: Message, guards: Guards, position: str = "") -> tuple[Node | None, Effects]:
    """Apply one message to its node. `position` (partition:offset) lets a replay re-send.
    None: the node is (or stays) deleted (a Forget).

    After a crash the node's state may already include a message whose sends were lost (the
    changelog write got out, the sends did not). The message that last changed the node is
    recognised by its position; replaying it re-sends everything the node knows, which covers
    what any earlier message in the replayed window sent. Every message type is idempotent.
    """
    fx = Effects()
    me = message.node
    if isinstance(message, Forget):
        return _forget(node, me, message, fx), fx
    replay = node is not None and position != "" and node.last_position == position
    if node is None:
        first = message.time if isinstance(message, Observe) else NEVER
        before = Node(first_seen=first, label=rank_of(me, first))
        node = Node(first_seen=first, label=before.label)  # lists of its own
    else:  # a copy with lists of its own: `before` stays as it was, for the comparison below
        before = node
        node = msgspec.structs.replace(node, neighbors=list(node.neighbors), guarded=list(node.guarded),
                                       resets=list(node.resets))

    if isinstance(message, Observe):
        _observe(node, me, message, guards, fx)
    elif isinstance(message, Label):
        _label(node, me, message, guards, fx)
    elif isinstance(message, Reset):
        _reset(node, me, message, guards, fx)
    else:
        _emit(node, message.event, message.fallbacks, fx)

    if replay:
        _resend_everything(node, me, fx)
    _publish(node, me, fx, force=replay)
    # Compared after _publish: a message whose only change is a publication (a new identifier with
    # no neighbours, from an event carrying one identifier) must be recognised on replay too, or a
    # crash that saved the node but lost its link record loses that link for good (issue 17: a
    # kill -9 lost 89 of them, so their customers).
    if replay or node != before:
        node.last_position = position
    return node, fx


def _forget(node: Node | None, me: str, msg: Forget, fx: Effects) -> Node | None:
    """Idempotent: a deleted node stays deleted; dropping names already dropped changes nothing."""
    if node is None:
        return None
    gone = set(msg.forgotten)
    if me in gone:
        fx.sends.extend(Forget(n, msg.forgotten) for n in node.neighbors if n not in gone)
        return None
    kept = msgspec.structs.replace(node, neighbors=[n for n in node.neighbors if n not in gone],
                                   guarded=[n for n in node.guarded if n not in gone],
                                   resets=[r for r in node.resets if r not in gone])
    return node if kept == node else kept


def _observe(node: Node, me: str, msg: Observe, guards: Guards, fx: Effects) -> None:
    if msg.time < node.first_seen:
        node.first_seen = msg.time
        own = rank_of(me, msg.time)
        if node.over_cap:
            node.label = own
        elif own < node.label:
            node.label = own
            _broadcast(node, me, fx)
    new = _link(node, me, msg.neighbors, guards, fx)
    if not node.over_cap:
        for n in new:
            fx.sends.append(Label(n, me, node.epoch, node.label))
    if msg.event is not None:
        _emit(node, msg.event, msg.fallbacks, fx)


def _label(node: Node, me: str, msg: Label, guards: Guards, fx: Effects) -> None:
    sender = msg.sender
    new = _link(node, me, [sender], guards, fx)
    if node.over_cap or _contains(node.guarded, sender):
        return
    if msg.epoch > node.epoch:
        node.epoch = msg.epoch
        node.label = min(rank_of(me, node.first_seen), msg.rank)
        _broadcast(node, me, fx, skip=sender if node.label == msg.rank else None)
    elif msg.epoch == node.epoch and msg.rank < node.label:
        node.label = msg.rank
        _broadcast(node, me, fx, skip=sender)
    elif msg.epoch < node.epoch or msg.rank > node.label or new:
        fx.sends.append(Label(sender, me, node.epoch, node.label))  # the sender is behind


def _reset(node: Node, me: str, msg: Reset, guards: Guards, fx: Effects) -> None:
    if node.over_cap:
        return  # two hubs have nothing to tell each other (and must not ping-pong resets)
    if msg.sender == msg.origin:  # from the over-cap identifier itself: one of our links
        _link(node, me, [msg.origin], guards, fx)
        if not _contains(node.guarded, msg.origin):
            _insert(node.guarded, msg.origin)
    if node.over_cap or msg.origin in node.resets:  # _link may have put us over cap
        return
    node.resets.append(msg.origin)
    node.epoch = max(node.epoch + 1, msg.epoch)
    node.label = rank_of(me, node.first_seen)
    for n in _live(node):
        if n != msg.sender:
            fx.sends.append(Reset(n, me, msg.origin, node.epoch))
    _broadcast(node, me, fx)


def _link(node: Node, me: str, others: Iterable[str], guards: Guards, fx: Effects) -> list[str]:
    """Add new neighbours; go over cap when they push the node past its kind's cap."""
    new = [n for n in others if n != me and not _contains(node.neighbors, n)]
    if node.over_cap:
        # Tell newcomers not to count on us, without remembering them: an over-cap identifier is
        # a hub (a switchboard number), and its state must not grow with every caller.
        for n in new:
            fx.sends.append(Reset(n, me, me, node.epoch))
        return []
    for n in new:
        _insert(node.neighbors, n)
    if new and guards.over_cap(me, node.neighbors):
        node.over_cap = True
        node.epoch += 1
        node.label = rank_of(me, node.first_seen)
        for n in node.neighbors:
            fx.sends.append(Reset(n, me, me, node.epoch))
        return []
    return new


def _emit(node: Node, event: bytes, fallbacks: list[str], fx: Effects) -> None:
    if node.over_cap and fallbacks:
        fx.sends.append(Resolve(fallbacks[0], event, fallbacks[1:]))
    else:
        fx.resolved.append((event, node.label[2]))


def _live(node: Node) -> list[str]:
    return [n for n in node.neighbors if not _contains(node.guarded, n)]


def _broadcast(node: Node, me: str, fx: Effects, skip: str | None = None) -> None:
    for n in _live(node):
        if n != skip:
            fx.sends.append(Label(n, me, node.epoch, node.label))


def _resend_everything(node: Node, me: str, fx: Effects) -> None:
    if node.over_cap:
        fx.sends.extend(Reset(n, me, me, node.epoch) for n in node.neighbors)
        return
    for origin in node.resets:
        fx.sends.extend(Reset(n, me, origin, node.epoch) for n in _live(node))
    _broadcast(node, me, fx)


def _publish(node: Node, me: str, fx: Effects, force: bool) -> None:
    """A link record when the node's customer, status or first-seen time changed."""
    canonical = me if node.over_cap else node.label[2]
    state = f"{int(node.over_cap)}{canonical}"
    if state == node.published and not force:
        return
    if state != node.published:
        previous = node.published[1:]
        node.version += 1
        node.published = state
    else:
        previous = canonical
    fx.links.append(LinkChange(me, canonical, previous, "over_cap" if node.over_cap else "linked",
                               node.epoch, node.version, node.first_seen))


def _contains(sorted_list: list[str], item: str) -> bool:
    i = bisect_left(sorted_list, item)
    return i < len(sorted_list) and sorted_list[i] == item


def _insert(sorted_list: list[str], item: str) -> None:
    insort(sorted_list, item)


def observations(customer: dict[str, str], time: float, event: bytes | None,
                 guards: Guards) -> tuple[list[Observe], list[tuple[str, str]]]:
    """What the router sends for one event: an Observe per usable identifier, strongest first.

    An event links its strongest identifier (the anchor) with each of the others: a star, not a
    clique, so a login carrying six identifiers makes five links, not fifteen; the components
    are the same. The anchor's copy carries the event (the others are its fallbacks when it is
    over cap). Returns the blocked identifiers with their reasons too, to be recorded.
    """
    ids: list[str] = []
    blocked: list[tuple[str, str]] = []
    for kind in IDENTIFIER_PRIORITY:
        value = customer.get(kind)
        if not value:
            continue
        why = guards.blocked(kind, value)
        if why:
            blocked.append((f"{kind}:{value}", why))
        else:
            ids.append(f"{kind}:{value}")
    if not ids:
        return [], blocked
    anchor, others = ids[0], ids[1:]
    sends = [Observe(anchor, others, time, event, others)]
    sends += [Observe(x, [anchor], time) for x in others]
    return sends, blocked
