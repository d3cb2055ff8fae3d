"""From findings and a watermark to alert changes: open -> escalated -> resolved.

Everything is decided in event time, from the findings' own times, so the changes for a given
set of events and watermark do not depend on how the events were batched or how fast they came:
an incident whose threshold and end both fall behind the watermark is opened and resolved in
the same pass. One open alert per customer and rule (a second incident of the rule while one is
open is folded into it); after an alert resolves, the rule's cool-down keeps it quiet.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import msgspec

from streams.domain.detect.rules import RULES, Finding
from streams.domain.detect.rules_config import RuleSet
from streams.domain.detect.state import Alert, CustomerState, resolved_by

OPEN, ESCALATED, RESOLVED = "open", "escalated", "resolved"


@dataclass(frozen=True)
class Change:
    """One state change of an alert, as it goes out on cx.alerts."""
    alert: Alert
    at: float  # event time of the change (threshold crossed, escalation, end)


def alert_id(customer: str, rule: str, subject: str, since: float) -> str:
    raw = f"{customer}\x1f{rule}\x1f{subject}\x1f{since:.3f}".encode()
    return "al_" + hashlib.blake2b(raw, digest_size=10).hexdigest()


def priority(finding: Finding, state: CustomerState, watermark: float) -> float:
    """Bigger first: how long past the threshold, how big the problem, what the customer is worth."""
    overdue = max(0.0, min(watermark, finding.ends_at or watermark) - finding.fires_at)
    repeats = sum(1 for a in state.alerts.values() if a.state == RESOLVED)
    return round(10 * math.log1p(overdue / 60) + 5 * finding.weight ** 0.5 + 3 * repeats + 2 * math.log1p(state.value), 2)


def findings_of(state: CustomerState, rules: RuleSet) -> list[Finding]:
    found = []
    for name in rules.names:
        found.extend(RULES[name].findings(state, rules))
    return found


def next_due(found: list[Finding], watermark: float) -> float | None:
    """The earliest event time after the watermark at which some finding changes."""
    times = [t for f in found for t in (f.fires_at, f.escalates_at, f.ends_at) if t is not None and t > watermark]
    return min(times, default=None)


def reconcile(state: CustomerState, rules: RuleSet, watermark: float,
              found: list[Finding] | None = None) -> list[Change]:
    """Bring state.alerts up to the watermark; return the changes in the order they happened.

    `found`: the state's findings when the caller has them already (they read no alerts)."""
    changes: list[Change] = []
    by_rule: dict[str, list[Finding]] = {}
    for f in findings_of(state, rules) if found is None else found:
        by_rule.setdefault(f.rule, []).append(f)
    for rule in rules.names:
        current = state.alerts.get(rule)
        if rule not in by_rule and (current is None or current.state == RESOLVED):
            continue  # nothing to open, advance or resolve (most rules, most evaluations)
        found = sorted(by_rule.get(rule, []), key=lambda f: (f.fires_at, f.subject))
        if current is not None and current.state != RESOLVED:
            match = next((f for f in found if f.subject == current.subject), None)
            changes += _advance(state, current, match, rules, watermark)
            current = state.alerts[rule]
            if current.state != RESOLVED:
                continue  # one open alert per customer and rule
        cooldown = rules.params(rule, "", "").cooldown_seconds
        for f in found:
            if f.fires_at > watermark or (f.ends_at is not None and f.ends_at <= f.fires_at):
                continue
            if current is not None:
                if f.fires_at < current.opened_at + 1e-9 or (
                        current.resolved_at is not None and f.fires_at < current.resolved_at + cooldown):
                    continue  # the same or an earlier incident, or inside the cool-down
            alert = Alert(alert_id=alert_id(state.customer, rule, f.subject, f.since), rule=rule, state=OPEN,
                          subject=f.subject, since=f.since, opened_at=f.fires_at, channel=f.channel,
                          contact_id=f.contact_id, reason=f.reason, suggested_action=f.suggested_action,
                          severity="warning", priority=priority(f, state, watermark), version=1)
            state.alerts[rule] = alert
            changes.append(Change(alert, f.fires_at))
            changes += _advance(state, alert, f, rules, watermark)
            current = state.alerts[rule]
            if current.state != RESOLVED:
                break
    changes.sort(key=lambda c: c.at)
    return changes


def _advance(state: CustomerState, alert: Alert, f: Finding | None, rules: RuleSet, watermark: float) -> list[Change]:
    """Escalate and/or resolve an alert whose finding moved on (or vanished: the state moved on)."""
    out = []
    if f is None:  # e.g. the contact was forgotten or merged away: nothing left to act on
        out.append(_set(state, alert, RESOLVED, watermark, resolution="gone"))
        return out
    if f.ends_at is not None and f.ends_at <= watermark:
        if alert.state == OPEN and f.escalates_at is not None and f.escalates_at < f.ends_at:
            out.append(_set(state, alert, ESCALATED, f.escalates_at))
            alert = state.alerts[alert.rule]
        out.append(_set(state, alert, RESOLVED, f.ends_at, resolution=f.ended_by))
    elif alert.state == OPEN and f.escalates_at is not None and f.escalates_at <= watermark:
        out.append(_set(state, alert, ESCALATED, f.escalates_at))
    return out


def _set(state: CustomerState, alert: Alert, new: str, at: float, resolution: str = "") -> Change:
    resolution = resolution or alert.resolution
    by = (resolved_by(state, at) if resolution == "served" else resolution) if new == RESOLVED else alert.resolved_by
    changed = msgspec.structs.replace(alert, state=new, version=alert.version + 1,
                                      severity="critical" if new == ESCALATED else alert.severity,
                                      resolved_at=at if new == RESOLVED else alert.resolved_at,
                                      resolution=resolution, resolved_by=by)
    state.alerts[alert.rule] = changed
    return Change(changed, at)


def resolve(state: CustomerState, alert: Alert, at: float, resolution: str) -> Change:
    """Resolve an alert from outside its rule (the outreach team closed the customer's work item)."""
    return _set(state, alert, RESOLVED, at, resolution=resolution)
