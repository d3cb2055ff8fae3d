"""State per customer, every store together, and where its bytes go.

Runs simulated traffic through the stages' own pure logic (streams.boards.simulated: ingest's
parse, the identity graph, detection with its event-time clock and the outreach team's actions)
and encodes what each changelogged table would hold, as the stages encode it: identity nodes
(msgpack), detection states (msgpack), dedup entries (JSON [origin, position, seen_at], one per
event inside the dedup window). Keys are counted as stored (JSON strings). RocksDB's own overhead
and the decoded caches are not in it: the harness's RSS figure has those.

    .venv/bin/python benchmarks/state_size.py --minutes 30 --rate 50

Prints a table and writes results/state-size-<when>.{json,md}. Not a test: run it and read it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.measure import machine, write_results  # noqa: E402
from streams.boards import simulated  # noqa: E402
from streams.config import Settings  # noqa: E402
from streams.domain import identity_graph as graph  # noqa: E402
from streams.domain.detect.state import encode as encode_state  # noqa: E402

BUDGET = 2048  # bytes per customer, all stores (issue 17)


def key_bytes(key: str) -> int:
    return len(msgspec.json.encode(key))


def by_field(states) -> Counter:
    """Bytes of each CustomerState field over all states (msgpack of the field alone)."""
    sizes: Counter = Counter()
    for state in states:
        for name in state.__struct_fields__:
            sizes[name] += len(msgspec.msgpack.encode(getattr(state, name)))
    return sizes


def run(minutes: float, rate: float, seed: int) -> dict:
    settings = Settings()
    end = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
    nodes: dict[str, graph.Node] = {}
    states: dict = {}
    evs, _ = simulated.stitch(simulated.events(seed, end, minutes, rate, settings), settings, nodes)
    simulated.detect(evs, settings, end.timestamp(), seed, states)
    customers = len(states)
    window_start = end.timestamp() - settings.ingest.dedup_window_seconds
    dedup = [ev for ev in evs if ev.received_at >= window_start]
    stores = {
        "identity_nodes": sum(key_bytes(k) + len(graph.encode(n)) for k, n in nodes.items()),
        "detect_customers": sum(key_bytes(k) + len(encode_state(s)) for k, s in states.items()),
        "dedup_seen": sum(key_bytes(ev.dedup_key) + len(msgspec.json.encode([ev.origin, "0:12345678:9", ev.received_at]))
                          for ev in dedup),
    }
    fields = by_field(states.values())
    sizes = sorted(key_bytes(k) + len(encode_state(s)) for k, s in states.items())
    spread = {f"p{q}": sizes[min(len(sizes) - 1, len(sizes) * q // 100)] for q in (50, 90, 99)} | {"max": sizes[-1]}
    return {"minutes": minutes, "rate": rate, "seed": seed, "events": len(evs), "customers": customers,
            "identity_nodes": len(nodes), "dedup_entries": len(dedup),
            "dedup_window_s": settings.ingest.dedup_window_seconds,
            "bytes_per_customer": {name: round(total / customers) for name, total in stores.items()},
            "total_bytes_per_customer": round(sum(stores.values()) / customers),
            "detect_state_bytes_spread": spread,
            "detect_state_fields_bytes_per_customer": {name: round(n / customers) for name, n in fields.most_common()}}


def markdown(r: dict) -> str:
    per = r["bytes_per_customer"]
    lines = [f"{r['events']:,} simulated events ({r['minutes']} min at {r['rate']} ev/s, seed {r['seed']}), "
             f"{r['customers']:,} customers, {r['identity_nodes']:,} identity nodes, "
             f"{r['dedup_entries']:,} dedup entries (window {r['dedup_window_s']:.0f} s)", "",
             "| store | bytes per customer |", "|---|---:|"]
    lines += [f"| {name} | {n:,} |" for name, n in per.items()]
    spread = ", ".join(f"{q} {n:,}" for q, n in r["detect_state_bytes_spread"].items())
    lines += [f"| **all stores** | **{r['total_bytes_per_customer']:,}** (budget {BUDGET:,}) |", "",
              f"One customer's detection state, bytes: {spread}.", "",
              "Detection state by field, bytes per customer:", "", "| field | bytes |", "|---|---:|"]
    lines += [f"| {name} | {n:,} |" for name, n in r["detect_state_fields_bytes_per_customer"].items() if n]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="simulated traffic, in minutes of event time")
    parser.add_argument("--rate", type=float, default=50.0, help="simulated events per second")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = run(args.minutes, args.rate, args.seed)
    result["when"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result["machine"] = machine()
    table = markdown(result)
    stem = write_results("state-size", result, table)
    print(table)
    print(f"wrote {stem}.json and .md", file=sys.stderr)


if __name__ == "__main__":
    main()
