"""Work items: one per customer, grouping all their open alerts, worked by the outreach team.

So that no two agents call the same customer for two rules, the team works items, not alerts: a
customer's item opens with their first open alert and gathers every alert that opens while it is
open (the highest priority leads; suggested actions in priority order). Lifecycle, in event time:

    held (the contact policy's reason, until when) -> open       offered once the policy allows it
    open -> claimed (holder, since) -> attempted ... -> closed (completed by outreach)
    claimed -> open     released by the holder, or the claim expired (no attempt within
                        `claim_expire_seconds`; the item is escalated)
    open|claimed -> snoozed until a time -> open
    held|open|snoozed -> closed (self_resolved) when every alert resolved before anyone held it

A claim while another agent holds the item is refused and says who holds it; every action gets a
verdict on the item (a new version), which is how `cxpulse alerts claim` learns its outcome.
Everything here is a pure function of the item, the alerts and the actions, applied in event-time
order (ties by event key) once the watermark has passed them, so replays give the same items at
any speed.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import msgspec

from streams.domain.times import rfc3339_at

HELD, OPEN, CLAIMED, SNOOZED, CLOSED = "held", "open", "claimed", "snoozed", "closed"
SELF_RESOLVED = "self_resolved"
KEEP_IDS = 64  # alert ids remembered per item (actions may name any of them)


class Action(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One cx.outreach.* event, as the detection state keeps it until the watermark passes it."""
    key: str                     # source + id: idempotency, and the tie-break between equal times
    event_id: str
    kind: str                    # claimed | released | snoozed | attempted | completed
    at: float
    agent: str
    team: str = ""
    channel: str = ""
    target: str = ""             # the alert_id or work_item_id the action names
    outcome: str = ""
    until: float | None = None


class Verdict(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What became of the last action applied to the item."""
    event_id: str
    kind: str
    agent: str
    accepted: bool
    reason: str = ""             # why it was refused


class ItemAlert(msgspec.Struct, kw_only=True, omit_defaults=True):
    alert_id: str
    rule: str
    state: str
    priority: float
    reason: str = ""
    suggested_action: str = ""


class WorkItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    item_id: str
    state: str
    opened_at: float
    changed_at: float
    version: int = 1
    alerts: list[ItemAlert] = msgspec.field(default_factory=list)   # open ones, highest priority first
    alert_ids: list[str] = msgspec.field(default_factory=list)       # every alert the item has held
    escalated: bool = False
    assigned_team: str = ""      # the team whose list it is offered on (its first leading rule's)
    held_reason: str = ""        # state held: the contact policy's reason (streams.domain.outreach.contact_policy)
    eligible_at: float | None = None  # state held: when the policy allows the offer
    holder: str = ""
    team: str = ""
    channel: str = ""
    claimed_at: float | None = None
    first_claimed_at: float | None = None
    first_attempt_at: float | None = None
    attempted_since_claim: bool = False
    attempts: int = 0
    last_outcome: str = ""
    snoozed_until: float | None = None
    expired_claims: int = 0
    closed_at: float | None = None
    resolution: str = ""         # the completion's outcome, or self_resolved
    verdict: Verdict | None = None

    @property
    def priority(self) -> float:
        return self.alerts[0].priority if self.alerts else 0.0


def item_id(customer: str, opened_at: float) -> str:
    raw = f"{customer}\x1f{opened_at:.3f}".encode()
    return "wi_" + hashlib.blake2b(raw, digest_size=10).hexdigest()


def _bump(item: WorkItem, at: float, **changes) -> WorkItem:
    return msgspec.structs.replace(item, version=item.version + 1, changed_at=at, **changes)


def sync(item: WorkItem | None, customer: str, alerts: Iterable, at: float) -> WorkItem | None:
    """The item after the customer's alerts changed at `at` (an open item if none is live).

    `alerts`: the customer's alerts (detect.state.Alert), resolved ones included. Returns the
    same object when nothing the item shows changed."""
    live = sorted((ItemAlert(alert_id=a.alert_id, rule=a.rule, state=a.state, priority=a.priority, reason=a.reason,
                             suggested_action=a.suggested_action)
                   for a in alerts if a.state != "resolved"), key=lambda a: (-a.priority, a.rule))
    if item is None or item.state == CLOSED:
        if not live:
            return item
        return WorkItem(item_id=item_id(customer, at), state=OPEN, opened_at=at, changed_at=at, alerts=live,
                        alert_ids=[a.alert_id for a in live], escalated=any(a.state == "escalated" for a in live))
    if live == item.alerts:
        return item
    ids = item.alert_ids + [a.alert_id for a in live if a.alert_id not in item.alert_ids]
    changed = _bump(item, at, alerts=live, alert_ids=ids[-KEEP_IDS:],
                    escalated=item.escalated or any(a.state == "escalated" for a in live))
    if not live and item.state in (HELD, OPEN, SNOOZED):
        changed = msgspec.structs.replace(changed, state=CLOSED, closed_at=at, resolution=SELF_RESOLVED,
                                          snoozed_until=None, eligible_at=None)
    return changed


def names(item: WorkItem, target: str) -> bool:
    return target == item.item_id or target in item.alert_ids


def refuse(item: WorkItem, action: Action, reason: str) -> WorkItem:
    """A new version of the item whose only change is the refused action's verdict."""
    return _bump(item, action.at, verdict=Verdict(event_id=action.event_id, kind=action.kind, agent=action.agent,
                                                  accepted=False, reason=reason))


def act(item: WorkItem, action: Action) -> WorkItem:
    """The item after one action on it (its verdict says whether it was accepted)."""
    def accept(**changes) -> WorkItem:
        return _bump(item, action.at, verdict=Verdict(event_id=action.event_id, kind=action.kind, agent=action.agent,
                                                      accepted=True), **changes)

    if item.state == CLOSED:
        return refuse(item, action, f"closed ({item.resolution})")
    if item.state == HELD:
        return refuse(item, action, f"held by the contact policy ({item.held_reason}) until {_iso(item.eligible_at)}")
    held_by_other = item.state == CLAIMED and item.holder != action.agent
    if held_by_other and action.kind != "released":
        return refuse(item, action, f"held by {item.holder} ({item.team}) since {_iso(item.claimed_at)}")
    claim = dict(state=CLAIMED, holder=action.agent, team=action.team, channel=action.channel,
                 snoozed_until=None)
    if item.state != CLAIMED:  # a new claim (attempting or completing an unclaimed item claims it too)
        claim |= dict(claimed_at=action.at, attempted_since_claim=False,
                      first_claimed_at=item.first_claimed_at if item.first_claimed_at is not None else action.at)
    if action.kind == "claimed":
        return accept(**claim)
    if action.kind == "released":
        if item.state != CLAIMED or held_by_other:
            return refuse(item, action, "not held by you" if held_by_other else f"not claimed ({item.state})")
        return accept(state=OPEN, holder="", claimed_at=None, attempted_since_claim=False)
    if action.kind == "snoozed":
        if action.until is None or action.until <= action.at:
            return refuse(item, action, "snoozed until a time that has passed")
        return accept(state=SNOOZED, holder="", claimed_at=None, attempted_since_claim=False,
                      snoozed_until=action.until)
    if action.kind == "attempted":
        first = item.first_attempt_at if item.first_attempt_at is not None else action.at
        return accept(**(claim | dict(attempted_since_claim=True, attempts=item.attempts + 1,
                                      last_outcome=action.outcome, first_attempt_at=first)))
    if action.kind == "completed":
        return accept(**(claim | dict(state=CLOSED, closed_at=action.at, resolution=action.outcome)))
    return refuse(item, action, f"unknown action {action.kind}")


def due(item: WorkItem | None, claim_expire_seconds: float) -> float | None:
    """Event time of the item's next timer: its claim expiring, or its snooze ending."""
    if item is None:
        return None
    if item.state == CLAIMED and not item.attempted_since_claim and item.claimed_at is not None:
        return item.claimed_at + claim_expire_seconds
    if item.state == SNOOZED:
        return item.snoozed_until
    if item.state == HELD:
        return item.eligible_at
    return None


def gate(item: WorkItem, at: float, eligible_at: float, reason: str) -> WorkItem:
    """The item the contact policy decided on at `at`: offered (open) if eligible now, else held until then.

    A brand-new item (version 1) is decided before anyone saw it: it starts in the decided state."""
    changes = dict(state=OPEN, held_reason="", eligible_at=None) if eligible_at <= at else \
        dict(state=HELD, held_reason=reason, eligible_at=eligible_at)
    if item.version == 1 and item.changed_at == at and item.state == OPEN:
        return msgspec.structs.replace(item, **changes)
    return _bump(item, at, verdict=None, **changes)


def fire(item: WorkItem, at: float) -> WorkItem:
    """The item when its timer (`due`) goes off at `at`: back to the list; an expired claim escalates it."""
    if item.state == CLAIMED:
        back = _bump(item, at, state=OPEN, holder="", claimed_at=None, expired_claims=item.expired_claims + 1,
                     escalated=True, verdict=None)
    else:
        back = _bump(item, at, state=OPEN, snoozed_until=None, verdict=None)
    if not back.alerts:
        back = msgspec.structs.replace(back, state=CLOSED, closed_at=at, resolution=SELF_RESOLVED)
    return back


def _iso(at: float | None) -> str:
    return rfc3339_at(at) if at is not None else "?"
