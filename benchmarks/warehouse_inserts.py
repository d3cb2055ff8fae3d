"""What one insert into cx.events costs chDB, by insert size, with and without the materialized views.

The sink inserts what arrived within `sink.batch_seconds`: 5,000-row inserts when it drains a
backlog, a few hundred a time under live traffic. Each insert also runs every materialized view on
cx.events, and those cost per insert, not only per row, so live traffic pays far more per event
than a backlog does. This measures it in-process (chDB, migrated schema, the simulator's events
turned into rows as the sink does) with the process clock; `--no-views` drops the views first,
`--views` keeps only those named (a view's cost is the difference it makes to `--no-views`). Since
0019 only cx.contact_progress_mv is left on cx.events; the other derived tables are rolled up per slot
of store time: `--rollup` also times every rollup of what was inserted (streams/warehouse/rollups.py),
per slot of 10 inserts, as the worker runs them: the process's CPU over each (the background merges
that the inserts started included) and each rollup query's own median CPU from chDB's query log.

    .venv/bin/python benchmarks/warehouse_inserts.py --sizes 100,650,5000
    .venv/bin/python benchmarks/warehouse_inserts.py --sizes 100,650,5000 --no-views
    .venv/bin/python benchmarks/warehouse_inserts.py --sizes 650 --views contact_progress_mv
    .venv/bin/python benchmarks/warehouse_inserts.py --sizes 650,5000 --rollup

Prints one JSON line per size. Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.boards import simulated  # noqa: E402
from streams.config import Settings  # noqa: E402
from streams.stages.sink import event_row  # noqa: E402
from streams.warehouse import rollups, view_settings  # noqa: E402
from streams.warehouse.embedded import ChdbWarehouse  # noqa: E402
from streams.warehouse.migrate import migrate  # noqa: E402

# a query's own CPU in chDB's query log: the process's CPU over a rollup also counts the merges that
# the inserts before it started in chDB's background threads
_QUERY_CPU = "ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread: chDB's native ones too
    return usage.ru_utime + usage.ru_stime


def measure(rows: list[dict], size: int, views: set[str] | None, rollup: bool) -> dict:
    """`views`: the materialized views kept (None: all); `rollup`: time the rollups of every 10 inserts."""
    warehouse = ChdbWarehouse(Path(tempfile.mkdtemp(prefix="cxpulse-inserts-")), keep_logs=rollup)
    migrate(warehouse)
    if rollup:  # the cut-offs the KPI rollup reads, as a worker publishes them at its start
        view_settings.publish(warehouse, Settings())
    for (name,) in warehouse.query("SELECT name FROM system.tables WHERE database = 'cx' "
                                   "AND engine = 'MaterializedView'").rows:
        if views is not None and name not in views:
            warehouse.execute(f"DROP VIEW cx.{name}")
    inserts = len(rows) // size
    cpu, slots, lo = 0.0, 0, 0
    rollup_cpu, cutoffs = dict.fromkeys(rollups.ROLLUPS, 0.0), rollups.Cutoffs.read(warehouse) if rollup else None
    for i in range(inserts):
        started = cpu_seconds()
        warehouse.insert("cx.events", rows[i * size:(i + 1) * size], f"bench-{size}-{i}")
        cpu += cpu_seconds() - started
        if rollup and (i % 10 == 9 or i == inserts - 1):
            hi = warehouse.query("SELECT toUnixTimestamp64Milli(max(stored_at)) FROM cx.events").scalar()
            for name in rollups.ROLLUPS:
                started = cpu_seconds()
                rollups.roll_up(warehouse, name, lo, hi, cutoffs)
                rollup_cpu[name] += cpu_seconds() - started
            slots, lo = slots + 1, hi
    if rollup:
        warehouse.execute("SYSTEM FLUSH LOGS")
        by_query = dict(warehouse.query(
            "SELECT extract(query, 'INSERT INTO cx\\.(\\w+)') AS name, round(median(" + _QUERY_CPU + ") / 1000, 1) "
            "FROM system.query_log WHERE type = 'QueryFinish' AND name IN ('" + "', '".join(rollups.ROLLUPS) + "') "
            "GROUP BY name").rows)
    warehouse.close()
    kept = "all" if views is None else sorted(views)
    out = {"rows_per_insert": size, "inserts": inserts, "views": kept,
           "cpu_ms_per_insert": round(cpu / inserts * 1e3, 1), "cpu_us_per_row": round(cpu / (inserts * size) * 1e6, 1)}
    if rollup:
        total = sum(rollup_cpu.values())
        out |= {"rollup_slots": slots, "rollup_cpu_ms_per_slot": round(total / slots * 1e3, 1),
                "rollup_cpu_us_per_row": round(total / (inserts * size) * 1e6, 1),
                "rollup_cpu_ms_per_slot_by_rollup": {name: round(c / slots * 1e3, 1) for name, c in rollup_cpu.items()},
                "rollup_query_cpu_ms_median": by_query}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,650,5000", help="rows per insert, comma-separated")
    parser.add_argument("--rows", type=int, default=20_000, help="rows inserted per size")
    parser.add_argument("--no-views", action="store_true", help="drop cx.events' materialized views first")
    parser.add_argument("--views", help="keep only these materialized views, comma-separated")
    parser.add_argument("--rollup", action="store_true", help="also time the rollups, a slot per 10 inserts")
    args = parser.parse_args()
    settings = Settings()
    end = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
    rate = 100.0  # simulated events per second: enough minutes of them for --rows rows (a few are refused)
    events, _ = simulated.stitch(simulated.events(7, end, args.rows / (rate * 60) + 1, rate, settings), settings, {})
    rows = [event_row(ev, 0, offset) for offset, ev in enumerate(events)][:args.rows]
    views = set() if args.no_views else set(args.views.split(",")) if args.views else None
    for size in (int(s) for s in args.sizes.split(",")):
        print(json.dumps(measure(rows, size, views, args.rollup)), flush=True)


if __name__ == "__main__":
    main()
