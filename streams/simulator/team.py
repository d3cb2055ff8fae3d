"""The demo's simulated outreach team: who is on it, which items it takes, and how its calls go.

Pure decisions, no I/O (streams/simulator/team_client.py publishes them): the next item is the
highest-priority work item on the team's list (flood control's dispatch put it there) and in
state `open` (held, claimed, snoozed or closed items are left alone); a call is a seeded plan of steps with human-ish pauses and the
outcome shares below, so the same seed and item give the same call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable

TEAM = "proactive-care"  # the demo profile (config/rules-demo.toml) makes it the default team
AGENTS = ("ana.ortiz", "ben.okafor", "chloe.martin", "dev.patel")
CHANNEL = "voice"
MAX_ATTEMPTS = 2  # no answer twice: the item goes back to the list

# Outcome shares (sum 1): a proactive call to a customer who contacted recently is picked up
# more often than a cold call; most calls that reach the customer settle the issue.
ATTEMPTED = {"reached": 0.55, "no_answer": 0.22, "voicemail": 0.13, "declined": 0.06, "wrong_number": 0.04}
COMPLETED = {"resolved": 0.75, "callback_scheduled": 0.18, "not_needed": 0.07}
# Seconds an agent takes: reading the item before claiming, dialling, talking, between tries.
READ, DIAL, TALK, RETRY = (1.0, 4.0), (3.0, 8.0), (5.0, 12.0), (4.0, 8.0)


@dataclass(frozen=True)
class Step:
    delay: float            # seconds after the previous step
    verb: str               # claim | attempt | done | release (the `cxpulse alerts` verbs)
    outcome: str | None = None


def _draw(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def plan(seed: int, item_id: str) -> list[Step]:
    """One agent's call on one item: claim, one or two tries, then done or back to the list.

    Reached: done with a COMPLETED outcome. Declined: done, not needed. Wrong number: released
    (someone must find a better number). No answer or voicemail: another try, then released."""
    rng = random.Random(f"{seed}/{item_id}")
    steps = [Step(rng.uniform(*READ), "claim")]
    for _ in range(MAX_ATTEMPTS):
        outcome = _draw(rng, ATTEMPTED)
        steps.append(Step(rng.uniform(*(DIAL if len(steps) == 1 else RETRY)), "attempt", outcome))
        if outcome == "reached":
            return steps + [Step(rng.uniform(*TALK), "done", _draw(rng, COMPLETED))]
        if outcome == "declined":
            return steps + [Step(rng.uniform(*READ), "done", "not_needed")]
        if outcome == "wrong_number":
            break
    return steps + [Step(rng.uniform(*READ), "release")]


def next_item(items: Iterable[dict], skip: set[str], listed: set[str]) -> dict | None:
    """The open item to claim next: highest priority, then oldest; None when there is none.

    `items`: the newest version of each work item (schemas/work_items/v1); `listed`: the ids on
    the team's list (cx.outreach.dispatch). Only listed items in state `open` count, and only
    those outreach may contact with an identifier to reach them by."""
    candidates = [i for i in items if i["state"] == "open" and i.get("outreach", True) and not i.get("do_not_contact")
                  and i.get("identifiers") and i["work_item_id"] in listed and i["work_item_id"] not in skip]
    return min(candidates, key=lambda i: (-i["priority"], i["opened_at"], i["work_item_id"]), default=None)
