"""Dispatch stage: each team's list, decided in one place per team (streams.domain.outreach.dispatch).

Detection is partitioned by customer, a team's capacity is not, so work item versions are routed
by team first: a batch source reads cx.work_items and sends each version to the queue topic keyed
by its `assigned_team`, and the dispatch stage keeps each team's state in a changelogged table
keyed by team (every version of a team's items lands on one partition, in order). Its decisions
go to the dispatch topic (stored in cx.outreach_dispatch). A crash between the table's changelog
and a decision's send loses no decision: after recovery each team's current places are sent
again (the warehouse table collapses repeats).
"""

from __future__ import annotations

import datetime as dt

import orjson

from streams.domain.detect.rules_config import load_rules
from streams.domain.outreach.dispatch import (
    LISTED,
    WAITING,
    Decision,
    Team,
    decode_team,
    encode,
    forget,
    take,
)
from streams.domain.times import rfc3339_at, rfc3339_or_none
from streams.process import metrics
from streams.runtime.batch_source import Batch, BatchSource
from streams.runtime.state import Table
from streams.stages import forget as erasure

TIMES = ("changed_at", "opened_at")
TEAMS_CACHED = 256


def decision_record(d: Decision) -> dict:
    """The public record on the dispatch topic (a row of cx.outreach_dispatch)."""
    return {"work_item_id": d.item_id, "customer_id": d.customer, "team": d.team, "status": d.status,
            "priority": d.priority, "at": rfc3339_at(d.at), "seq": d.seq,
            "listed_at": rfc3339_or_none(d.listed_at)}


def register(app, settings, topics) -> list[BatchSource]:
    outreach = load_rules(settings.detect.rules_file or None).outreach
    # Teams are few and each batch touches them again: keep them decoded (a flooded team's
    # queue is one value of thousands of entries).
    table = Table(settings, "outreach_teams", decode_team, encode, cache=TEAMS_CACHED)
    size, within = settings.detect.outreach_batch_size, settings.detect.outreach_batch_seconds
    route = BatchSource(app, settings, "outreach-route", [topics.work_items], size, within)

    async def send_by_team(batch) -> None:
        await topics.send_keyed(topics.outreach_queue, [
            ((orjson.loads(m.value).get("assigned_team") or outreach.default_team).encode(), m.value)
            for records in batch.values() for m in records])

    @app.task
    async def outreach_route() -> None:
        await route.run(send_by_team)

    async def send(decisions: list[Decision]) -> None:
        await topics.send_keyed(topics.dispatch, [(d.team.encode(), orjson.dumps(decision_record(d))) for d in decisions])

    def gauge(team: Team) -> None:
        metrics.OUTREACH_ITEMS.labels(team=team.team, place=WAITING).set(team.count(WAITING))
        metrics.OUTREACH_ITEMS.labels(team=team.team, place=LISTED).set(team.count(LISTED))

    async def after_assignment(partitions: set[int]) -> None:
        for _, team in table.items():
            await send([Decision(item_id=e.item_id, customer=e.customer, team=team.team, status=e.status,
                                 priority=e.priority, at=e.listed_at if e.listed_at is not None else team.now,
                                 seq=team.seq, listed_at=e.listed_at) for e in team.entries.values()])
            gauge(team)

    dispatcher = BatchSource(app, settings, "outreach-dispatch", [topics.outreach_queue], size, within,
                             tables=(table,), on_assigned=after_assignment)

    async def handle(batch: Batch) -> None:
        out: list[tuple[Team, list[Decision]]] = []
        for tp, messages in batch.items():
            p = tp.partition
            for m in messages:
                if m.key == erasure.FORGET:  # sent to every partition: the one holding the team acts
                    record = erasure.decode(m.value)
                    team = table.get(record.within, p)
                    if team is not None and forget(team, set(record.keys)):
                        table.set(record.within, team, p)
                    continue
                name = m.key.decode()
                team = table.get(name, p) or Team(team=name)
                item = orjson.loads(m.value)
                for key in TIMES:
                    item[key] = dt.datetime.fromisoformat(item[key]).timestamp()
                out.append((team, take(team, outreach.capacity.get(name, outreach.capacity[outreach.default_team]),
                                       item)))
                table.set(name, team, p)
        await table.commit(app.producer)
        await send([d for _, decisions in out for d in decisions])
        for team in {id(team): team for team, _ in out}.values():
            gauge(team)

    @app.task
    async def outreach_dispatch() -> None:
        await dispatcher.run(handle)

    return [route, dispatcher]
