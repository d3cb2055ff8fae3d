"""Identity stitching end to end: one customer, one timeline, whatever the channel."""

from __future__ import annotations

import datetime as dt
import json

import pytest

pytestmark = pytest.mark.integration

PHONE, EMAIL, VISITOR, ACCOUNT = "+1 415 555 0101", "Dana.Lee@Example.com", "v-7f3a", "A-1001"


def scenario(base: dt.datetime) -> list[dict]:
    """Web visitor fails at checkout -> chat (gives an email) -> calls from a phone -> logs in (links all)."""
    steps = [
        (0, "cx.page.viewed", "web", {"visitor_id": VISITOR}, {"attributes": {"url": "/cart"}}),
        (30, "cx.journey.step", "web", {"visitor_id": VISITOR},
         {"attributes": {"journey": "checkout", "step": "payment", "status": "failed"}}),
        (60, "cx.contact.started", "chat", {"visitor_id": VISITOR, "email": EMAIL}, {"contact_id": "chat-1", "queue": "web"}),
        (65, "cx.contact.queued", "chat", {"visitor_id": VISITOR}, {"contact_id": "chat-1", "queue": "web"}),
        (95, "cx.contact.answered", "chat", {"email": EMAIL}, {"contact_id": "chat-1", "queue": "web", "agent_id": "ag-1"}),
        (300, "cx.contact.ended", "chat", {"email": EMAIL},
         {"contact_id": "chat-1", "queue": "web", "agent_id": "ag-1", "attributes": {"resolution": "unresolved"}}),
        (900, "cx.contact.started", "voice", {"phone": PHONE}, {"contact_id": "call-1", "queue": "billing"}),
        (905, "cx.contact.queued", "voice", {"phone": PHONE}, {"contact_id": "call-1", "queue": "billing"}),
        (960, "cx.contact.answered", "voice", {"phone": PHONE}, {"contact_id": "call-1", "queue": "billing", "agent_id": "ag-2"}),
        (1200, "cx.contact.ended", "voice", {"phone": PHONE},
         {"contact_id": "call-1", "queue": "billing", "agent_id": "ag-2", "attributes": {"resolution": "resolved"}}),
        (1260, "cx.identity.linked", "app", {"email": EMAIL, "phone": PHONE, "account_id": ACCOUNT}, {}),
    ]
    events = []
    for i, (offset, type_, channel, customer, extra) in enumerate(steps):
        when = base + dt.timedelta(seconds=offset)
        events.append({"specversion": "1.0", "id": f"scn-{i}", "source": f"/scenario/{channel}", "type": type_,
                       "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                       "data": {"channel": channel, "customer": customer, **extra}})
    return events


@pytest.mark.same_on_any_broker(reason="stitching is the identity graph's logic; "
                                       "the partitions/workers/crash cases run on both brokers")
def test_a_customer_across_web_chat_voice_and_login_is_one_timeline(pipeline):
    events = scenario(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    # a second, unrelated customer must stay apart
    other = {"specversion": "1.0", "id": "other-1", "source": "/scenario/email", "type": "cx.contact.message",
             "time": events[0]["time"], "data": {"channel": "email", "customer": {"email": "sam@example.org"},
                                                 "contact_id": "mail-9", "attributes": {"author": "customer"}}}
    pipeline.start_worker()
    for e in [*events, other]:
        pipeline.send(e)
    pipeline.flush()
    pipeline.wait_stored(events=len(events) + 1, dead_letters=0, timeout=90)
    pipeline.wait_drained(timeout=120)
    assert pipeline.stop_worker() == 0

    out = pipeline.cli("timeline", PHONE, "--format", "json").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["event_id"] for r in rows] == [f"scn-{i}" for i in range(len(events))]
    assert len({r["customer"] for r in rows}) == 1
    assert [r["customer_seq"] for r in rows] == list(range(1, len(events) + 1))
    switches = [(r["event_id"], r["channel"]) for r in rows if r["channel_switch"]]
    assert switches == [("scn-2", "chat"), ("scn-6", "voice"), ("scn-10", "app")]
    assert {r["journey"] for r in rows} == {1}  # no 30-minute gap in the scenario

    # the same customer from any of its identifiers, and the readable table
    for identifier in (EMAIL.upper(), f"visitor_id:{VISITOR}", f"account_id:{ACCOUNT}", "(415) 555-0101"):
        assert [json.loads(line)["event_id"] for line in
                pipeline.cli("timeline", identifier, "--format", "json").stdout.splitlines()] == [r["event_id"] for r in rows]
    table = pipeline.cli("timeline", PHONE).stdout
    assert "11 events, 1 journeys, channels app, chat, voice, web" in table and "⇄" in table

    # the canonical-id view re-attributes rows stored before the merge
    resolved = pipeline.query("SELECT customer, count() AS n, uniqExact(customer_when_processed) AS ids_when_processed "
                              "FROM cx.events_resolved WHERE source LIKE '/scenario/%' GROUP BY customer ORDER BY n DESC")
    assert [r["n"] for r in resolved] == [len(events), 1]
    assert resolved[0]["customer"] == rows[0]["customer"]
    assert resolved[0]["ids_when_processed"] > 1, "the merge happened after some events were stored"
    merges = pipeline.scalar("SELECT count() FROM cx.identity_links WHERE change = 'merged'")
    assert merges >= 1
    unknown = pipeline.cli("timeline", "nobody@example.com", check=False)
    assert unknown.returncode == 1 and "no customer" in unknown.stderr

    # contact state, one row per contact, with the customer of today
    contacts = pipeline.query("SELECT contact_id, channel, state, queue_wait_seconds, handle_seconds, is_repeat, customer "
                              "FROM cx.contacts WHERE contact_id IN ('chat-1', 'call-1') ORDER BY contact_id")
    assert contacts == [
        {"contact_id": "call-1", "channel": "voice", "state": "ended", "queue_wait_seconds": 55,
         "handle_seconds": 240, "is_repeat": 1, "customer": rows[0]["customer"]},
        {"contact_id": "chat-1", "channel": "chat", "state": "ended", "queue_wait_seconds": 30,
         "handle_seconds": 205, "is_repeat": 0, "customer": rows[0]["customer"]},
    ]


# -- the same traffic, any partitioning, any number of workers, a crash: the same customers ----------

import os
import subprocess
import sys
import time
from collections import defaultdict

from streams.config import Settings
from streams.domain.identity_graph import guards_of
from streams.domain.normalize import identifiers
from streams.simulator.generate import generate
from tests.integration.pipeline import Pipeline
from tests.test_identity_graph import expected

SIMULATED = int(os.environ.get("CXPULSE_TEST_IDENTITY_EVENTS", "5000"))


def simulated(n: int):
    """n valid simulated events (seeded) and their (customer identifiers, time) for the definition."""
    emissions, linked = [], []
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for e in generate(seed=42, start=start, rate=2000):
        body = json.loads(e.value)
        data = body.get("data", body)
        emissions.append(e)
        linked.append((identifiers(data["customer"], "US", Settings().ingest.withheld_caller_ids)[0], e.at))
        if len(emissions) == n:
            return emissions, linked


def groups_of(rows) -> set[frozenset[str]]:
    """From cx.identity_links rows of every warehouse: identifier -> latest customer -> the groups."""
    latest = {}
    for r in rows:
        if r["status"] != "blocked" and r["version"] >= latest.get(r["identifier"], (-1, ""))[0]:
            latest[r["identifier"]] = (r["version"], r["customer_id"])
    by_customer = defaultdict(set)
    for identifier, (_, customer) in latest.items():
        by_customer[customer].add(identifier)
    return {frozenset(g) for g in by_customer.values()}


def run(kafka_bootstrap, workdir, emissions, *, partitions: int, workers: int = 1, kill: bool = False,
        rebalance: bool = False):
    """Publish the emissions through a pipeline; the groups stitched and the events stored, over every warehouse.

    rebalance: a second worker joins after a third of the stream and the first leaves after two thirds."""
    workdir.mkdir(parents=True)
    pipeline = Pipeline(kafka_bootstrap, workdir, partitions=partitions)
    extra = None
    try:
        pipeline.start_worker()
        if workers == 2:
            extra = pipeline.start_another_worker("b")
        for i, e in enumerate(emissions):
            pipeline.producer.send(pipeline.input_topic, key=e.key, value=e.value, headers=e.headers)
            if kill and i == len(emissions) // 2:
                pipeline.flush()
                pipeline.wait_stored(events=len(emissions) // 4, dead_letters=0)
                pipeline.kill_worker()
                pipeline.start_worker()
            if rebalance and i == len(emissions) // 3:
                pipeline.flush()
                pipeline.wait_stored(events=len(emissions) // 6, dead_letters=0)
                extra = pipeline.start_another_worker("b")
            if rebalance and i == 2 * len(emissions) // 3:
                pipeline.flush()
                assert pipeline.stop_worker() == 0  # leaves the group mid-stream; worker b takes over
        pipeline.flush()
        pipeline.wait_drained(timeout=300)
        assert pipeline.stop_worker() == 0
        dirs = [workdir / "data"]
        if extra is not None:
            assert pipeline.stop(extra) == 0
            dirs.append(workdir / "data-b")
        links, stored = [], set()
        for d in dirs:
            env = {**pipeline.env, "CXPULSE_DATA_DIR": str(d)}
            for sql, sink in (("SELECT identifier, customer_id, version, status FROM cx.identity_links", links.append),
                              ("SELECT source, event_id FROM cx.events", lambda r: stored.add((r["source"], r["event_id"])))):
                out = subprocess.run([sys.executable, "-m", "streams.cli", "query", sql, "--format", "json"], env=env,
                                     capture_output=True, text=True, check=True).stdout
                for line in out.splitlines():
                    sink(json.loads(line))
        return groups_of(links), stored
    finally:
        pipeline.close()


@pytest.fixture(scope="module")
def simulated_definition():
    """The simulated emissions, and the customers (groups of identifiers) the definition gives them."""
    emissions, linked = simulated(SIMULATED)
    want = expected(linked, guards_of(Settings()))
    definition = defaultdict(set)
    for identifier, customer in want.items():
        definition[customer].add(identifier)
    definition = {frozenset(g) for g in definition.values()}
    merged = sum(1 for g in definition if len(g) > 1)
    print(f"definition: {len(definition)} customers, {merged} with more than one identifier")
    assert merged > 0
    return emissions, definition


# One case a test, so one can be looped alone (the kill -9 case: `-k kill`; issue 17 looped it 30 times).
@pytest.mark.parametrize("name, kw", [
    pytest.param("1 partition", dict(partitions=1), id="1-partition"),
    pytest.param("4 partitions", dict(partitions=4), id="4-partitions"),
    pytest.param("4 partitions, 2 workers", dict(partitions=4, workers=2), id="4-partitions-2-workers"),
    pytest.param("4 partitions, kill -9 mid-run", dict(partitions=4, kill=True), id="4-partitions-kill"),
    pytest.param("8 partitions, a worker joins and one leaves mid-run", dict(partitions=8, rebalance=True),
                 id="8-partitions-rebalance"),
])
def test_customers_do_not_depend_on_partitions_workers_or_a_crash(kafka_bootstrap, tmp_path, simulated_definition,
                                                                   name, kw):
    emissions, definition = simulated_definition
    started = time.monotonic()
    groups, stored = run(kafka_bootstrap, tmp_path / name.replace(" ", "_").replace(",", ""), emissions, **kw)
    print(f"{name}: {len(emissions)} events, {len(groups)} customers, {sum(map(len, groups))} identifiers, "
          f"{time.monotonic() - started:.0f} s")
    assert stored == {(e.source, e.id) for e in emissions}, f"{name}: events lost or foreign"
    assert groups == definition, name


@pytest.mark.same_on_any_broker(reason="identifier guards are the identity graph's logic; "
                                       "the partitions/workers/crash cases run on both brokers")
def test_500_customers_sharing_a_switchboard_number_or_a_placeholder_stay_500(pipeline):
    """Each calls from the company switchboard (over cap) or gives 'unknown' as customer id (blocked)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    pipeline.start_worker()
    for i in range(500):
        shared = {"phone": "+1 312 555 0100"} if i % 2 else {"customer_id": "unknown"}
        pipeline.send({"specversion": "1.0", "id": f"sw-{i}", "source": "/guard/voice", "type": "cx.contact.started",
                       "time": (now + dt.timedelta(seconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                       "data": {"channel": "voice", "customer": {"email": f"employee{i}@corp.example", **shared},
                                "contact_id": f"sw-call-{i}"}})
    pipeline.flush()
    pipeline.wait_stored(events=500, dead_letters=0, timeout=90)
    pipeline.wait_drained(timeout=120)
    assert pipeline.stop_worker() == 0
    assert pipeline.scalar("SELECT uniqExact(customer_id) FROM cx.identity_map WHERE identifier LIKE 'email:employee%'") == 500
    assert pipeline.scalar("SELECT uniqExact(customer) FROM cx.events_resolved WHERE source = '/guard/voice'") == 500
    guarded = pipeline.query("SELECT identifier, status FROM cx.identity_map WHERE status != 'linked' ORDER BY identifier")
    assert guarded == [{"identifier": "customer_id:unknown", "status": "blocked"},
                       {"identifier": "phone:+13125550100", "status": "over_cap"}]
