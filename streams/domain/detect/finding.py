"""What a rule returns: one incident, in event times (streams.domain.detect.rules).

A module of its own so the rule modules import it at load time: the rules package imports
every rule, so a rule importing it from there had to do so inside `findings`, on every evaluation."""

from __future__ import annotations

import msgspec


class Finding(msgspec.Struct, frozen=True):
    """One incident a rule sees. A Struct, not a dataclass: rules build several per customer
    evaluation, and a frozen dataclass's __init__ cost 3 µs against 0.2 µs."""

    rule: str
    subject: str                 # what the incident is about: a contact, a journey step, the customer
    since: float                 # event time the problem began
    fires_at: float              # event time the threshold is crossed
    ends_at: float | None        # event time it stopped (customer served) or expires; None while ongoing
    escalates_at: float | None = None
    channel: str = ""
    contact_id: str = ""
    reason: str = ""
    suggested_action: str = ""
    ended_by: str = "served"     # what ends_at means: served | expired
    weight: float = 0.0          # rule-specific size of the problem (seconds waited, repeats) for priority
