"""Outages of what the worker depends on: the broker, the warehouse, a webhook receiver.

Each test runs a real worker through a real outage and then checks what a contact center cares
about: every valid event stored exactly once, every refused one dead-lettered, no alert change
twice on cx.alerts, and the worker still running afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from streams.cli.embedded_broker import EmbeddedBroker, free_port
from streams.simulator.generate import generate
from streams.stages.delivery import verify
from tests.integration.pipeline import Pipeline, wait_until
from tests.integration.test_faults import hang_then_fail, queued, topic_records, with_fast_alerts
from tests.integration.webhooks import Receiver

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
APACHE_KAFKA = ROOT / "scripts" / "apache-kafka"


def simulated(count: int, seed: int) -> list:
    """`count` simulated events (10% broken the ways channel systems break them), twenty minutes old."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    events = []
    for e in generate(seed=seed, start=start, rate=500, bad_fraction=0.1):
        events.append(e)
        if len(events) == count:
            return events
    return events


def publish(pipeline: Pipeline, events: list) -> None:
    for e in events:
        pipeline.producer.send(pipeline.input_topic, key=e.key, value=e.value, headers=e.headers)
    pipeline.flush()


def check_exactly_once(pipeline: Pipeline, events: list, label: str) -> dict:
    """After the worker stopped: every valid event stored once, the rest dead-lettered, no alert change twice."""
    alerts = topic_records(pipeline, "CXPULSE_KAFKA_ALERTS_TOPIC")
    stored = pipeline.query("SELECT source, event_id FROM cx.events FINAL")
    physical = pipeline.scalar("SELECT count() FROM cx.events")
    dead = pipeline.scalar("SELECT count() FROM cx.dead_letters FINAL")
    changes = Counter((a["alert_id"], a["state"]) for a in alerts)
    counts = {"published": len(events), "stored": len(stored), "dead_lettered": dead, "alerts": len(alerts),
              "duplicate_rows": physical - len(stored), "duplicate_alerts": sum(n - 1 for n in changes.values())}
    print(f"{label}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    valid = {(e.source, e.id) for e in events if e.expect == "valid"}
    keys = {(r["source"], r["event_id"]) for r in stored}
    assert valid <= keys, f"{len(valid - keys)} valid events lost"
    assert len(stored) + dead == len(events), "an event neither stored nor dead-lettered"
    assert counts["duplicate_rows"] == 0, "duplicate rows visible"
    assert counts["duplicate_alerts"] == 0, "an alert change on cx.alerts twice"
    return counts


# -- broker ---------------------------------------------------------------------------------


class ApacheKafkaBroker:
    """A broker of this test's own from scripts/apache-kafka: stopped and restarted, its log on disk."""

    name = "Apache Kafka stopped and restarted"

    def __init__(self, workdir: Path) -> None:
        self.dir, self.port = workdir / "apache-kafka", free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"

    def _script(self, *args: str) -> None:
        subprocess.run([str(APACHE_KAFKA), *args, "--dir", str(self.dir)], check=True, timeout=120,
                       stdout=subprocess.DEVNULL)

    def start(self) -> None:
        self._script("start", "--port", str(self.port))

    def stop(self) -> None:
        self._script("stop")

    def outage(self, seconds: float) -> None:
        self.stop()
        time.sleep(seconds)
        self.start()


class FrozenTansu:
    """The embedded broker, frozen (SIGSTOP) for the outage: its memory engine would lose every topic on a stop."""

    name = "embedded Tansu frozen"

    def __init__(self, workdir: Path) -> None:
        self.broker = EmbeddedBroker(log_path=workdir / "tansu.log")
        self.bootstrap = self.broker.bootstrap

    def start(self) -> None:
        self.broker.start()

    def stop(self) -> None:
        self.broker.stop()

    def outage(self, seconds: float) -> None:
        os.killpg(self.broker.pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.killpg(self.broker.pid, signal.SIGCONT)


@pytest.fixture
def own_broker(tmp_path):
    """Apache Kafka when the suite runs on it (CXPULSE_KAFKA_BOOTSTRAP set), else the embedded broker."""
    if os.environ.get("CXPULSE_KAFKA_BOOTSTRAP"):
        if not shutil.which("java"):
            pytest.skip("the broker-outage test on Apache Kafka needs Java (scripts/apache-kafka)")
        subprocess.run([str(APACHE_KAFKA), "fetch"], check=True, timeout=900)
        broker = ApacheKafkaBroker(tmp_path)
    else:
        broker = FrozenTansu(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_a_broker_outage_of_30_seconds_loses_nothing_and_duplicates_nothing(own_broker, tmp_path):
    events = simulated(10_000, seed=31)
    before, after = events[:6_000], events[6_000:]
    pipeline = Pipeline(own_broker.bootstrap, tmp_path)
    try:
        pipeline.start_worker()
        publish(pipeline, before)
        wait_until(lambda: pipeline.metrics().rows_by_table.get("cx.events", 0) >= 1_000, 120,
                   "the worker storing events when the broker goes away")
        went = time.monotonic()
        own_broker.outage(30)
        print(f"broker outage ({own_broker.name}): {time.monotonic() - went:.0f} s")
        publish(pipeline, after)  # the producer reconnects, as channel systems' producers would
        pipeline.wait_drained(timeout=300)
        assert pipeline.worker.poll() is None, "the worker died during the broker outage"
        assert pipeline.stop_worker() == 0
        check_exactly_once(pipeline, events, f"broker outage ({own_broker.name}, 30 s)")
    finally:
        pipeline.close()


# -- warehouse ------------------------------------------------------------------------------


@contextmanager
def small_disk(path: Path, size: str, exist_ok: bool = False):
    """A tmpfs of its own: filling it is a real warehouse outage for chDB (NOT_ENOUGH_SPACE on every insert)."""
    path.mkdir(exist_ok=exist_ok)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Take every free byte of the filesystem at path (again: what chDB frees meanwhile, by merging
    parts or dropping temporary files, is taken too, so the disk stays full for the whole outage)."""
    ballast = path / "ballast"
    with open(ballast, "ab") as f:
        chunk = b"\0" * 2**20
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
        try:
            f.write(b"\0" * (os.statvfs(path).f_bavail * os.statvfs(path).f_frsize))
        except OSError:
            pass
    return ballast


@pytest.mark.same_on_any_broker(reason="the outage is the disk under chDB and RocksDB; "
                                       "the broker outage test runs on both brokers")
@pytest.mark.parametrize("full", ["chdb", "."], ids=["warehouse disk", "whole data disk"])
def test_a_warehouse_unavailable_for_60_seconds_pauses_consumption_and_loses_nothing(kafka_bootstrap, tmp_path, full):
    """The disk under chDB fills up: writes fail and are retried with backoff, the sink stops consuming
    (the rest waits in Kafka, not in memory), and everything is stored once when space comes back.
    With the whole data disk full, the stages' local table writes (RocksDB) fail too and are retried
    the same way, instead of crashing an agent mid-batch."""
    events = simulated(10_000, seed=37)
    before, during = events[:3_000], events[3_000:]
    (tmp_path / "data").mkdir()
    with small_disk(tmp_path / "data" / full, "512m", exist_ok=full == ".") as disk:
        pipeline = Pipeline(kafka_bootstrap, tmp_path)
        try:
            pipeline.start_worker()
            publish(pipeline, before)
            pipeline.wait_stored(events=sum(e.expect == "valid" for e in before), dead_letters=1)
            process = psutil.Process(pipeline.worker.pid)
            rss_before = process.memory_info().rss
            ballast = fill(disk)
            publish(pipeline, during)
            outage_started = time.monotonic()
            wait_until(lambda: pipeline.metrics().store_failures > 0, 60, "a failed store")
            stored_at_failure = pipeline.metrics().rows_by_table.get("cx.events", 0)
            rss_peak = rss_before
            while time.monotonic() - outage_started < 60:
                rss_peak = max(rss_peak, process.memory_info().rss)
                fill(disk)
                time.sleep(1)
            status = pipeline.metrics()
            stored_during = status.rows_by_table.get("cx.events", 0) - stored_at_failure
            failures = status.store_failures
            ballast.unlink()
            pipeline.wait_drained(timeout=300)
            assert pipeline.worker.poll() is None, "the worker died while the warehouse was unavailable"
            assert pipeline.stop_worker() == 0
            counts = check_exactly_once(pipeline, events, f"warehouse unavailable ({'chDB' if full == 'chdb' else 'whole data'} disk full, 60 s)")
            print(f"warehouse outage: {failures:.0f} failed stores retried, events stored during it "
                  f"{stored_during:.0f}, worker RSS {rss_before / 2**20:.0f} MiB before, "
                  f"{rss_peak / 2**20:.0f} MiB at most during it")
            assert failures >= 3, "the outage was not retried with backoff"
            assert stored_during == 0, "rows reported stored while the disk was full"
            assert rss_peak - rss_before < 256 * 2**20, "the worker buffered the outage in memory"
            assert counts["stored"] >= len([e for e in events if e.expect == "valid"])
        finally:
            pipeline.close()


# -- webhook --------------------------------------------------------------------------------


def test_a_webhook_down_for_two_minutes_gets_every_alert_once_when_it_comes_back(pipeline, tmp_path):
    """For two minutes the receiver hangs past the timeout or answers 500; detection, storage and the
    pipeline's commits go on meanwhile (deliveries have a consumer group of their own), nothing is
    given up on, and afterwards each alert arrives once, correctly signed."""
    outage = 120.0

    def down_then_up(call: int, since_first: float) -> int:
        if since_first >= outage:
            return 204
        return hang_then_fail(call, since_first)

    receiver = Receiver(down_then_up)
    n = 20
    try:
        with_fast_alerts(pipeline, tmp_path, receiver.url, timeout=1, max_attempts=40, retry_max=8)
        pipeline.start_worker()
        base = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
        for i in range(n):  # queued half an hour ago (live clock): the threshold has passed for each
            pipeline.send(queued(i, base + dt.timedelta(seconds=i)))
        pipeline.flush()
        wait_until(lambda: receiver.calls, 60, "the first delivery attempt")
        pipeline.wait_stored(events=n, dead_letters=0, timeout=60)
        wait_until(lambda: pipeline.metrics().rows_by_table.get("cx.alerts", 0) >= n, 60, f"{n} alerts stored")
        pipeline.wait_drained(timeout=60)  # the pipeline's own group commits everything, alerts included
        stored_in_outage = time.monotonic() - receiver.calls[0] < outage
        wait_until(lambda: len(receiver.accepted) >= n, outage + 120,
                   lambda: f"{n} alerts delivered (now {len(receiver.accepted)})")
        time.sleep(3)  # a redelivery, if there were one, would come now
        assert pipeline.worker.poll() is None
        assert pipeline.stop_worker() == 0
        undelivered = pipeline.scalar("SELECT count() FROM cx.dead_letters FINAL WHERE stage = 'webhook'")
        opened = pipeline.scalar("SELECT count() FROM cx.alerts FINAL WHERE state = 'open'")
        deliveries = Counter(h["X-Cxpulse-Delivery"] for h, _ in receiver.accepted)
        signed = sum(verify(b"s3cret", h["X-Cxpulse-Timestamp"], body, h["X-Cxpulse-Signature"])
                     for h, body in receiver.accepted)
        print(f"webhook down {outage:.0f} s: {n} events stored, {opened} alerts opened (stored during the outage: "
              f"{stored_in_outage}), {len(receiver.calls)} calls ({len(receiver.calls) - len(receiver.accepted)} "
              f"failed), {len(deliveries)} alerts delivered, duplicates {sum(deliveries.values()) - len(deliveries)}, "
              f"dead-lettered {undelivered}, valid signatures {signed}/{len(receiver.accepted)}")
        assert stored_in_outage, "detection, storage or the pipeline's commits waited for the webhook"
        assert opened == n and len(deliveries) == n
        assert all(count == 1 for count in deliveries.values()), "an alert delivered twice"
        assert undelivered == 0 and signed == len(receiver.accepted)
    finally:
        receiver.close()
