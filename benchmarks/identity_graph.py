"""Identity graph at scale: throughput of the graph logic and state size per customer.

Runs `streams.domain.identity_graph` in-process over one FIFO (what one partition of the graph topic
delivers) for N simulated customers, each with a realistic identifier set (email, phone, account,
cookie, device; half with a CRM id, a third with a social handle) and a few events: browsing as
an anonymous visitor, contacts with one or two identifiers, a login linking everything. Node
state is stored encoded, as the changelogged table stores it, so its size is what the
changelog and RocksDB/memory hold. Not a test: run it and read the table.

    .venv/bin/python benchmarks/identity_graph.py --customers 1000000

Kafka and Faust are not in this loop (see throughput.py for the pipeline): this isolates
the cost of the identity logic itself and the state it keeps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.config import Settings  # noqa: E402
from streams.domain.identity_graph import decode_node, encode, handle, observations  # noqa: E402
from streams.domain.identity_graph import guards_of  # noqa: E402


def customer_events(rng: random.Random, n: int) -> list[dict]:
    ids = {"email": f"person{n}@example.com", "phone": f"+1{rng.choice([202, 415, 312, 646])}{n:07d}",
           "account_id": f"acct-{n}", "visitor_id": f"v-{rng.getrandbits(48):012x}",
           "device_id": f"d-{rng.getrandbits(48):012x}"}
    if rng.random() < 0.5:
        ids["customer_id"] = f"cust-{n}"
    if rng.random() < 0.3:
        ids["social"] = f"x:@person{n}"
    pick = lambda *kinds: {k: ids[k] for k in kinds if k in ids}  # noqa: E731
    return [pick("visitor_id"), pick("visitor_id"), pick("visitor_id", "email"), pick("phone"),
            pick("email", "phone", "account_id", "customer_id", "social", "device_id")]


def run(customers: int, seed: int) -> dict:
    guards = guards_of(Settings())
    rng = random.Random(seed)
    state: dict[str, bytes] = {}
    queue: deque = deque()
    events = messages = 0
    clock = 0.0
    started = time.perf_counter()
    cpu0 = time.process_time()
    for n in range(customers):
        for customer in customer_events(rng, n):
            clock += 0.01
            events += 1
            queue.extend(observations(customer, clock, b"e", guards)[0])
            while queue:
                message = queue.popleft()
                messages += 1
                raw = state.get(message.node)
                node, fx = handle(decode_node(raw) if raw else None, message, guards, f"0:{messages}")
                state[message.node] = encode(node)
                queue.extend(fx.sends)
        if n and n % 100_000 == 0:
            print(f"{n:,} customers, {events / (time.perf_counter() - started):,.0f} events/s", file=sys.stderr)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    state_bytes = sum(len(k) + len(v) for k, v in state.items())
    return {"customers": customers, "events": events, "graph_messages": messages, "nodes": len(state),
            "wall_s": round(wall, 1), "events_per_s": round(events / wall), "graph_messages_per_s": round(messages / wall),
            "cpu_us_per_event": round(cpu / events * 1e6, 1), "messages_per_event": round(messages / events, 2),
            "state_bytes_per_customer": round(state_bytes / customers, 1),
            "nodes_per_customer": round(len(state) / customers, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = run(args.customers, args.seed)
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    stamp = time.strftime("%Y-%m-%dT%H%M%S%z")
    out = ROOT / "benchmarks" / "results" / f"identity-graph-{stamp}"
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    table = ["| customers | events | graph msgs/event | events/s | CPU µs/event | nodes/customer | state bytes/customer |",
             "|---:|---:|---:|---:|---:|---:|---:|",
             f"| {result['customers']:,} | {result['events']:,} | {result['messages_per_event']} | {result['events_per_s']:,} "
             f"| {result['cpu_us_per_event']} | {result['nodes_per_customer']} | {result['state_bytes_per_customer']} |"]
    out.with_suffix(".md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
