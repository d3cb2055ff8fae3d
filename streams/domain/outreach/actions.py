"""Outreach actions as events: what `cxpulse alerts claim|release|snooze|attempt|done` publishes.

An action is an ordinary inbound event (schemas/events/v1/data/outreach.schema.json) on the input
topic, so it is validated, deduplicated, stitched and stored like any channel system's event.
It carries one identifier of the customer the alert names (the strongest one the alert lists):
that is how it reaches the customer's detection state without a path of its own. The outcomes
are read from the schema, never repeated here.
"""

from __future__ import annotations

import uuid
from functools import cache

from streams.domain.contract import load_schemas
from streams.domain.records import IDENTIFIER_PRIORITY
from streams.domain.times import rfc3339_at

SOURCE = "/cxpulse/cli"
# CLI verb -> event type
ACTIONS = {"claim": "cx.outreach.claimed", "release": "cx.outreach.released", "snooze": "cx.outreach.snoozed",
           "attempt": "cx.outreach.attempted", "done": "cx.outreach.completed"}
_SCHEMA = "https://cxpulse.dev/schemas/events/v1/data/outreach.schema.json"


class ActionError(ValueError):
    """The action cannot be published as asked (the message says why)."""


@cache
def outcomes(verb: str) -> tuple[str, ...]:
    """The outcomes the contract allows for `attempt` and `done` (empty for the other verbs)."""
    defs = load_schemas()[_SCHEMA]["$defs"]
    name = {"attempt": "attempted", "done": "completed"}.get(verb)
    if name is None:
        return ()
    return tuple(defs[name]["properties"]["attributes"]["properties"]["outcome"]["enum"])


def reach_by(target: dict) -> dict[str, str]:
    """The one identifier the action is stitched by: the strongest the alert or work item lists."""
    if target.get("do_not_contact"):
        raise ActionError(f"{target.get('customer_id', 'the customer')} is do-not-contact")
    ids = target.get("identifiers") or {}
    for kind in IDENTIFIER_PRIORITY:
        if ids.get(kind):
            return {kind: ids[kind]}
    raise ActionError(f"{target.get('customer_id', 'the customer')} has no identifier to reach them by")


def action_event(verb: str, target: dict, *, agent: str, team: str, channel: str, at: float,
                 outcome: str | None = None, until: float | None = None, note: str | None = None,
                 event_id: str | None = None) -> dict:
    """The structured-mode CloudEvent of one action on an alert (`alert_id`) or work item (`work_item_id`)."""
    if verb not in ACTIONS:
        raise ActionError(f"unknown action {verb!r}; one of {', '.join(ACTIONS)}")
    allowed = outcomes(verb)
    if allowed and outcome not in allowed:
        raise ActionError(f"{verb} needs an outcome: one of {', '.join(allowed)}")
    if verb == "snooze" and until is None:
        raise ActionError("snooze needs a time to snooze until")
    attributes: dict = {"team": team}
    for key in ("work_item_id", "alert_id"):
        if target.get(key):
            attributes[key] = target[key]
    if outcome is not None and allowed:
        attributes["outcome"] = outcome
    if until is not None and verb == "snooze":
        attributes["until"] = rfc3339_at(until)
    if note:
        attributes["note"] = note
    return {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": SOURCE, "type": ACTIONS[verb],
            "time": rfc3339_at(at), "datacontenttype": "application/json",
            "data": {"channel": channel, "customer": reach_by(target), "agent_id": agent, "direction": "outbound",
                     "attributes": attributes}}
