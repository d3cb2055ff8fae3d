"""First throughput benchmark: Kafka -> stored rows on one worker vs a raw consume-only loop.

Both read the same pre-published events from the same broker in one run, so the ratio is
meaningful on a shared, noisy machine. Not a test: run it and read the table.

    .venv/bin/python benchmarks/throughput.py --events 100000

Writes benchmarks/results/throughput-<timestamp>.{json,md} and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.embedded_broker import EmbeddedBroker  # noqa: E402
from streams.simulator import generate  # noqa: E402
from tests.integration.pipeline import Pipeline, wait_until  # noqa: E402


def publish(pipeline: Pipeline, events: int, seed: int) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=events / 5000)
    sent = 0
    for emission in generate(seed=seed, start=start, rate=5000, bad_fraction=0.0):
        pipeline.producer.send(pipeline.input_topic, key=emission.key, value=emission.value,
                               headers=emission.headers)
        sent += 1
        if sent == events:
            break
    pipeline.flush()


async def raw_consume(bootstrap: str, topic: str, events: int) -> float:
    """aiokafka loop that only decodes each value: the ceiling any Python consumer can reach here."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=f"raw-{time.time_ns()}", enable_auto_commit=False)
    await consumer.start()
    try:
        seen, started = 0, None
        while seen < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if started is None and batches:
                started = time.perf_counter()
            for messages in batches.values():
                for message in messages:
                    orjson.loads(message.value)  # binary mode also carries ce_* headers; both are JSON values
                    seen += 1
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def pipeline_rate(pipeline: Pipeline, events: int) -> float:
    """Start a worker on the pre-published topic; events/s from 'ready' to every row stored."""
    pipeline.start_worker()
    ready = time.perf_counter()
    wait_until(lambda: pipeline.metrics().rows_by_table.get("cx.events", 0) >= events, 900,
               f"{events} rows stored", interval=0.1)
    elapsed = time.perf_counter() - ready
    pipeline.stop_worker()
    return events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    external = os.environ.get("CXPULSE_KAFKA_BOOTSTRAP")
    broker = None if external else EmbeddedBroker().start()
    bootstrap = external or broker.bootstrap
    workdir = Path(tempfile.mkdtemp(prefix="cxpulse-bench-"))
    pipeline = Pipeline(bootstrap, workdir)
    try:
        from streams.config import load_settings
        from streams.topics import create_topics

        create_topics(load_settings(environ=pipeline.env))
        print(f"publishing {args.events:,} simulated events to {bootstrap}…", file=sys.stderr)
        publish(pipeline, args.events, args.seed)
        print("raw consume-only loop…", file=sys.stderr)
        raw = asyncio.run(raw_consume(bootstrap, pipeline.input_topic, args.events))
        print("cxpulse worker (the whole pipeline, chDB)…", file=sys.stderr)
        full = pipeline_rate(pipeline, args.events)
    finally:
        pipeline.close()
        if broker:
            broker.stop()

    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "broker": "external " + external if external else "embedded Tansu",
        "events": args.events,
        "raw_consume_events_per_s": round(raw),
        "pipeline_events_per_s": round(full),
        "pipeline_vs_raw": round(full / raw, 3),
    }
    table = "\n".join([
        f"| run ({result['when']}, {result['broker']}, {args.events:,} events, {os.cpu_count()} CPUs) | events/s | vs raw |",
        "|---|---:|---:|",
        f"| raw consume + JSON decode (aiokafka) | {result['raw_consume_events_per_s']:,} | 1.00 |",
        f"| cxpulse worker: ingest → dedup → identity → detect → sink (chDB) | {result['pipeline_events_per_s']:,} | {result['pipeline_vs_raw']:.2f} |",
    ])
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"throughput-{result['when'].replace(':', '')}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
