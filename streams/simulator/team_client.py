"""The simulated outreach team as a client of the pipeline: reads cx.work_items, publishes cx.outreach.*.

It knows only what any outreach tool knows: the work items on their topic (the newest version
of each) and the verdict the detection stage writes on every action (the item version whose
`action.event_id` is the action's id). Its actions are built and sent by the code behind
`cxpulse alerts claim|attempt|done` (actions.action_event, send.publish). An agent does not wait
for a verdict before dialling (it comes after the stage's allowed lateness, 10 s by default)
but drops the item as soon as one of its actions is refused, as a person would on seeing it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import orjson

from streams.cli import outreach_send as send
from streams.domain.outreach.actions import ActionError, action_event
from streams.simulator.team import AGENTS, CHANNEL, TEAM, Step, next_item, plan

log = logging.getLogger(__name__)
WRAP_UP = 1.0  # seconds between an agent's remaining steps once the demo is stopping


@dataclass
class Call:
    item_id: str
    steps: list[Step]
    due: float  # monotonic time of the next step


@dataclass
class TeamStats:
    published: int = 0
    by_verb: Counter = field(default_factory=Counter)
    refused: int = 0
    unanswered: int = 0  # actions with no verdict when the team stopped


class TeamClient:
    def __init__(self, settings, seed: int) -> None:
        self.settings, self.seed = settings, seed
        self.items: dict[str, dict] = {}     # work_item_id -> newest version
        self.calls: dict[str, Call] = {}     # agent -> the call in progress
        self.taken: set[str] = set()         # items this team has claimed once: not claimed again
        self.listed: set[str] = set()        # items on this team's list (cx.outreach.dispatch)
        self.waiting: dict[str, tuple[str, str]] = {}  # event id -> (agent, item), until its verdict is read
        self.stats = TeamStats()

    def run(self, stop: threading.Event, grace: float) -> TeamStats:
        """Work the list until `stop`; then finish the calls in progress and read their verdicts,
        for at most `grace` seconds."""
        k = self.settings.kafka
        consumer, tps = send.consumer_of(self.settings, k.work_items_topic, k.dispatch_topic)
        producer = send.producer_of(self.settings)
        stopped_at = None
        try:
            consumer.seek_to_beginning(*tps)
            while True:
                for tp, records in consumer.poll(timeout_ms=250, max_records=5000).items():
                    read = self._place if tp.topic == k.dispatch_topic else self._read
                    for r in records:
                        read(orjson.loads(r.value))
                now = time.monotonic()
                if stop.is_set() and stopped_at is None:
                    stopped_at = now
                    for call in self.calls.values():
                        call.due = min(call.due, now + WRAP_UP)
                for agent in AGENTS:
                    self._step(agent, now, producer, stopping=stopped_at is not None)
                if stopped_at is not None and (not self.calls and not self.waiting or now - stopped_at > grace):
                    break
        finally:
            producer.close()
            consumer.close()
        self.stats.unanswered = len(self.waiting)
        return self.stats

    def _place(self, decision: dict) -> None:
        """A dispatch decision for the team's items (in order: one team's decisions share a partition)."""
        if decision["team"] != TEAM:
            return
        if decision["status"] == "listed":
            self.listed.add(decision["work_item_id"])
        else:
            self.listed.discard(decision["work_item_id"])

    def _read(self, record: dict) -> None:
        wid = record["work_item_id"]
        if wid not in self.items or record["version"] > self.items[wid]["version"]:
            self.items[wid] = record
        verdict = record.get("action") or {}
        agent, named = self.waiting.pop(verdict.get("event_id", ""), (None, None))
        if agent is not None and not verdict["accepted"]:
            self.stats.refused += 1
            log.debug("%s's %s on %s refused: %s", agent, verdict["kind"], named, verdict["reason"])
            if agent in self.calls and self.calls[agent].item_id == named:  # the verdict may be on another item
                del self.calls[agent]

    def _step(self, agent: str, now: float, producer, stopping: bool) -> None:
        call = self.calls.get(agent)
        if call is None:
            item = None if stopping else next_item(self.items.values(), self.taken, self.listed)
            if item is not None:
                self.taken.add(item["work_item_id"])
                steps = plan(self.seed, item["work_item_id"])
                self.calls[agent] = Call(item["work_item_id"], steps, now + steps[0].delay)
            return
        if now < call.due:
            return
        step = call.steps.pop(0)
        try:
            event = action_event(step.verb, self.items[call.item_id], agent=agent, team=TEAM, channel=CHANNEL,
                                 at=time.time(), outcome=step.outcome)
        except ActionError as exc:  # became do-not-contact since it was claimed
            log.info("%s drops %s: %s", agent, call.item_id, exc)
            del self.calls[agent]
            return
        send.publish(self.settings, event, key=call.item_id, producer=producer)
        self.waiting[event["id"]] = (agent, call.item_id)
        self.stats.published += 1
        self.stats.by_verb[step.verb] += 1
        if call.steps:
            call.due = now + (WRAP_UP if stopping else call.steps[0].delay)
        else:
            del self.calls[agent]
