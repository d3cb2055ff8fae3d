"""Test harness: a real worker process against a real broker, isolated by unique topic names.

Each test gets its own topics, consumer group and data dir, so tests can share one broker
(embedded Tansu, or Apache Kafka when CXPULSE_KAFKA_BOOTSTRAP is set). The warehouse is read
through `cxpulse query` in a subprocess: chDB lets a process open only one data path.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
from kafka import KafkaProducer

from streams.cli.embedded_broker import free_port
from streams.cli.status import LagProbe, scrape
from streams.gateway.client import wait_ready
from tests.integration.worker_processes import LOG_TAIL, Workers, wait_until

__all__ = ["Pipeline", "event", "wait_until"]


def event(i: int, *, channel: str = "chat", source: str = "/test/chat", when: dt.datetime | None = None,
          email: str | None = None) -> dict:
    when = when or dt.datetime.now(dt.UTC)
    return {
        "specversion": "1.0", "id": f"ev-{i}", "source": source, "type": "cx.contact.message",
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": {"channel": channel, "customer": {"email": email or f"Customer{i % 997}@Example.com"},
                 "contact_id": f"c-{i // 5}", "queue": "billing", "attributes": {"author": "customer"}},
    }


def lagging(by_partition: dict | None) -> str:
    """The partitions a group has not committed to the end, one per line: group topic[partition] lag."""
    if by_partition is None:
        return "the broker unreachable"
    return "".join(f"\n  {group} {tp.topic}[{tp.partition}] {n}"
                   for (group, tp), n in sorted(by_partition.items(), key=str) if n) or "none"


class Pipeline:
    def __init__(self, bootstrap: str, workdir: Path, partitions: int = 4) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.bootstrap, self.workdir = bootstrap, workdir
        self.input_topic = f"cx.events.t{suffix}"
        self.metrics_port = free_port()
        self.env = {
            **os.environ,
            "CXPULSE_KAFKA_BOOTSTRAP": bootstrap,
            "CXPULSE_KAFKA_INPUT_TOPICS": self.input_topic,
            "CXPULSE_KAFKA_DLQ_TOPIC": f"cx.events.dlq.t{suffix}",
            "CXPULSE_KAFKA_VALIDATED_TOPIC": f"cx.events.validated.t{suffix}",
            "CXPULSE_KAFKA_IDENTITY_TOPIC": f"cx.identity.graph.t{suffix}",
            "CXPULSE_KAFKA_LINKS_TOPIC": f"cx.identity.links.t{suffix}",
            "CXPULSE_KAFKA_RESOLVED_TOPIC": f"cx.events.resolved.t{suffix}",
            "CXPULSE_KAFKA_ALERTS_TOPIC": f"cx.alerts.t{suffix}",
            "CXPULSE_KAFKA_WORK_ITEMS_TOPIC": f"cx.work_items.t{suffix}",
            "CXPULSE_KAFKA_OUTREACH_QUEUE_TOPIC": f"cx.outreach.queue.t{suffix}",
            "CXPULSE_KAFKA_DISPATCH_TOPIC": f"cx.outreach.dispatch.t{suffix}",
            "CXPULSE_KAFKA_TICKS_TOPIC": f"cx.detect.ticks.t{suffix}",
            "CXPULSE_KAFKA_UNDELIVERED_TOPIC": f"cx.alerts.undelivered.t{suffix}",
            "CXPULSE_KAFKA_PRIVACY_TOPIC": f"cx.privacy.requests.t{suffix}",
            "CXPULSE_KAFKA_ERASURES_TOPIC": f"cx.privacy.erasures.t{suffix}",
            "CXPULSE_KAFKA_APP_ID": f"cxpulse-t{suffix}",
            "CXPULSE_KAFKA_PARTITIONS": str(partitions),
            "CXPULSE_DATA_DIR": str(workdir / "data"),
            "CXPULSE_METRICS_PORT": str(self.metrics_port),
        }
        self.worker: subprocess.Popen | None = None
        self.workers = Workers()  # every worker started here: waits fail at once when one exits
        self.gateway: subprocess.Popen | None = None
        self.starts = 0
        self._producer: KafkaProducer | None = None

    # -- worker -------------------------------------------------------------------------
    def start_worker(self, timeout: float = 90.0) -> None:
        self.starts += 1
        log_path = self.workdir / f"worker-{self.starts}.log"
        self.worker = self.workers.start(f"worker {self.starts}", self.env, log_path, timeout)

    def start_another_worker(self, name: str, timeout: float = 90.0) -> subprocess.Popen:
        """A worker of the same group with its own warehouse (chDB opens one data path per process)."""
        env = {**self.env, "CXPULSE_DATA_DIR": str(self.workdir / f"data-{name}"),
               "CXPULSE_METRICS_PORT": str(free_port())}
        return self.workers.start(f"worker {name}", env, self.workdir / f"worker-{name}.log", timeout)

    def wait(self, predicate, timeout: float, what, interval: float = 0.3):
        """wait_until, failing at once when a worker exits, and with every worker's stacks on a timeout."""
        return self.workers.wait(predicate, timeout, what, interval)

    def start_gateway(self, env: dict[str, str] | None = None, timeout: float = 60.0) -> str:
        """`cxpulse gateway` on a free port with this pipeline's topics; its base URL once /readyz answers 200."""
        port = free_port()
        self.gateway_env = {**self.env, "CXPULSE_GATEWAY_PORT": str(port),
                            "CXPULSE_GATEWAY_METRICS_PORT": str(free_port()), **(env or {})}
        self.gateway_log = self.workdir / "gateway.log"
        with open(self.gateway_log, "wb") as log:
            self.gateway = subprocess.Popen([sys.executable, "-m", "streams.cli", "gateway"], env=self.gateway_env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, self.gateway, self.gateway_log, timeout)
        return url

    def kill_worker(self) -> None:
        self.workers.forget(self.worker)
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()

    def stop_worker(self, timeout: float = 60.0) -> int:
        return self.stop(self.worker, timeout) if self.worker else 0

    def stop(self, worker: subprocess.Popen, timeout: float = 60.0) -> int:
        """SIGTERM a worker and its exit code once it stopped (its stacks in the failure when it does not).
        A stop logs no traceback: the stages stop before the producer, so none meets it closed."""
        if worker.poll() is not None:
            return worker.returncode
        watched = next((w for w in self.workers.running if w.process is worker), None)
        start = watched.log.stat().st_size if watched else 0
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            code = worker.wait(timeout)
        except subprocess.TimeoutExpired:
            report = self.workers.report()
            os.killpg(worker.pid, signal.SIGKILL)
            raise AssertionError(f"worker did not stop on SIGTERM within {timeout:.0f}s{report}") from None
        finally:
            self.workers.forget(worker)
        stopping = watched.log_text(start) if watched else ""
        assert "Traceback" not in stopping, f"the worker logged a traceback while stopping:\n{stopping[-LOG_TAIL:]}"
        return code

    def metrics(self):
        return scrape(f"http://127.0.0.1:{self.metrics_port}/metrics")

    def metrics_text(self) -> str:
        import urllib.request

        return urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).read().decode()

    def wait_stored(self, events: int, dead_letters: int, timeout: float = 120.0) -> None:
        def done():
            rows = self.metrics().rows_by_table
            return rows.get("cx.events", 0) >= events and rows.get("cx.dead_letters", 0) >= dead_letters
        self.wait(done, timeout, lambda: f"{events} events and {dead_letters} dead letters stored "
                                         f"(now {self.metrics().rows_by_table})")

    def groups(self) -> dict[str, list[str]]:
        """{consumer group: topics} the worker commits, as the worker names them."""
        from streams.config import load_settings
        from streams.runtime.topics import committing_groups

        return committing_groups(load_settings(environ=self.env))

    def wait_drained(self, timeout: float = 300.0) -> None:
        """Every stage's consumer has committed up to the end of its topics (nothing left to store)."""
        probe = LagProbe({"bootstrap_servers": self.bootstrap}, self.groups())
        try:
            self.wait(lambda: probe.lag() == 0, timeout,
                      lambda: f"consumer lag 0 on every pipeline topic (now {lagging(probe.by_partition())})")
        finally:
            probe.close()

    # -- kafka ----------------------------------------------------------------------------
    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        return self._producer

    def send(self, value: bytes | dict, *, key: bytes | None = None, headers=None) -> None:
        if isinstance(value, dict):
            value = orjson.dumps(value)
        self.producer.send(self.input_topic, value=value, key=key, headers=headers or [])

    def flush(self) -> None:
        self.producer.flush()

    # -- warehouse (only while no worker holds chDB) -------------------------------------
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=self.env, capture_output=True,
                              text=True, check=check, timeout=300)

    def query(self, sql: str) -> list[dict]:
        out = self.cli("query", sql, "--format", "json").stdout
        return [json.loads(line) for line in out.splitlines() if line]

    def scalar(self, sql: str):
        rows = self.query(sql)
        return next(iter(rows[0].values()))

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
        if self.gateway is not None and self.gateway.poll() is None:
            os.killpg(self.gateway.pid, signal.SIGTERM)
            self.gateway.wait(30)
        self.workers.kill_all()
