"""Soak run: one worker under steady simulated traffic for an hour; memory and lag sampled every minute.

Memory must stay flat (bounded state: dedup window, forgotten customers, bounded caches) and lag
must not grow. Writes results/soak-<when>.{json,md,png}: worker RSS (MiB), consumer lag (messages)
and events stored per minute over time. Not in CI (an hour); run it before a release, on Apache Kafka: the embedded broker keeps every
message in memory (no retention), about 12 GB after 50 minutes at 1,000 ev/s.

    scripts/with-apache-kafka .venv/bin/python benchmarks/soak.py --rate 1000 --minutes 60
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.measure import machine, process_rss, write_results  # noqa: E402
from streams.cli.embedded_broker import EmbeddedBroker  # noqa: E402
from streams.cli.status import LagProbe  # noqa: E402
from tests.integration.pipeline import Pipeline  # noqa: E402


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def plot(samples: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s["minute"] for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    for ax, key, label in zip(axes, ("rss_mib", "lag", "stored_per_min"),
                              ("worker RSS (MiB)", "consumer lag (messages)", "events stored per minute")):
        ax.plot(minutes, [float("nan") if s[key] is None else s[key] for s in samples], marker="o", markersize=3)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[-1].set_xlabel("minutes")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="simulated events per second")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--max-rss-gib", type=float, default=6.0,
                        help="stop early (and say so) when the worker grows past this")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # stop cleanly on kill too: results written, broker stopped
    signal.signal(signal.SIGINT, _interrupt)   # also when started in the background, where SIGINT is ignored

    external = os.environ.get("CXPULSE_KAFKA_BOOTSTRAP")
    broker = None if external else EmbeddedBroker().start()
    bootstrap = external or broker.bootstrap
    pipeline = Pipeline(bootstrap, Path(tempfile.mkdtemp(prefix="cxpulse-soak-")))
    samples: list[dict] = []
    simulator, stopped_early = None, ""
    try:
        pipeline.start_worker()
        simulator = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "simulate", "--rate", str(args.rate), "--duration",
             str(args.minutes * 60), "--seed", str(args.seed), "--topic", pipeline.input_topic],
            env=pipeline.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = LagProbe({"bootstrap_servers": bootstrap}, pipeline.groups())
        started, stored_before = time.monotonic(), 0.0
        try:
            while simulator.poll() is None:
                time.sleep(args.sample_seconds - (time.monotonic() - started) % args.sample_seconds)
                status = pipeline.metrics()
                sample = {"minute": round((time.monotonic() - started) / 60, 2),
                          "rss_mib": round(process_rss(pipeline.worker.pid) / 2**20, 1), "lag": probe.lag()}
                if status.worker_up:  # a failed scrape is a gap in the curve, not a zero
                    stored = status.rows_by_table.get("cx.events", 0.0)
                    sample |= {"stored_per_min": round((stored - stored_before) * 60 / args.sample_seconds),
                               "stored": int(stored), "state_keys": {k: int(v) for k, v in status.state_keys.items()}}
                    stored_before = stored
                else:
                    sample |= {"stored_per_min": None, "stored": None, "state_keys": {}}
                samples.append(sample)
                log(str(sample))
                if sample["rss_mib"] > args.max_rss_gib * 1024:
                    stopped_early = f"worker RSS passed {args.max_rss_gib} GiB at minute {sample['minute']:.0f}"
                    break
        except KeyboardInterrupt:
            stopped_early = "interrupted"
        if stopped_early:
            log(f"stopping early: {stopped_early}")
        probe.close()
        pipeline.stop_worker()
    finally:
        if simulator is not None and simulator.poll() is None:
            simulator.kill()
        pipeline.close()
        if broker:
            broker.stop()

    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    first, last = samples[len(samples) // 4], samples[-1]  # after warm-up: caches and the dedup window fill first
    result = {"when": when, "machine": machine(), "broker": "external " + external if external else "embedded Tansu",
              "rate": args.rate, "minutes": args.minutes, "samples": samples,
              "rss_growth_after_warmup_mib": round(last["rss_mib"] - first["rss_mib"], 1),
              "max_lag": max((s["lag"] for s in samples if s["lag"] is not None), default=None), "stopped_early": stopped_early}
    table = "\n".join([
        f"Soak {when}: {args.rate:,.0f} ev/s for {args.minutes:.0f} min on {result['broker']}; RSS "
        f"{first['rss_mib']} MiB at minute {first['minute']:.0f} → {last['rss_mib']} MiB at minute "
        f"{last['minute']:.0f}; max lag {result['max_lag']} messages."
        + (f" Stopped early: {stopped_early}." if stopped_early else ""), "",
        "| minute | RSS (MiB) | lag | stored/min | events stored | keys: dedup / identity nodes / customers |",
        "|---:|---:|---:|---:|---:|---|",
        *[f"| {s['minute']:.1f} | {s['rss_mib']} | {s['lag']} | {s['stored_per_min']} | {s['stored']} | "
          + " / ".join(f"{s['state_keys'].get(t, 0):,}" for t in ("dedup_seen", "identity_nodes", "detect_customers"))
          + " |" for s in samples]])
    stem = write_results("soak", result, table)
    plot(samples, stem.with_suffix(".png"), f"cxpulse soak: {args.rate:,.0f} ev/s, one worker, {when}")
    print(table)
    log(f"wrote {stem}.json, .md and .png")


if __name__ == "__main__":
    main()
