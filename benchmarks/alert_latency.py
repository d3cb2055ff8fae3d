"""Alert latency under load: wall clock when an alert opens minus the event time its threshold passed.

For each rate, a fresh set of topics and one worker (live clock, queue-wait threshold 5 s so
simulated traffic raises alerts within seconds, --lateness s of allowed lateness: a threshold's
alert waits that long for late events by design, so it is part of every latency), simulated
traffic generated ahead and published at that rate for --seconds, then the alerts read back from
cx.alerts. Reports the rate the worker kept up with and p50/p99 of the latency, side by side in
one run. Not a test.

    .venv/bin/python benchmarks/alert_latency.py --rates 1000,2500,5000 --seconds 60 --lateness 0.25
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.measure import (  # noqa: E402
    alert_latencies,
    alerts_on_topic,
    fast_alert_pipeline,
    machine,
    quantile,
    write_results,
)
from streams.cli.embedded_broker import EmbeddedBroker  # noqa: E402
from streams.simulator.publish import publish  # noqa: E402


def run(bootstrap: str, rate: float, seconds: float, seed: int, lateness: float) -> dict:
    pipeline = fast_alert_pipeline(bootstrap, "cxpulse-alert-bench-", lateness)
    try:
        pipeline.start_worker()
        stats = publish(bootstrap, pipeline.input_topic, rate=rate, duration=seconds, seed=seed, progress=False,
                        ahead=True)
        published_at = time.monotonic()
        pipeline.wait_stored(events=stats.valid, dead_letters=0, timeout=900)
        kept_up = stats.produced / (stats.elapsed + time.monotonic() - published_at)  # publishing + storing the rest
        pipeline.wait_drained(timeout=900)  # escalations come up to escalate_seconds after the traffic
        pipeline.stop_worker()
        lat = alert_latencies(alerts_on_topic(bootstrap, pipeline.env["CXPULSE_KAFKA_ALERTS_TOPIC"]))
        return {"rate_asked": rate, "published": stats.produced, "publish_s": round(stats.elapsed, 1),
                "kept_up_events_per_s": round(kept_up), "alerts_opened": len(lat),
                "alert_latency_p50_s": round(quantile(lat, 0.50), 2), "alert_latency_p99_s": round(quantile(lat, 0.99), 2)}
    finally:
        pipeline.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="250,500,1000,5000")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--lateness", type=float, default=1.0, help="detect.allowed_lateness_seconds")
    args = parser.parse_args()
    external = os.environ.get("CXPULSE_KAFKA_BOOTSTRAP")
    broker = None if external else EmbeddedBroker().start()
    rows = []
    try:
        for rate in (float(r) for r in args.rates.split(",")):
            print(f"rate {rate:,.0f}/s for {args.seconds:.0f} s…", file=sys.stderr)
            rows.append(run(external or broker.bootstrap, rate, args.seconds, args.seed, args.lateness))
            print(rows[-1], file=sys.stderr)
    finally:
        if broker:
            broker.stop()
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result = {"when": when, "machine": machine(),
              "broker": "external " + external if external else "embedded Tansu", "seconds": args.seconds,
              "allowed_lateness_s": args.lateness, "rows": rows}
    table = [f"| rate asked (ev/s, {args.seconds:.0f} s) | published | published ÷ (publish + store the rest) s | alerts opened | p50 latency (s) | p99 latency (s) |",
             "|---:|---:|---:|---:|---:|---:|"]
    table += [f"| {r['rate_asked']:,.0f} | {r['published']:,} | {r['kept_up_events_per_s']:,} | {r['alerts_opened']:,} "
              f"| {r['alert_latency_p50_s']} | {r['alert_latency_p99_s']} |" for r in rows]
    write_results("alert-latency", result, "\n".join(table))
    print("\n".join(table))


if __name__ == "__main__":
    main()
