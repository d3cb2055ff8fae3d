"""What the benchmark scripts share: machine facts, quantiles, reading alerts back, writing results."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "results"

# A queue-wait threshold of seconds instead of minutes, so simulated traffic raises alerts quickly.
FAST_RULES = "[long_queue_wait]\nopen_seconds = 5\nescalate_seconds = 60\ncooldown_seconds = 0\n"


def fast_alert_pipeline(bootstrap: str, prefix: str, lateness: float = 1.0):
    """A test-harness pipeline (own topics and data dir) whose alerts come within seconds: FAST_RULES and
    `lateness` seconds of allowed lateness (instead of the default 10 s)."""
    from tests.integration.pipeline import Pipeline

    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    (workdir / "rules.toml").write_text(FAST_RULES)
    pipeline = Pipeline(bootstrap, workdir)
    pipeline.env |= {"CXPULSE_DETECT_RULES_FILE": str(workdir / "rules.toml"),
                     "CXPULSE_DETECT_ALLOWED_LATENESS_SECONDS": str(lateness)}
    return pipeline


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def alerts_on_topic(bootstrap: str, topic: str) -> list[dict]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        return [json.loads(m.value) for m in consumer]
    finally:
        consumer.close()


def alert_latencies(alerts: list[dict]) -> list[float]:
    """Seconds from the event time a threshold passed to the wall clock when the alert opened."""
    return sorted((dt.datetime.fromisoformat(a["detected_at"]) - dt.datetime.fromisoformat(a["threshold_at"])).total_seconds()
                  for a in alerts if a["state"] == "open")


HOPS = ("event time -> ingest read", "ingest -> validated", "dedup -> graph", "identity -> resolved",
        "resolved -> row stored")


def hop_latencies(pipeline) -> dict[str, tuple[float, float]]:
    """p50/p99 seconds of each hop an event takes, from the produce time of the envelope that first
    carried it on each internal topic (Kafka CreateTime, set by the stage's producer) and the row's
    received_at and stored_at: where end-to-end latency goes."""
    rows = pipeline.query("SELECT source, event_id, toUnixTimestamp64Milli(event_time) / 1000 AS et, "
                          "toUnixTimestamp64Milli(received_at) / 1000 AS rx, toUnixTimestamp64Milli(stored_at) / 1000 AS st "
                          "FROM cx.events")
    from streams.domain.identity_graph import decode_message
    from streams.domain.records import decode_event, decode_resolved, decode_validated

    def carried(value: bytes):  # the graph message that carries the event (its strongest identifier's)
        event = getattr(decode_message(value), "event", None)
        return decode_event(event) if event else None

    env = pipeline.env
    sent = [_first_sent(pipeline.bootstrap, env[f"CXPULSE_KAFKA_{name}_TOPIC"], decode)
            for name, decode in (("VALIDATED", lambda v: decode_validated(v).event), ("IDENTITY", carried),
                                 ("RESOLVED", decode_resolved))]
    hops: list[list[float]] = [[] for _ in HOPS]
    for r in rows:
        key = (r["source"], r["event_id"])
        times = [r["et"], r["rx"], *(s.get(key) for s in sent), r["st"]]
        if None not in times:
            for i, hop in enumerate(hops):
                hop.append(times[i + 1] - times[i])
    return {name: (round(quantile(sorted(h), 0.50), 3), round(quantile(sorted(h), 0.99), 3)) for name, h in zip(HOPS, hops)}


def _first_sent(bootstrap: str, topic: str, decode) -> dict[tuple[str, str], float]:
    """(source, id) -> produce time of the first envelope on `topic` that carried the event."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.runtime.envelopes import unpack

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        out: dict[tuple[str, str], float] = {}
        for m in consumer:
            for value in unpack(m.value):
                ev = decode(value)
                if ev is not None:
                    out.setdefault((ev.source, ev.id), m.timestamp / 1000)
        return out
    finally:
        consumer.close()


def process_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (user + system)."""
    proc = psutil.Process(pid)
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


def process_rss(pid: int) -> int:
    proc = psutil.Process(pid)
    return proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))


def write_results(name: str, result: dict, table: str) -> Path:
    """results/<name>-<when>.json and .md; returns the stem."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"{name}-{result['when'].replace(':', '')}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(table + "\n")
    return stem
