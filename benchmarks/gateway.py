"""The HTTP gateway under load, side by side with publishing straight to Kafka, in one run.

Rows (same simulated events, same broker, each on a topic of its own):
  * HTTP single   — `--clients` concurrent keep-alive connections, one event per POST (structured mode);
  * HTTP batched  — `--batch` events per POST (application/cloudevents-batch+json);
  * Kafka single  — `--clients` threads, each sending one event with kafka-python and waiting for its ack
                    (what a channel system writing to Kafka itself pays per event for a durable write);
  * Kafka pipelined — one kafka-python producer sending everything, then flush (the broker's ceiling).
Every write is acks=all by an idempotent producer; a 2xx or an ack means the broker holds the event.
The load generator runs on the same two CPUs as the gateway and the broker: the figures are what one
machine does with all three, and their ratios are what compares.

    .venv/bin/python benchmarks/gateway.py                          # embedded Tansu
    CXPULSE_KAFKA_BOOTSTRAP=127.0.0.1:19092 .venv/bin/python benchmarks/gateway.py   # another broker
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
from kafka import KafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import machine, process_cpu_seconds, quantile, write_results  # noqa: E402
from streams.cli.embedded_broker import EmbeddedBroker, free_port  # noqa: E402
from streams.config import load_settings  # noqa: E402
from streams.gateway.client import wait_ready  # noqa: E402
from streams.runtime.topics import create_topics  # noqa: E402
from streams.simulator.generate import generate  # noqa: E402

STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


def events(count: int) -> list[bytes]:
    """`count` valid structured events from the simulator (all ten channels), timed now."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    out = []
    for emission in generate(seed=7, start=start, rate=2000, bad_fraction=0.0, binary_fraction=0.0):
        if emission.expect == "valid":
            out.append(emission.value)
            if len(out) == count:
                return out
    return out


class Gateway:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.port = free_port()
        env = {**os.environ, "CXPULSE_KAFKA_BOOTSTRAP": bootstrap, "CXPULSE_KAFKA_INPUT_TOPICS": topic,
               "CXPULSE_GATEWAY_PORT": str(self.port), "CXPULSE_GATEWAY_METRICS_PORT": "0",
               "CXPULSE_GATEWAY_ALLOW_ANONYMOUS_LOOPBACK": "true", "CXPULSE_LOG_LEVEL": "warning"}
        self.process = subprocess.Popen([sys.executable, "-m", "streams.cli", "gateway"], env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_ready(self.url, self.process, "the benchmark's stderr")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


async def post_all(url: str, bodies: list[bytes], headers: dict, clients: int) -> list[float]:
    """POST every body over `clients` keep-alive connections; each answer must be 202. Latencies in seconds."""
    latencies: list[float] = []
    queue = iter(bodies)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for body in queue:
                started = time.perf_counter()
                answer = await http.post("/v1/events", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 202:
                    raise RuntimeError(f"{answer.status_code}: {answer.text}")

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def http_row(name: str, bootstrap: str, bodies: list[bytes], headers: dict, clients: int, per_request: int) -> dict:
    topic = f"bench.gateway.{uuid.uuid4().hex[:8]}"
    create_topics(load_settings(environ={"CXPULSE_KAFKA_BOOTSTRAP": bootstrap}), [topic])
    gateway = Gateway(bootstrap, topic)
    try:
        cpu = process_cpu_seconds(gateway.process.pid)
        started = time.perf_counter()
        latencies = asyncio.run(post_all(gateway.url, bodies, headers, clients))
        wall = time.perf_counter() - started
        cpu = process_cpu_seconds(gateway.process.pid) - cpu
    finally:
        gateway.stop()
    count = len(bodies) * per_request
    return {"row": name, "events": count, "requests": len(bodies), "seconds": wall, "events_per_s": count / wall,
            "p50_ms": quantile(latencies, 0.5) * 1000, "p99_ms": quantile(latencies, 0.99) * 1000,
            "server_cpu_us_per_event": cpu / count * 1e6}


def producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", enable_idempotence=True, linger_ms=1)


def kafka_single_row(bootstrap: str, bodies: list[bytes], clients: int) -> dict:
    topic = f"bench.kafka.{uuid.uuid4().hex[:8]}"
    create_topics(load_settings(environ={"CXPULSE_KAFKA_BOOTSTRAP": bootstrap}), [topic])
    latencies: list[float] = []
    queue = iter(bodies)
    lock = threading.Lock()

    def client() -> None:
        kafka = producer(bootstrap)
        kafka.partitions_for(topic)
        while True:
            with lock:
                body = next(queue, None)
            if body is None:
                break
            sent = time.perf_counter()
            kafka.send(topic, value=body).get(timeout=30)
            latencies.append(time.perf_counter() - sent)
        kafka.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"row": f"Kafka single ({clients} threads, kafka-python, ack per event)", "events": len(bodies),
            "requests": len(bodies), "seconds": wall, "events_per_s": len(bodies) / wall,
            "p50_ms": quantile(latencies, 0.5) * 1000, "p99_ms": quantile(latencies, 0.99) * 1000}


def kafka_pipelined_row(bootstrap: str, bodies: list[bytes]) -> dict:
    topic = f"bench.kafka.{uuid.uuid4().hex[:8]}"
    create_topics(load_settings(environ={"CXPULSE_KAFKA_BOOTSTRAP": bootstrap}), [topic])
    kafka = producer(bootstrap)
    kafka.partitions_for(topic)
    started = time.perf_counter()
    for body in bodies:
        kafka.send(topic, value=body)
    kafka.flush()
    wall = time.perf_counter() - started
    kafka.close()
    return {"row": "Kafka pipelined (one kafka-python producer, flush at the end)", "events": len(bodies),
            "requests": 1, "seconds": wall, "events_per_s": len(bodies) / wall}


def table(rows: list[dict]) -> str:
    lines = ["| row | events | events/s | p50 ms | p99 ms | gateway CPU µs/event |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        def cell(key, fmt):
            return format(r[key], fmt) if key in r else "–"
        lines.append(f"| {r['row']} | {r['events']:,} | {r['events_per_s']:,.0f} | {cell('p50_ms', '.2f')} | "
                     f"{cell('p99_ms', '.2f')} | {cell('server_cpu_us_per_event', ',.0f')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000, help="events per row (default 5000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections / threads (default 8)")
    parser.add_argument("--batch", type=int, default=100, help="events per batched POST (default 100)")
    args = parser.parse_args()

    external = os.environ.get("CXPULSE_KAFKA_BOOTSTRAP")
    broker = None if external else EmbeddedBroker().start()
    bootstrap = external or broker.bootstrap
    try:
        bodies = events(args.events)
        batches = [b"[" + b",".join(bodies[i:i + args.batch]) + b"]" for i in range(0, len(bodies), args.batch)]
        rows = []
        for step, run in enumerate([
            lambda: http_row(f"HTTP single ({args.clients} connections, 1 event per POST)", bootstrap, bodies,
                             STRUCTURED, args.clients, 1),
            lambda: http_row(f"HTTP batched ({max(1, args.clients // 4)} connections, {args.batch} events per POST)",
                             bootstrap, batches, BATCH, max(1, args.clients // 4), args.batch),
            lambda: kafka_single_row(bootstrap, bodies, args.clients),
            lambda: kafka_pipelined_row(bootstrap, bodies),
        ], 1):
            rows.append(run())
            print(f"[{step}/4] {rows[-1]['row']}: {rows[-1]['events_per_s']:,.0f} events/s", file=sys.stderr)
    finally:
        if broker is not None:
            broker.stop()
    text = table(rows)
    print(text)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
    path = write_results("gateway", {"when": when, "machine": machine(), "broker": "external " + external if external else
                                     "embedded Tansu", "args": vars(args), "rows": rows}, text)
    print(f"results: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
