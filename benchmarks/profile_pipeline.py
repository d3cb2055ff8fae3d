"""Where a worker's CPU goes, per event: py-spy on the harness's backlog row (or, with --live, its live
traffic), grouped by stage and by library.

Runs the harness's backlog row (same seed and broker setup, the worker warmed first), samples the thread
holding the GIL with py-spy (`--gil`: Python's own work, one core at most) from the first event read
to the last row stored (--live: simulated traffic at that rate with alerts within seconds, as the
harness's live rows, from its start to the last row stored), and splits the samples two ways:
- by stage: the outermost frame under streams/stages/ (or the runtime's own loops when no stage is
  on the stack: Faust's and aiokafka's consumer machinery, the producer, timers);
- by where the time is spent: the innermost frame's package (chDB, msgspec, orjson, jsonschema-rs,
  Faust/mode, aiokafka, RocksDB, our domain code, our runtime, ...).
Each thread's CPU comes from /proc (exact, by thread name: Python's own threads are named after the
interpreter, chDB's and RocksDB's have names of their own). chDB's share is split by its own logs
(the worker runs with clickhouse.chdb_query_log): CPU per query shape (literals
normalized away), per materialized view, and per table's merges, in the measured span. The Python threads' CPU is split by the
shares of the GIL samples, which on a loaded machine count time descheduled too (uniformly, so the
shares hold, not the sample counts).

    .venv/bin/python benchmarks/profile_pipeline.py --events 30000
    .venv/bin/python benchmarks/profile_pipeline.py --live 1800 --live-seconds 40

Writes results/profile-<when>.{json,md} and the raw collapsed stacks beside them. Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import (  # noqa: E402
    STORED_POLL_S,
    WARMUP_EVENTS,
    backlog,
    publish_while_stopped,
    row_broker,
    simulated,
    start_warm_worker,
    wait_rolled_up,
)
from benchmarks.measure import (  # noqa: E402
    RESULTS,
    fast_alert_pipeline,
    machine,
    process_cpu_seconds,
    write_results,
)
from streams.warehouse.embedded import LOG_DATABASE, ChdbWarehouse  # noqa: E402
from tests.integration.pipeline import Pipeline, wait_until  # noqa: E402

# innermost frame's file -> where the time goes (first match wins; py-spy names files by package path)
PLACES = [("chdb/", "chDB (embedded warehouse)"), ("clickhouse_driver/", "clickhouse-driver"),
          ("msgspec/", "msgspec"), ("orjson", "orjson"), ("jsonschema_rs", "jsonschema-rs"),
          ("rocksdict", "RocksDB (rocksdict)"), ("phonenumbers/", "phonenumbers"),
          ("faust/", "Faust"), ("mode/", "Faust (mode)"), ("aiokafka/", "aiokafka"),
          ("kafka/", "kafka-python"), ("prometheus_client/", "prometheus-client"),
          ("socketserver.py", "metrics endpoint (HTTP server)"),
          ("streams/domain/", "cxpulse domain logic"), ("streams/runtime/", "cxpulse runtime layer"),
          ("streams/stages/", "cxpulse stage code"), ("streams/", "cxpulse other"),
          ("asyncio/", "asyncio event loop")]
WAITING = ("selectors.py", "threading.py")  # a thread blocked in select or on a condition: not CPU


def path_of(frame: str) -> str:
    """'func (package/module.py:12)' -> 'package/module.py'."""
    return frame.rpartition("(")[2].rpartition(":")[0]


def _in(needle: str, path: str) -> bool:
    return path.startswith(needle) or "/" + needle in path


def place(frame: str) -> str:
    path = path_of(frame)
    return next((name for needle, name in PLACES if _in(needle, path)), "Python (standard library, builtins)")


def stage(frames: list[str]) -> str:
    """The outermost stage on the stack, else what drives the thread or the loop."""
    paths = [path_of(f) for f in frames]
    for path in paths:
        if _in("streams/stages/", path):
            return "stage: " + path.split("streams/stages/")[1].removesuffix(".py")
    for path in paths:
        if _in("streams/runtime/", path):
            return "runtime: " + path.split("streams/runtime/")[1].removesuffix(".py")
    for needle, name in (("mode/threads.py", "Faust's consumer thread (aiokafka fetch and decode)"),
                         ("socketserver.py", "metrics endpoint (HTTP server)"),
                         ("prometheus_client/", "metrics endpoint (HTTP server)"),
                         ("faust/", "Faust (outside a stage)"), ("mode/", "Faust (outside a stage)"),
                         ("aiokafka/", "aiokafka (outside a stage)"), ("asyncio/", "asyncio event loop")):
        if any(_in(needle, path) for path in paths):
            return name
    return "other"


def split(raw: str) -> tuple[Counter, Counter, int, int]:
    """CPU samples by stage and by place, their total, and the samples of threads that were waiting."""
    by_stage, by_place, total, waiting = Counter(), Counter(), 0, 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames, n = stack.split(";"), int(count)
        if path_of(frames[-1]).endswith(WAITING):
            waiting += n
            continue
        by_stage[stage(frames)] += n
        by_place[place(frames[-1])] += n
        total += n
    return by_stage, by_place, total, waiting


def thread_group(name: str) -> str:
    """Who runs a thread, by its name: Python's keep the interpreter's, RocksDB names its own, and the
    rest are chDB's (ClickHouse names its pools; "Unknown" is one whose task set no name)."""
    if name.startswith("python"):
        return "Python: the event loop with every stage, Faust's consumer thread, the metrics server"
    if name.startswith("rocksdb"):
        return "RocksDB: flushes and compactions"
    return "chDB: inserts, materialized views, merges (native threads)"


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds of each thread of a process so far, with the thread's name (/proc)."""
    tick, out = os.sysconf("SC_CLK_TCK"), {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # the thread ended
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def by_thread_name(before: dict, after: dict) -> Counter:
    """CPU seconds per thread name between two thread_cpu readings (threads started between count whole)."""
    spent = Counter()
    for tid, (name, cpu) in after.items():
        spent[name] += cpu - before.get(tid, (name, 0.0))[1]
    return spent


def table(title: str, counts: Counter, python_us: float, total_us: float) -> list[str]:
    """The Python threads' CPU per event split by the GIL samples' shares."""
    samples = sum(counts.values())
    lines = ["", f"| {title} | CPU µs per event | share of the worker's CPU |", "|---|---:|---:|"]
    return lines + [f"| {name} | {python_us * n / samples:.1f} | {python_us * n / samples / total_us:.1%} |"
                    for name, n in counts.most_common()]


def sample(pid: int, raw_file: Path, rate: int, run) -> tuple[float, float, Counter]:
    """py-spy on `pid` while `run()` runs: wall seconds, the process's CPU seconds, CPU per thread name."""
    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
                            "--rate", str(rate), "--format", "raw", "--output", str(raw_file),
                            "--gil", "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started, cpu0, threads0 = time.perf_counter(), process_cpu_seconds(pid), thread_cpu(pid)
    run()
    seconds, cpu = time.perf_counter() - started, process_cpu_seconds(pid) - cpu0
    threads = by_thread_name(threads0, thread_cpu(pid))
    spy.send_signal(signal.SIGINT)
    spy.wait(60)
    return seconds, cpu, threads


# CPU in microseconds of a log row (ClickHouse counts its threads' user and system time per query)
_CPU = "(ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds'])"
CHDB_COSTS = {
    "query": "SELECT substr(normalizeQuery(replaceRegexpAll(query, '\\\\s+', ' ')), 1, 90), count(), sum({cpu}) "
             "FROM {logs}.query_log WHERE type = 'QueryFinish' AND event_time_microseconds BETWEEN {since} AND {until} "
             "GROUP BY 1 ORDER BY 3 DESC LIMIT 12",
    "materialized view (part of its insert above)": "SELECT view_name, count(), sum({cpu}) FROM {logs}.query_views_log "
             "WHERE event_time_microseconds BETWEEN {since} AND {until} GROUP BY 1 ORDER BY 3 DESC",
    "merges (background)": "SELECT concat(database, '.', table), count(), sum({cpu}) FROM {logs}.part_log "
             "WHERE event_type = 'MergeParts' AND event_time_microseconds BETWEEN {since} AND {until} GROUP BY 1 ORDER BY 3 DESC "
             "LIMIT 8",
}


def chdb_costs(pipeline: Pipeline, since: float, until: float) -> dict[str, list[tuple[str, int, float]]]:
    """What chDB spent in the worker from `since` to `until` (wall clock, the measured span), from its
    own logs: (what, count, CPU seconds) per query shape, view and merged table. Read once the worker
    stopped (it keeps its logs at a clean stop; chDB opens one data path per process); what it did
    while stopping (the last rollups) is not the span's."""
    warehouse = ChdbWarehouse(Path(pipeline.env["CXPULSE_DATA_DIR"]) / "chdb")
    try:
        at, end = (f"fromUnixTimestamp64Micro({int(t * 1e6)}, 'UTC')" for t in (since, until))
        return {what: [(name, int(n), us / 1e6) for name, n, us in
                       warehouse.query(sql.format(cpu=_CPU, since=at, until=end, logs=LOG_DATABASE)).rows]
                for what, sql in CHDB_COSTS.items()}
    finally:
        warehouse.close()


def profile_backlog(external: str | None, events: int, seed: int, rate: int, raw_file: Path) -> tuple:
    """The harness's backlog row (pipeline_backlog): the worker is warmed by WARMUP_EVENTS events of
    other customers first, then the backlog is published and measured from its first event read to
    its last row stored. A cold worker pays its first inserts and tables once, and a backlog
    published before the worker starts is all looked up as a possible replay of the sink's first
    assignment (streams.warehouse.replays): unwarmed, a profile read 257 µs per event against 180
    warmed (2026-12-07)."""
    with backlog(external, events, seed, publish_first=False) as (bootstrap, pipeline):
        start_warm_worker(pipeline, seed)
        publish_while_stopped(pipeline, simulated(events, seed))
        wait_until(lambda: pipeline.metrics().consumed > WARMUP_EVENTS, 120, "the first event read", interval=0.01)
        since = time.time()
        measured = sample(pipeline.worker.pid, raw_file, rate, lambda: wait_until(
            lambda: pipeline.metrics().rows_by_table.get("cx.events", 0) >= WARMUP_EVENTS + events, 1800,
            f"{WARMUP_EVENTS + events} rows stored", interval=STORED_POLL_S))
        wait_rolled_up(pipeline)  # the last slots' rollups are the backlog's too (as the harness counts them)
        until = time.time()
        pipeline.stop_worker()
        costs = chdb_costs(pipeline, since, until)
    return events, *measured, costs


def profile_live(external: str | None, live_rate: float, live_seconds: float, seed: int, rate: int,
                 raw_file: Path) -> tuple:
    """The harness's live rows: simulated traffic at `live_rate` (generated ahead), alerts within
    seconds (FAST_RULES, 0.25 s lateness), from the simulator's start to the last row stored. Live
    traffic costs more per event than a backlog: small batches pay each stage's per-batch work, and
    every warehouse insert its views."""
    with row_broker(external) as bootstrap:
        pipeline = fast_alert_pipeline(bootstrap, "cxpulse-profile-live-", 0.25)
        try:
            pipeline.start_worker()
            stored = []

            def traffic() -> None:
                simulator = subprocess.run(
                    [sys.executable, "-m", "streams.cli", "simulate", "--rate", str(live_rate), "--duration",
                     str(live_seconds), "--ahead", "--seed", str(seed), "--bad-fraction", "0",
                     "--topic", pipeline.input_topic], env=pipeline.env, capture_output=True, text=True, check=True)
                stored.append(int(dict(line.split("\t") for line in simulator.stdout.splitlines())["valid"]))
                pipeline.wait_stored(events=stored[0], dead_letters=0, timeout=1800)

            since = time.time()
            measured = sample(pipeline.worker.pid, raw_file, rate, traffic)
            wait_rolled_up(pipeline)
            until = time.time()
            pipeline.stop_worker()
            costs = chdb_costs(pipeline, since, until)
        finally:
            pipeline.close()
    return stored[0], *measured, costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--live", type=float, metavar="EV_PER_S",
                        help="profile live traffic at this rate instead of a backlog (alerts within seconds)")
    parser.add_argument("--live-seconds", type=float, default=40.0, help="seconds of live traffic")
    args = parser.parse_args()
    os.environ["CXPULSE_CLICKHOUSE_CHDB_QUERY_LOG"] = "true"  # the workers keep chDB's logs (chdb_costs)
    external = os.environ.get("CXPULSE_KAFKA_BOOTSTRAP")
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    raw_file = RESULTS / f"profile-{when.replace(':', '')}.stacks.txt"
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.live:
        events, seconds, cpu, threads, costs = profile_live(external, args.live, args.live_seconds, args.seed, args.rate, raw_file)
        what = (f"live traffic at {args.live:,.0f} ev/s for {args.live_seconds:.0f} s ({events:,} events; "
                "the wall time runs from its start to the last row stored)")
    else:
        events, seconds, cpu, threads, costs = profile_backlog(external, args.events, args.seed, args.rate, raw_file)
        what = f"a backlog of {events:,} events"
    by_stage, by_place, total, waiting = split(raw_file.read_text())
    us = cpu / events * 1e6
    per_event = {name: round(seconds_ / events * 1e6, 1) for name, seconds_ in threads.most_common()}
    python_us = sum(v for name, v in per_event.items() if name.startswith("python"))
    result = {"when": when, "machine": machine(), "broker": external or "embedded Tansu", "events": events,
              "live_rate": args.live, "seconds": round(seconds, 1), "events_per_s": round(events / seconds),
              "cpu_us_per_event": round(us, 1), "samples": total, "samples_waiting": waiting, "by_stage": dict(by_stage.most_common()),
              "by_place": dict(by_place.most_common()), "threads_cpu_us_per_event": per_event,
              "chdb_cpu_us_per_event": {what: {name: round(sec / events * 1e6, 1) for name, _, sec in rows}
                                        for what, rows in costs.items()},
              "stacks": raw_file.name}
    lines = [f"Run {when} on {result['broker']}, {what}: {result['events_per_s']:,} ev/s, "
             f"{result['cpu_us_per_event']} CPU µs per event (one worker), {total:,} py-spy samples of the GIL holder at "
             f"{args.rate}/s ({waiting:,} more in select or on a lock, left out); "
             f"load average {'/'.join(f'{x:.2f}' for x in os.getloadavg())} at the end."]
    groups = Counter()
    for name, v in per_event.items():
        groups[thread_group(name)] += v
    lines += ["", "| threads | CPU µs per event | names |", "|---|---:|---|"]
    lines += [f"| {group} | {v:.1f} | " + ", ".join(f"{n} {per_event[n]}" for n in per_event
                                                   if thread_group(n) == group and per_event[n] >= 0.1) + " |"
              for group, v in groups.most_common()]
    lines += ["", "chDB's CPU by its own logs (threads' user and system time per query; the views run inside "
              "their insert, merges in the background):"]
    for what, rows in costs.items():
        lines += ["", f"| {what} | runs | CPU µs per event |", "|---|---:|---:|"]
        lines += [f"| `{name}` | {n:,} | {sec / events * 1e6:.1f} |" for name, n, sec in rows]
    lines += ["", f"The Python threads' {python_us:.1f} µs per event, split by where the GIL holder was:"]
    lines += table("stage (outermost on the stack)", by_stage, python_us, us)
    lines += table("where (innermost frame)", by_place, python_us, us)
    text = "\n".join(lines)
    stem = write_results("profile", result, text)
    print(text)
    print(f"wrote {stem}.json, .md and {raw_file.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
