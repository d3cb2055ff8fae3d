"""CPU per event of the domain logic alone: identity stitching and detection, no Kafka, no Faust.

Runs the simulator's traffic through the stages' own pure logic (streams.boards.simulated, as
state_size.py does) and times each part with the process clock, best of `--repeat`. What the worker
spends beyond these figures is the runtime's (topics, state stores, the warehouse):
profile_pipeline.py splits that. Compare two commits side by side on the same machine:

    .venv/bin/python benchmarks/domain_cpu.py --minutes 10 --rate 80
    git stash; .venv/bin/python benchmarks/domain_cpu.py; git stash pop

Prints one JSON line. Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.boards import simulated  # noqa: E402
from streams.config import Settings  # noqa: E402


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        result = fn()
        best = min(best, time.process_time() - started)
    return best, result


def run(minutes: float, rate: float, seed: int, repeat: int) -> dict:
    settings = Settings()
    end = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
    events = simulated.events(seed, end, minutes, rate, settings)
    stitch_s, (stitched, _) = best_of(repeat, lambda: simulated.stitch(events, settings, {}))
    detect_s, _ = best_of(repeat, lambda: simulated.detect(stitched, settings, end.timestamp(), seed, {}))
    n = len(events)
    return {"events": n, "stitch_us_per_event": round(stitch_s / n * 1e6, 1),
            "detect_us_per_event": round(detect_s / n * 1e6, 1), "repeat": repeat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=80, help="events per second of simulated traffic")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run(args.minutes, args.rate, args.seed, args.repeat)))


if __name__ == "__main__":
    main()
