"""One harness row for several checkouts of cxpulse, alternated round by round in one sitting.

The machines vary by 10-30 % from hour to hour, so a change is judged against the code before it
measured minutes apart, not against an older run. Each root is a checkout (`git worktree add
/tmp/before <commit>`); its row runs in a subprocess from that root, so the worker and the simulator
it starts import that root's code (the venv's editable install comes after the working directory
on sys.path). Prints one JSON line per run. Not a test.

  python benchmarks/ab_roots.py backlog --rounds 2 /tmp/before .
  scripts/with-apache-kafka .venv/bin/python benchmarks/ab_roots.py live --rate 1371 /tmp/before .
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROW = r'''
import json, os, sys
root, kind, events, rate, seconds, seed = sys.argv[1:]
sys.path[:0] = [root, root + "/benchmarks"]
import harness
if kind == "backlog":
    with harness.backlog(os.environ.get("CXPULSE_KAFKA_BOOTSTRAP"), int(events), int(seed), publish_first=False) as (_, p):
        result = harness.pipeline_backlog(p, int(events), int(seed))
else:
    result = harness.live(os.environ["CXPULSE_KAFKA_BOOTSTRAP"], float(rate), float(seconds), int(seed), 0.25)
print(json.dumps(result))
'''


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("row", choices=["backlog", "live"])
    parser.add_argument("roots", nargs="+", type=Path, help="checkouts of cxpulse to compare")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--events", type=int, default=50_000, help="backlog size")
    parser.add_argument("--rate", type=float, default=1_000.0, help="live events/s")
    parser.add_argument("--seconds", type=float, default=60.0, help="live traffic duration")
    args = parser.parse_args(argv)
    if args.row == "live" and not os.environ.get("CXPULSE_KAFKA_BOOTSTRAP"):
        parser.error("live rows need a broker: run under scripts/with-apache-kafka or set CXPULSE_KAFKA_BOOTSTRAP")
    for round_ in range(args.rounds):
        for root in (r.resolve() for r in args.roots):
            print(f"round {round_ + 1}: {args.row} row from {root}", file=sys.stderr, flush=True)
            run = subprocess.run([sys.executable, "-c", ROW, str(root), args.row, str(args.events), str(args.rate),
                                  str(args.seconds), str(11 + round_)], capture_output=True, text=True, cwd=root)
            if run.returncode:
                print(run.stderr[-2000:], file=sys.stderr)
                return 1
            print(json.dumps({"root": str(root), "round": round_ + 1, **json.loads(run.stdout.splitlines()[-1])}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
