"""Pseudonymized mode on a real broker and chDB: the same customers as clear mode, and no raw identifier
in any cx table nor in the worker's log."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
import sys
from collections import defaultdict

import phonenumbers
import pytest

from streams.config import Settings
from streams.domain.identity_graph import guards_of
from streams.domain.normalize import Refusal, identifiers
from streams.domain.pseudonyms import HIDDEN
from streams.simulator import generate
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

KEY = "a test key of thirty-two chars.."
EVENTS = 3000
# Every base table of cx (views only show them again), dumped whole in one process (chDB: one data path each).
DUMP = """
from streams.config import load_settings
from streams.warehouse import open_warehouse
w = open_warehouse(load_settings())
tables = [r[0] for r in w.query("SELECT name FROM system.tables WHERE database = 'cx' "
                                "AND engine NOT IN ('View', 'MaterializedView') ORDER BY name").rows]
for t in tables:
    print("=== " + t)
    for row in w.query(f"SELECT * FROM cx.{t}").rows:
        print(row)
w.close()
"""


def customer_of(e) -> dict:
    """The customer object an emission carries, structured or binary mode; {} when it has none readable."""
    try:
        body = json.loads(e.value)
    except ValueError:
        return {}
    data = body.get("data", body) if isinstance(body, dict) and "specversion" in body else body
    customer = data.get("customer") if isinstance(data, dict) else None
    return customer if isinstance(customer, dict) else {}


def raw_values(emissions) -> set[str]:
    """Each identifier of the stream as sent, normalized, and for phones in national form and digits. Left out:
    values the identity guards block (they identify no one and stay clear) and withheld caller ids."""
    settings, guards, values = Settings(), guards_of(Settings()), set()
    for e in emissions:
        for kind, raw in customer_of(e).items():
            if not isinstance(raw, str):
                continue
            usable, issues = identifiers({kind: raw}, "US", settings.ingest.withheld_caller_ids)
            if any(i.reason == Refusal.WITHHELD for i in issues) or (kind in usable and guards.blocked(kind, usable[kind])):
                continue
            forms = {raw.strip(), raw.strip().lower()}
            if kind in usable:
                forms.add(usable[kind])
                if kind == "phone":
                    number = phonenumbers.parse(usable[kind])
                    forms |= {phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
                              str(number.national_number)}
                if kind == "social":
                    forms.add(usable[kind].partition(":")[2])
            values |= {f for f in forms if len(f) >= 6}
    return values


def run(kafka_bootstrap, workdir, emissions, env: dict[str, str]) -> Pipeline:
    workdir.mkdir()
    pipeline = Pipeline(kafka_bootstrap, workdir)
    pipeline.env.update(env)
    pipeline.start_worker()
    for e in emissions:
        pipeline.send(e.value, key=e.key, headers=e.headers)
    pipeline.flush()
    pipeline.wait_drained(timeout=300)
    assert pipeline.stop_worker() == 0
    return pipeline


def partition(pipeline: Pipeline) -> set[frozenset[tuple[str, str]]]:
    """The events grouped by today's customer (anonymous events, customer '', as one group)."""
    groups = defaultdict(set)
    for r in pipeline.query("SELECT source, event_id, customer FROM cx.events_resolved"):
        groups[r["customer"]].add((r["source"], r["event_id"]))
    return {frozenset(g) for g in groups.values()}


def timeline_events(pipeline: Pipeline, identifier: str) -> set[str]:
    out = pipeline.cli("timeline", identifier, "--format", "json").stdout
    return {json.loads(line)["event_id"] for line in out.splitlines() if line}


def hits(text: str, values: set[str]) -> list[str]:
    lowered = text.lower()
    return sorted(v for v in values if v.lower() in lowered)


def test_pseudonymized_mode_stores_no_raw_identifier_and_gives_the_same_customers(kafka_bootstrap, tmp_path):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    emissions = list(itertools.islice(generate(seed=11, start=start, rate=500, bad_fraction=0.05), EVENTS))
    clear = run(kafka_bootstrap, tmp_path / "clear", emissions, {})
    hidden = run(kafka_bootstrap, tmp_path / "pseudonymized", emissions,
                 {"CXPULSE_PRIVACY_PSEUDONYMIZE": "true", "CXPULSE_PRIVACY_KEY": KEY})
    try:
        # Same customers: the partition of the events into customers, whatever the customer ids are.
        clear_groups, hidden_groups = partition(clear), partition(hidden)
        stored = sum(map(len, clear_groups))
        print(f"{len(emissions)} emitted, {stored} events stored, {len(clear_groups)} customers clear, "
              f"{len(hidden_groups)} pseudonymized")
        assert stored > EVENTS * 0.8 and len(clear_groups) > 100
        assert hidden_groups == clear_groups

        # `cxpulse timeline` takes an identifier as people write it, in both modes.
        valid = [customer_of(e) for e in emissions if e.expect == "valid"]
        asked = [c["phone"] for c in valid if "phone" in c and "(" in c["phone"]][:3] + \
                [c["email"] for c in valid if "email" in c][:3]
        for identifier in asked:
            events = timeline_events(clear, identifier)
            assert events and timeline_events(hidden, identifier) == events, identifier
        print(f"timeline: {len(asked)} identifiers as sent, the same events in both modes")

        # What people see instead: masks, on the unusable identifiers of events and on alerts and work items.
        issues = [r["v"] for r in hidden.query("SELECT arrayJoin(identifier_issue_values) AS v FROM cx.events")]
        shown = [v for table in ("cx.alerts", "cx.work_items") for r in hidden.query(
            f"SELECT identifiers FROM {table} WHERE identifiers NOT IN ('', '{{}}')")
            for v in json.loads(r["identifiers"]).values()]
        print(f"masks: {len(issues)} identifier issue values, {len(shown)} alert and work item identifiers")
        assert issues and all(HIDDEN in v for v in issues + shown)

        # No raw identifier in any cx table nor in the log; the same search finds them in clear mode.
        values = raw_values(emissions)
        dumps = {}
        for mode, p in (("clear", clear), ("pseudonymized", hidden)):
            dumps[mode] = subprocess.run([sys.executable, "-c", DUMP], env=p.env, capture_output=True, text=True,
                                         check=True, timeout=300).stdout
        tables = dumps["pseudonymized"].count("=== ")
        log = (hidden.workdir / "worker-1.log").read_text(errors="replace")
        found = hits(dumps["pseudonymized"], values)
        in_log = hits(log, values)
        in_clear = hits(dumps["clear"], values)
        print(f"scan: {tables} tables, {len(dumps['pseudonymized']) // 1024} KiB, {len(values)} values searched, "
              f"{len(found)} hits pseudonymized, {len(in_log)} in the worker log ({len(log) // 1024} KiB), "
              f"{len(in_clear)} hits in clear mode")
        assert tables >= 10
        assert found == [] and in_log == []
        assert len(in_clear) > len(values) // 2  # the search does find them where they are
    finally:
        clear.close()
        hidden.close()
