"""A customer's alerts and work item brought up to the watermark together, in event-time order.

Alerts change at their findings' times (lifecycle.reconcile), outreach actions at their own
times, the item's timers (claim expiry, snooze end) at theirs. Walking them in that one order,
alerts up to each action or timer first, is what makes the item the same whether the events came
in one batch or a thousand: an action is applied only once the watermark has passed it (it
waits in `state.actions` until then), and ties go to the action, then to the event key.
A completion resolves the item's open alerts (resolution `outreach`, or `not_needed`).
A new item is offered to its team only when the customer's contact policy allows (else it is
held until then, a timer like the others); the offer times live in the customer's state.
"""

from __future__ import annotations

import msgspec

from streams.domain.detect import work_items
from streams.domain.detect.finding import Finding
from streams.domain.detect.lifecycle import Change, next_due, reconcile, resolve
from streams.domain.detect.rules_config import RuleSet
from streams.domain.detect.state import CustomerState
from streams.domain.outreach import contact_policy

INF = float("inf")


def advance(state: CustomerState, rules: RuleSet, watermark: float,
            found: list[Finding] | None = None) -> tuple[list[Change], list[work_items.WorkItem]]:
    """Alert changes and work-item versions up to the watermark, each list in time order."""
    changes: list[Change] = []
    items: list[work_items.WorkItem] = []
    expire = rules.outreach.claim_expire_seconds

    def to(t: float) -> None:
        before = dict(state.alerts)
        done = reconcile(state, rules, t, found)
        changes.extend(done)
        for change in done:
            before[change.alert.rule] = change.alert
            item = work_items.sync(state.work, state.customer, before.values(), change.at)
            if item is not None and item is not state.work and item.version == 1:  # a new item
                team = rules.outreach.team_of_rule.get(item.alerts[0].rule, rules.outreach.default_team)
                item = offer(state, rules, msgspec.structs.replace(item, assigned_team=team), change.at)
            record(item)

    def record(item: work_items.WorkItem | None) -> None:
        if item is not None and item is not state.work:
            state.work = item
            items.append(item)

    while True:
        action_at = state.actions[0].at if state.actions and state.actions[0].at <= watermark else INF
        timer_at = work_items.due(state.work, expire)
        timer_at = timer_at if timer_at is not None and timer_at <= watermark else INF
        at = min(action_at, timer_at)
        if at == INF:
            break
        to(at)
        if action_at <= timer_at:
            _apply(state, state.actions.pop(0), changes, record)
        elif state.work is not None and work_items.due(state.work, expire) == at:
            held = state.work.state == work_items.HELD
            record(offer(state, rules, state.work, at) if held else work_items.fire(state.work, at))
    to(watermark)
    return changes, items


def offer(state: CustomerState, rules: RuleSet, item: work_items.WorkItem, at: float) -> work_items.WorkItem:
    """The item offered at `at` if the customer's contact policy allows it (the offer recorded), else held.

    Do-not-contact customers' items are never offered (`outreach` false on the record), so they count no offer."""
    if state.do_not_contact:
        return work_items.gate(item, at, at, "")
    policy = rules.outreach.contact
    tz = contact_policy.timezone_of(state.timezone, state.identifiers, policy.default_timezone)
    when, reason = contact_policy.next_allowed(policy, state.offers, tz, at)
    if when <= at:
        state.offers = contact_policy.remember(state.offers, at)
    return work_items.gate(item, at, when, reason)


def _apply(state: CustomerState, action: work_items.Action, changes: list[Change], record) -> None:
    item = state.work
    if item is None:
        return  # nothing to answer on: no item was ever open for this customer
    if not work_items.names(item, action.target):
        record(work_items.refuse(item, action, f"{action.target} is not this customer's current work item "
                                               f"({item.item_id})"))
        return
    done = work_items.act(item, action)
    record(done)
    if done.state == work_items.CLOSED and done.verdict is not None and done.verdict.accepted:
        how = "not_needed" if done.resolution == "not_needed" else "outreach"
        for alert in list(state.alerts.values()):
            if alert.state != "resolved" and alert.alert_id in done.alert_ids:
                changes.append(resolve(state, alert, action.at, how))


def due_at(state: CustomerState, rules: RuleSet, found: list[Finding], watermark: float) -> float | None:
    """The earliest event time after the watermark at which an alert, an action or the item's timer is due."""
    times = [t for t in (next_due(found, watermark),
                         next((a.at for a in state.actions if a.at > watermark), None),
                         work_items.due(state.work, rules.outreach.claim_expire_seconds)) if t is not None]
    return min(times, default=None)
