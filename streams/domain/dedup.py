"""Dedup's verdict: is this (source, id) new, a replay, a redelivery or a real duplicate?

The seen-table (streams.stages.dedup) keeps [origin, position, seen_ts] per source+id: origin =
where the inbound message was, position = where dedup read it. A re-read of the same position
(a restart) is emitted again, the same origin at a new position (ingest re-ran) is dropped
silently, and a different origin is the channel system sending the event twice.
"""

from __future__ import annotations

from enum import Enum


class Verdict(Enum):
    NEW = "new"
    REPLAY = "replay"
    REDELIVERY = "redelivery"
    DUPLICATE = "duplicate"


def judge(prior: list | None, origin: str, position: str, since: float) -> Verdict:
    """prior: the kept [origin, position, seen_ts], if any; one seen before `since` has left the window."""
    if prior is None or prior[2] < since:
        return Verdict.NEW
    if prior[1] == position:
        return Verdict.REPLAY
    if prior[0] == origin:
        return Verdict.REDELIVERY
    return Verdict.DUPLICATE
