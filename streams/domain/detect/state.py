"""A customer's state as the detection rules see it, folded from their events.

Applying an event is idempotent (replays after a crash) and, for what the rules read, does not
depend on the order events arrive in: times are kept as min/max or as sets of event times.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec

from streams.domain.channels import DIGITAL, MESSAGING
from streams.domain.detect.work_items import Action, WorkItem
from streams.domain.records import CxEvent

KEEP = 16  # bounded lists: the newest entries matter
KEEP_ACTIONS = 64  # outreach actions waiting for the watermark
KEEP_REACHED = 8  # the latest events' reach: the event that ends an incident is one of the customer's latest
# How an event reached the customer (`reach`), in the order a served alert is credited when
# events of one time differ: outreach (outbound, a callback) over an agent over the customer alone.
SELF_SERVICE, AGENT, OUTREACH = 1, 2, 3
RESOLVED_BY = {SELF_SERVICE: "self_service", AGENT: "agent", OUTREACH: "outreach"}


class Contact(msgspec.Struct, kw_only=True, omit_defaults=True):
    channel: str
    queue: str = ""
    queue_at: float = 0.0          # time of the event that gave `queue` (latest wins)
    started: float = 0.0
    queued: float | None = None
    answered: float | None = None
    abandoned: float | None = None
    ended: float | None = None
    resolution: str = ""
    holds: list[float] = msgspec.field(default_factory=list)
    resumes: list[float] = msgspec.field(default_factory=list)
    transfers: list[float] = msgspec.field(default_factory=list)
    customer_messages: list[float] = msgspec.field(default_factory=list)
    agent_messages: list[float] = msgspec.field(default_factory=list)
    callback_requested: float | None = None
    callback_completed: float | None = None

    @property
    def live(self) -> bool:
        return self.ended is None and self.abandoned is None

    @property
    def waiting_since(self) -> float | None:
        """First customer message after the last agent message (messaging channels)."""
        last_agent = self.agent_messages[-1] if self.agent_messages else None
        pending = [t for t in self.customer_messages if last_agent is None or t > last_agent]
        return pending[0] if pending else None


class Step(msgspec.Struct, kw_only=True, omit_defaults=True):
    journey: str
    step: str
    channel: str = ""
    entered: float | None = None
    completed: float | None = None
    failures: list[float] = msgspec.field(default_factory=list)


class Survey(msgspec.Struct, kw_only=True, omit_defaults=True):
    at: float
    contact_id: str = ""
    csat: int | None = None
    nps: int | None = None


class Alert(msgspec.Struct, kw_only=True, omit_defaults=True):
    alert_id: str
    rule: str
    state: str                      # open | escalated | resolved
    subject: str
    since: float
    opened_at: float                # event time the threshold was crossed
    channel: str = ""
    contact_id: str = ""
    severity: str = "warning"
    reason: str = ""
    suggested_action: str = ""
    priority: float = 0.0
    version: int = 0
    resolved_at: float | None = None
    resolution: str = ""
    resolved_by: str = ""           # resolved: outreach | self_service | agent | unknown (served), else the resolution


class CustomerState(msgspec.Struct, kw_only=True, omit_defaults=True):
    customer: str
    partition: int = 0                 # of the detection table: where its timers belong after recovery
    # kind -> value shown on alerts and work items: the masked form in pseudonymized mode
    identifiers: dict[str, str] = msgspec.field(default_factory=dict)
    do_not_contact: bool = False
    timezone: str = ""                 # profile attribute `timezone` (IANA), for the contact policy's quiet hours
    offers: list[float] = msgspec.field(default_factory=list)        # times its work items were offered, last week
    value: float = 0.0
    contacts: dict[str, Contact] = msgspec.field(default_factory=dict)
    steps: dict[str, Step] = msgspec.field(default_factory=dict)
    surveys: list[Survey] = msgspec.field(default_factory=list)
    alerts: dict[str, Alert] = msgspec.field(default_factory=dict)   # by rule: the current or last incident
    work: WorkItem | None = None                                     # the current or last work item
    actions: list[Action] = msgspec.field(default_factory=list)      # outreach actions the watermark has not passed
    # recent events (idempotency): 64-bit digests of source+id, 9 bytes each stored instead of ~55
    # (the largest field of the state: 300 B of a customer's 726 in benchmarks/state_size.py); a
    # state stored before they were digests still holds the keys themselves, which `apply` reads too
    seen: list[int | str] = msgspec.field(default_factory=list)
    # the latest KEEP_REACHED events as (event time in ms) * 4 + how they reached the customer (`reach`)
    reached: list[int] = msgspec.field(default_factory=list)


encode = msgspec.msgpack.Encoder().encode
decode_state = msgspec.msgpack.Decoder(CustomerState).decode


def _add(times: list[float], t: float) -> None:
    if t not in times:
        times.append(t)
        times.sort()
        del times[:-KEEP]


def _min(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def _ts(when: datetime) -> float:
    return when.timestamp()


def apply(state: CustomerState, ev: CxEvent) -> bool:
    """Fold one event in; False when it was applied already."""
    key = f"{ev.source}\x1f{ev.id}"
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest())
    if digest in state.seen or key in state.seen:
        return False
    state.seen.append(digest)
    del state.seen[:-256]
    t = _ts(ev.time)
    state.reached.append(round(t * 1000) * 4 + reach(ev))
    del state.reached[:-KEEP_REACHED]
    state.identifiers.update(ev.identifier_masks or ev.customer)
    attrs = ev.attributes
    if "do_not_contact" in attrs:
        state.do_not_contact = bool(attrs["do_not_contact"])
    if isinstance(attrs.get("timezone"), str):
        state.timezone = attrs["timezone"]
    if isinstance(attrs.get("customer_value"), (int, float)):
        state.value = float(attrs["customer_value"])
    kind = ev.type
    if kind == "cx.journey.step":
        _step(state, ev, t)
    elif kind == "cx.survey.responded":
        state.surveys.append(Survey(at=t, contact_id=str(attrs.get("contact_id", "")),
                                    csat=_int(attrs.get("csat")), nps=_int(attrs.get("nps"))))
        state.surveys.sort(key=lambda s: s.at)
        del state.surveys[:-KEEP]
    elif kind.startswith("cx.outreach."):
        _action(state, ev, key, t)
    elif ev.contact_id and (kind.startswith("cx.contact.") or kind.startswith("cx.callback.")):
        _contact(state, ev, t)
    return True


def reach(ev: CxEvent) -> int:
    """OUTREACH for an outbound event or a callback, SELF_SERVICE on a digital channel, else AGENT."""
    if ev.direction == "outbound" or ev.type.startswith("cx.callback."):
        return OUTREACH
    return SELF_SERVICE if ev.channel in DIGITAL else AGENT


def resolved_by(state: CustomerState, at: float) -> str:
    """What served the customer at event time `at`: how the events of that time reached them (the
    highest of `reach`), "unknown" when none of the latest events is of that time."""
    ms = round(at * 1000)
    found = [r & 3 for r in state.reached if r >> 2 == ms]
    return RESOLVED_BY[max(found)] if found else "unknown"


def _int(value) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _action(state: CustomerState, ev: CxEvent, key: str, t: float) -> None:
    attrs = ev.attributes
    until = attrs.get("until")
    state.actions.append(Action(
        key=key, event_id=ev.id, kind=ev.type.removeprefix("cx.outreach."), at=t, agent=ev.agent_id,
        team=str(attrs.get("team", "")), channel=ev.channel,
        target=str(attrs.get("work_item_id") or attrs.get("alert_id") or ""), outcome=str(attrs.get("outcome", "")),
        until=datetime.fromisoformat(until).timestamp() if isinstance(until, str) else None))
    state.actions.sort(key=lambda a: (a.at, a.key))
    del state.actions[:-KEEP_ACTIONS]


def _step(state: CustomerState, ev: CxEvent, t: float) -> None:
    journey, step = str(ev.attributes.get("journey", "")), str(ev.attributes.get("step", ""))
    if not journey or not step:
        return
    s = state.steps.setdefault(f"{journey}/{step}", Step(journey=journey, step=step, channel=ev.channel))
    status = ev.attributes.get("status")
    if status == "entered":
        s.entered = _min(s.entered, t)
    elif status == "completed":
        s.completed = _min(s.completed, t)
    elif status == "failed":
        _add(s.failures, t)


def _contact(state: CustomerState, ev: CxEvent, t: float) -> None:
    c = state.contacts.get(ev.contact_id)
    if c is None:
        c = state.contacts[ev.contact_id] = Contact(channel=ev.channel, started=t)
    c.started = min(c.started, t)
    if ev.queue and t >= c.queue_at:
        c.queue, c.queue_at = ev.queue, t
    kind = ev.type
    if kind == "cx.contact.queued":
        c.queued = _min(c.queued, t)
    elif kind == "cx.contact.answered":
        c.answered = _min(c.answered, t)
    elif kind == "cx.contact.abandoned":
        c.abandoned = _min(c.abandoned, t)
    elif kind == "cx.contact.ended":
        c.ended = max(c.ended or t, t)
        c.resolution = str(ev.attributes.get("resolution", c.resolution))
    elif kind == "cx.contact.hold":
        _add(c.holds, t)
    elif kind == "cx.contact.resumed":
        _add(c.resumes, t)
    elif kind == "cx.contact.transferred":
        _add(c.transfers, t)
    elif kind == "cx.contact.message":
        author = ev.attributes.get("author")
        if author == "customer":
            _add(c.customer_messages, t)
        elif author == "agent":
            _add(c.agent_messages, t)
            if c.channel in MESSAGING:
                c.answered = _min(c.answered, t)
    elif kind == "cx.callback.requested":
        c.callback_requested = _min(c.callback_requested, t)
    elif kind == "cx.callback.completed":
        c.callback_completed = _min(c.callback_completed, t)


def forget_before(state: CustomerState, horizon: float) -> bool:
    """Drop what no rule can need any more: finished contacts and steps older than `horizon`.

    Returns whether anything was dropped (the findings may have changed)."""
    before = (len(state.contacts), len(state.steps), len(state.surveys))
    for cid, c in list(state.contacts.items()):
        if not c.live and max(c.ended or 0.0, c.abandoned or 0.0, c.started) < horizon \
                and (c.callback_completed or c.abandoned is None or c.abandoned < horizon):
            del state.contacts[cid]
    for key, s in list(state.steps.items()):
        last = max([s.entered or 0.0, s.completed or 0.0, *s.failures])
        if last < horizon:
            del state.steps[key]
    state.surveys = [s for s in state.surveys if s.at >= horizon]
    return (len(state.contacts), len(state.steps), len(state.surveys)) != before
