"""The right to erasure on a real broker and chDB (docs/erasure.md): `cxpulse forget` leaves none of the
customer's identifiers in any table, state store (changelogs read to the end, last value per key) or
dead letter, and touches nobody else; during live load it loses no event and raises no duplicate alert;
an unknown identifier changes nothing; a worker killed mid-erasure resumes it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.domain.identity_graph import canonical_id
from streams.domain.normalize import identifiers
from tests.integration.pipeline import Pipeline, wait_until
from tests.integration.test_alerts import RULES, alerts_on_topic

pytestmark = pytest.mark.integration
KEY = "an erasure test key, 32 chars..."
STORES = ("dedup_seen", "identity_nodes", "detect_customers", "outreach_teams", "privacy_erasures")
# Every base table of cx, every row, dumped in one process (chDB: one data path each); FINAL where it applies.
DUMP = """
import json, sys
from streams.config import load_settings
from streams.warehouse import open_warehouse
w = open_warehouse(load_settings())
out = {}
for name, engine in w.query("SELECT name, engine FROM system.tables WHERE database = 'cx' "
                            "AND engine NOT IN ('View', 'MaterializedView') ORDER BY name").rows:
    final = " FINAL" if "MergeTree" in engine and engine != "MergeTree" else ""
    columns = [c for c, t in w.query(f"SELECT name, type FROM system.columns WHERE database = 'cx' AND table = '{name}'").rows
               if "String" in t]
    text = ", ".join(f"toString({c})" for c in columns) or "''"
    out[name] = [r[0] for r in w.query(f"SELECT [{text}] FROM cx.{name}{final}").rows]
w.close()
json.dump(out, sys.stdout)
"""


def at(base: dt.datetime, seconds: float) -> str:
    return (base + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ce(i: str, base, seconds: float, type_: str, channel: str, customer: dict, contact: str = "", **data) -> dict:
    body = {"channel": channel, "customer": customer, **data}
    if contact:
        body["contact_id"] = contact
    return {"specversion": "1.0", "id": f"er-{i}", "source": f"/erasure/{channel}", "type": type_,
            "time": at(base, seconds), "data": body}


ANN = {"email": "Ann.Target@Example.com", "phone": "(415) 555-0101", "visitor_id": "vis-ann-77",
       "social": "x:@ann_target", "account_id": "ACC-ANN-9"}
BOB = {"email": "bob.other@example.com", "phone": "+1 415 555 0202", "visitor_id": "vis-bob-88"}


def person(p: str, who: dict, base) -> list[dict]:
    """Five channels, linked identifiers (a merge through the account id), a queue wait that raises alerts,
    and two dead letters holding identifiers (an unknown type, an unknown channel)."""
    return [
        ce(f"{p}1", base, 0, "cx.contact.queued", "voice", {"phone": who["phone"]}, f"{p}-v1", queue="q1"),
        ce(f"{p}2", base, 5, "cx.contact.message", "chat", {"email": who["email"]}, f"{p}-c1",
           attributes={"author": "customer", "text": "hello"}),
        ce(f"{p}3", base, 10, "cx.page.viewed", "web", {"visitor_id": who["visitor_id"], "email": who["email"]}),
        ce(f"{p}4", base, 15, "cx.contact.message", "sms", {"phone": who["phone"], "email": who["email"]}, f"{p}-s1",
           attributes={"author": "customer"}),
        *([ce(f"{p}5", base, 20, "cx.contact.message", "social", {"social": who["social"]}, f"{p}-x1",
              attributes={"author": "customer"}),
           ce(f"{p}6", base, 25, "cx.identity.linked", "app", {"account_id": who["account_id"], "social": who["social"],
                                                                "email": who["email"]})] if "social" in who else []),
        ce(f"{p}7", base, 130, "cx.page.viewed", "web", {"visitor_id": who["visitor_id"]}),  # moves event time on
        ce(f"{p}8", base, 30, "cx.contact.teleported", "voice", {"email": who["email"]}),  # dead letter: unknown type
        ce(f"{p}9", base, 31, "cx.contact.message", "pigeon", {"phone": who["phone"].replace(" ", ".")}),  # channel
    ]


def forms(who: dict) -> tuple[set[str], set[str]]:
    """(texts, digits): each identifier as sent, lowercased and normalized, and the phone's national digits."""
    texts = {v.lower() for v in who.values()} | {v.lower().split(":", 1)[1] for v in who.values() if v.startswith("x:")}
    pseudonymized = re.fullmatch(r"[0-9a-f]{32}", who.get("phone", ""))  # no digits to look for then
    digits = {re.sub(r"\D", "", who["phone"])[-10:]} if "phone" in who and not pseudonymized else set()
    return texts, digits


def hits(text: str, texts: set[str], digits: set[str]) -> bool:
    low = text.lower()
    return any(t in low for t in texts) or any(d in re.sub(r"\D", "", text) for d in digits)


def decoded(value: str) -> str:
    """A column value, with base64 (payloads, keys, header values) decoded where it decodes."""
    extra = []
    for chunk in re.findall(r"[A-Za-z0-9+/=]{8,}", value):
        try:
            extra.append(base64.b64decode(chunk, validate=True).decode("utf-8", "replace"))
        except ValueError:
            pass
    return " ".join([value, *extra])


def dump(pipeline: Pipeline) -> dict[str, list[list[str]]]:
    out = subprocess.run([sys.executable, "-c", DUMP], env=pipeline.env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def found(tables: dict, who: dict, customers: set[str]) -> dict[str, int]:
    texts, digits = forms(who)
    return {t: n for t, rows in tables.items()
            if (n := sum(1 for r in rows if any(hits(decoded(v), texts, digits) or v in customers for v in r)))}


def changelogs(pipeline: Pipeline) -> dict[str, dict[bytes, bytes | None]]:
    """Each state store as compaction keeps it: its changelog read to the end, the last value per key."""
    app = pipeline.env["CXPULSE_KAFKA_APP_ID"]
    consumer = KafkaConsumer(bootstrap_servers=pipeline.bootstrap, enable_auto_commit=False)
    stores = {}
    try:
        for store in STORES:
            topic = f"{app}-{store}-changelog"
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            last, idle = {}, 0
            while idle < 3:
                batch = consumer.poll(timeout_ms=500)
                idle = 0 if batch else idle + 1
                for records in batch.values():
                    for r in records:
                        last[r.key] = r.value
            stores[store] = last
    finally:
        consumer.close()
    return stores


def store_hits(stores: dict, who: dict, customers: set[str], prefix: str) -> dict[str, int]:
    texts, digits = forms(who)
    out = {}
    for store, last in stores.items():
        n = sum(1 for k, v in last.items() if v is not None and
                (hits(k.decode("utf-8", "replace") + " " + v.decode("utf-8", "replace"), texts, digits)
                 or any(c.encode() in k or c.encode() in v for c in customers)
                 or re.search(rb"er-%s\d" % prefix.encode(), k)))  # a dedup entry of one of their events
        if n:
            out[store] = n
    return out


def customers_of(who: dict) -> set[str]:
    """The customer id each of these identifiers stands for (canonical_id of its normal form)."""
    usable, _ = identifiers(who, "US", [])
    return {canonical_id(f"{k}:{v}") for k, v in usable.items()}


def forget(pipeline: Pipeline, identifier: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return pipeline.cli("forget", identifier, "--timeout", str(timeout), check=False)


def pipeline_with_rules(kafka_bootstrap, tmp_path, partitions: int = 2) -> Pipeline:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    pipeline = Pipeline(kafka_bootstrap, tmp_path, partitions=partitions)
    pipeline.env |= {"CXPULSE_DETECT_RULES_FILE": str(rules), "CXPULSE_DETECT_CLOCK": "event",
                     "CXPULSE_DETECT_ALLOWED_LATENESS_SECONDS": "0", "CXPULSE_PRIVACY_KEY": KEY}
    return pipeline


def settled(pipeline: Pipeline, timeout: float = 60) -> tuple[dict, dict]:
    """(every table, every state store) once the pipeline has drained and the worker has stopped."""
    pipeline.wait_drained(timeout=timeout)
    stores = changelogs(pipeline)
    assert pipeline.stop_worker() == 0
    return dump(pipeline), stores


def ann_and_bob_stored(pipeline: Pipeline, base: dt.datetime) -> set[str]:
    """Start the worker, store ann's and bob's events and alerts; ann's customer ids."""
    pipeline.start_worker()
    for e in person("a", ANN, base) + person("b", BOB, base):
        pipeline.send(e)
    pipeline.flush()
    alerts = alerts_on_topic(pipeline, 4)
    pipeline.wait_drained(timeout=120)
    ann_alerts = [a for a in alerts if a["identifiers"].get("email") == ANN["email"].lower()]
    assert ann_alerts, alerts
    return {a["customer_id"] for a in ann_alerts} | customers_of(ANN)


def counts(tables: dict) -> dict[str, int]:
    return {t: len(rows) for t, rows in tables.items()}


def test_forget_leaves_no_identifier_anywhere_and_touches_nobody_else(kafka_bootstrap, tmp_path):
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)).replace(microsecond=0)
    pipeline = pipeline_with_rules(kafka_bootstrap, tmp_path)
    try:
        ann_customers = ann_and_bob_stored(pipeline, base)
        bob_customers = customers_of(BOB)
        assert pipeline.stop_worker() == 0
        before = dump(pipeline)
        assert found(before, ANN, ann_customers).keys() >= {"events", "identity_links", "alerts", "dead_letters",
                                                            "contact_facts", "work_items"}
        bob_before = found(before, BOB, bob_customers)

        pipeline.start_worker()
        started = time.monotonic()
        done = forget(pipeline, "ann.target@example.com")
        took = time.monotonic() - started
        assert done.returncode == 0, done.stderr[-3000:]
        receipt = json.loads(done.stdout)
        print(f"forget took {took:.1f} s; receipt: {done.stdout.strip()}")
        assert receipt["status"] == "erased" and receipt["warehouse_rows"]["cx.events"] >= 7
        assert all(":" in i and "ann" not in i.lower() for i in receipt["identifiers"]) and len(receipt["identifiers"]) == 5
        assert receipt["state_store_keys"]["identity_nodes"] == 5 and receipt["state_store_keys"]["outreach_teams"] == 1
        assert receipt["topics_not_compacted"][pipeline.input_topic]["copies_until"]
        after, stores = settled(pipeline)
        left, left_in_stores = found(after, ANN, ann_customers), store_hits(stores, ANN, ann_customers, "a")
        print(f"rows per table before {counts(before)}, after {counts(after)}; ann's rows before "
              f"{found(before, ANN, ann_customers)}, after {left}; in the state stores after {left_in_stores}; "
              f"bob's rows before {bob_before}, after {found(after, BOB, bob_customers)}")
        assert left == {} and left_in_stores == {}
        assert found(after, BOB, bob_customers) == bob_before  # the other customer: every row still there
        erased = {t.removeprefix("cx."): n for t, n in receipt["warehouse_rows"].items()}
        for table, n in counts(before).items():
            # the KPI rollup's last slots before the first stop are rolled up once a worker runs again
            if table not in ("erasures", "contacts_per_minute", "kpi_rollups"):
                assert counts(after)[table] == n - erased.get(table, 0), table
        assert counts(after)["erasures"] == 1

        # her next event starts a new customer, and an identifier nobody has changes nothing
        pipeline.start_worker()
        again = forget(pipeline, "ann.target@example.com")
        assert again.returncode == 0 and "already erased by " + receipt["erasure_id"] in again.stderr, again.stderr
        unknown = forget(pipeline, "nobody@nowhere.example")
        assert unknown.returncode == 1 and "no customer has the identifier 'nobody@nowhere.example'" in unknown.stderr
        assert json.loads(unknown.stdout)["warehouse_rows"] == {}
        pipeline.send(ce("a-new", base, 200, "cx.contact.message", "chat", {"email": ANN["email"]}, "a-c9",
                         attributes={"author": "customer"}))
        pipeline.flush()
        pipeline.wait_drained(timeout=60)
        assert pipeline.stop_worker() == 0
        rows = pipeline.query("SELECT customer, count() AS n FROM cx.events_resolved WHERE email = "
                              "'ann.target@example.com' GROUP BY customer")
        assert rows == [{"customer": canonical_id("email:ann.target@example.com"), "n": 1}]
        assert counts(dump(pipeline))["erasures"] == 3  # erased, already erased, unknown
    finally:
        pipeline.close()


LOAD_CUSTOMERS, LOAD_EVENTS = 40, 1200


def load_event(i: int, base) -> dict:
    """Each customer first waits in a voice queue (long enough for an alert), then writes in a chat."""
    who, queued = i % LOAD_CUSTOMERS, i < LOAD_CUSTOMERS
    return {"specversion": "1.0", "id": f"load-{i}", "source": "/load/chat", "type": "cx.contact.message",
            "time": at(base, 200 + i * 0.15), "data": {
                "channel": "chat", "customer": {"email": f"load{who}@load.example"}, "contact_id": f"load-c{who}",
                "queue": "load", "attributes": {"author": "customer"}}} if not queued else {
            "specversion": "1.0", "id": f"load-{i}", "source": "/load/chat", "type": "cx.contact.queued",
            "time": at(base, 200 + i * 0.15), "data": {
                "channel": "voice", "customer": {"email": f"load{who}@load.example"}, "contact_id": f"load-q{who}",
                "queue": "load"}}


def test_forget_under_live_load_survives_a_worker_killed_mid_erasure(kafka_bootstrap, tmp_path):
    """The worker and the CLI are killed (-9) while the worker carries the erasure out; restarted, the worker
    resumes the saved plan, and `cxpulse forget` run again succeeds. Meanwhile 1,200 events of 40 other
    customers go in: each is stored once, and no incident gets two alert ids."""
    base = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)).replace(microsecond=0)
    pipeline = pipeline_with_rules(kafka_bootstrap, tmp_path)
    try:
        ann_customers = ann_and_bob_stored(pipeline, base)

        def load() -> None:
            for i in range(LOAD_EVENTS):
                pipeline.send(load_event(i, base))
                if i % 100 == 99:
                    pipeline.flush()
                    time.sleep(0.2)
            pipeline.flush()

        loader = threading.Thread(target=load)
        loader.start()
        time.sleep(1.0)
        cli = subprocess.Popen([sys.executable, "-m", "streams.cli", "forget", ANN["email"], "--timeout", "180"],
                               env=pipeline.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        log = tmp_path / "worker-1.log"
        wait_until(lambda: b": forgetting " in log.read_bytes(), 60, "the worker carrying the erasure out")
        pipeline.kill_worker()
        cli.kill()  # the CLI too: the request is on the topic, the worker owns it
        first = re.search(r"erasure (er_\w+) requested", cli.communicate()[1])[1]
        interrupted = log.read_text()
        assert f"erasure {first}: forgetting" in interrupted and f"erasure {first}: erased" not in interrupted
        pipeline.start_worker()
        rerun = forget(pipeline, ANN["email"], timeout=180)
        loader.join()
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        receipt = json.loads(rerun.stdout)
        resumed = (tmp_path / "worker-2.log").read_text()
        print(f"worker and CLI killed mid-erasure; the restarted worker resumed {first}; the rerun answered "
              f"{receipt['status']} ({receipt['erasure_id']}, rows {receipt['warehouse_rows']})")
        assert f"erasure {first}: erased" in resumed and receipt["status"] in ("erased", "already_erased")
        tables, stores = settled(pipeline, timeout=180)
        left, left_in_stores = found(tables, ANN, ann_customers), store_hits(stores, ANN, ann_customers, "a")
        stored = Counter(r["email"] for r in pipeline.query(
            "SELECT email FROM cx.events FINAL WHERE source = '/load/chat'"))
        sent = Counter(load_event(i, base)["data"]["customer"]["email"] for i in range(LOAD_EVENTS))
        doubled = pipeline.query("SELECT customer_id, rule, contact_id, uniqExact(alert_id) AS n FROM cx.alerts "
                                 "GROUP BY customer_id, rule, contact_id HAVING n > 1")
        alerts = pipeline.scalar("SELECT uniqExact(alert_id) FROM cx.alerts WHERE contact_id LIKE 'load-%'")
        print(f"load: {sum(sent.values())} sent, {sum(stored.values())} stored for {len(stored)} customers; "
              f"{alerts} load alerts, {len(doubled)} incidents with two alert ids; ann's rows after {left}, "
              f"in the state stores {left_in_stores}")
        assert stored == sent and alerts > 0 and doubled == []
        assert left == {} and left_in_stores == {}
    finally:
        pipeline.close()


def test_forget_in_pseudonymized_mode_hashes_what_it_is_given(kafka_bootstrap, tmp_path):
    """The phone as a person writes it finds the customer by its pseudonym; none of their pseudonyms is
    left in any table or state store, and the other customer keeps every row."""
    from streams.domain.pseudonyms import pseudonymize

    def pseudonyms(who: dict) -> dict:
        usable, _ = identifiers(who, "US", [])
        return {kind: pseudonymize(KEY.encode(), kind, value) for kind, value in usable.items()}

    base = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)).replace(microsecond=0)
    pipeline = pipeline_with_rules(kafka_bootstrap, tmp_path)
    pipeline.env["CXPULSE_PRIVACY_PSEUDONYMIZE"] = "true"
    ann, bob = pseudonyms(ANN), pseudonyms(BOB)
    ann_customers = {canonical_id(f"{kind}:{h}") for kind, h in ann.items()}
    try:
        pipeline.start_worker()
        for e in person("a", ANN, base) + person("b", BOB, base):
            pipeline.send(e)
        pipeline.flush()
        pipeline.wait_drained(timeout=120)
        done = forget(pipeline, "(415) 555-0101")
        assert done.returncode == 0, done.stderr[-3000:]
        receipt = json.loads(done.stdout)
        tables, stores = settled(pipeline)
        left, left_in_stores = found(tables, ann, ann_customers), store_hits(stores, ann, ann_customers, "a")
        print(f"pseudonymized: receipt rows {receipt['warehouse_rows']}; ann's pseudonyms left in tables {left}, "
              f"in state stores {left_in_stores}")
        assert receipt["status"] == "erased" and len(receipt["identifiers"]) == 5
        assert receipt["warehouse_rows"]["cx.events"] == 7 and receipt["warehouse_rows"]["cx.identity_links"] >= 5
        assert left == {} and left_in_stores == {}
        assert found(tables, bob, set())["events"] == 5
    finally:
        pipeline.close()
