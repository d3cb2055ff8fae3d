"""Team capacity: which of a team's work items are on its list, and which wait their turn.

One decision point per team (the dispatch stage keys its input and its state by team), so the
cross-customer limit holds however detection is partitioned. A team's list holds at most
`capacity_per_hour` items at once, and at most that many enter it in any rolling hour of event
time; the rest wait, highest priority first (then the oldest), and enter as room frees up. An
item leaves the list, or the queue, only when it closes (worked, self-resolved, ...): none is
dropped. Items held by the contact policy, and do-not-contact ones, are not offered at all.

The team's clock is the newest `changed_at` it has seen: room that frees up with time is used at
the team's next item version.
"""

from __future__ import annotations

import heapq

import msgspec

HOUR = 3600.0
WAITING, LISTED, CLOSED, WITHDRAWN = "waiting", "listed", "closed", "withdrawn"


class Entry(msgspec.Struct, kw_only=True, omit_defaults=True):
    item_id: str
    customer: str
    priority: float
    opened_at: float
    status: str = WAITING
    listed_at: float | None = None


class Team(msgspec.Struct, kw_only=True, omit_defaults=True):
    team: str
    now: float = float("-inf")
    seq: int = 0                                                     # decisions made: their order
    entries: dict[str, Entry] = msgspec.field(default_factory=dict)  # waiting and listed items
    listings: list[float] = msgspec.field(default_factory=list)      # times items entered the list, last hour
    listed: int = 0                                                  # entries on the list (the rest wait)

    def __post_init__(self) -> None:
        # Counted once when a team is built or decoded, then kept by take/fill/forget, so a version
        # costs no walk over a flooded queue (a value stored before the field existed counts right too).
        self.listed = sum(e.status == LISTED for e in self.entries.values())

    def count(self, status: str) -> int:
        return self.listed if status == LISTED else len(self.entries) - self.listed


class Decision(msgspec.Struct, kw_only=True):
    """An item's place changed: it waits, it is on the list, or it left (closed)."""
    item_id: str
    customer: str
    team: str
    status: str
    priority: float
    at: float
    seq: int
    listed_at: float | None = None


encode = msgspec.msgpack.Encoder().encode
decode_team = msgspec.msgpack.Decoder(Team).decode


def take(team: Team, capacity: int, item: dict) -> list[Decision]:
    """Decisions after one version of a work item (a cx.work_items record with times in epoch seconds)."""
    team.now = max(team.now, item["changed_at"])
    out: list[Decision] = []
    item_id, new = item["work_item_id"], None
    entry = team.entries.get(item_id)
    if not item["outreach"] or item["state"] in ("closed", "held"):
        if entry is not None:  # closed (or do-not-contact since): off the list or out of the queue
            _remove(team, item_id)
            out.append(_decide(team, entry, CLOSED if item["state"] == "closed" else WITHDRAWN))
    elif entry is None:
        entry = new = team.entries[item_id] = Entry(item_id=item_id, customer=item["customer_id"],
                                                   priority=item["priority"], opened_at=item["opened_at"])
    else:
        entry.priority = item["priority"]
    listed = fill(team, capacity)
    if new is not None and new.status == WAITING:
        out.append(_decide(team, new, WAITING))
    return out + [_decide(team, e, LISTED) for e in listed]


def forget(team: Team, customers: set[str]) -> bool:
    """Drop these customers' items (an erasure, streams.stages.privacy) without a decision: their rows are
    erased too, and the places they held free up at the team's next decision. True if any was held."""
    gone = [item_id for item_id, e in team.entries.items() if e.customer in customers]
    for item_id in gone:
        _remove(team, item_id)
    return bool(gone)


def _remove(team: Team, item_id: str) -> None:
    team.listed -= team.entries.pop(item_id).status == LISTED


def fill(team: Team, capacity: int) -> list[Entry]:
    """List the best waiting items while the list and the last hour have room."""
    team.listings = [t for t in team.listings if t > team.now - HOUR]
    room = min(capacity - team.listed, capacity - len(team.listings), len(team.entries) - team.listed)
    if room <= 0:
        return []
    waiting = heapq.nsmallest(room, (e for e in team.entries.values() if e.status == WAITING),
                              key=lambda e: (-e.priority, e.opened_at, e.item_id))
    for e in waiting:
        e.status, e.listed_at = LISTED, team.now
        team.listings.append(team.now)
    team.listed += len(waiting)
    return waiting


def _decide(team: Team, entry: Entry, status: str) -> Decision:
    team.seq += 1
    return Decision(item_id=entry.item_id, customer=entry.customer, team=team.team, status=status,
                    priority=entry.priority, at=team.now, seq=team.seq, listed_at=entry.listed_at)
