"""`cxpulse schema validate`: check a JSON-lines file of events against the contract.

Runs the same parse as the ingest stage (size, JSON, schema, normalization, time skew against
now), so a file that passes here is accepted by the pipeline, duplicates aside.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import IO, BinaryIO

from streams.config import IngestSettings
from streams.domain import cloudevents, contract
from streams.domain.rejections import Rejected
from streams.stages.ingest import parse


def validate_lines(lines: BinaryIO, settings: IngestSettings, out: IO[str]) -> tuple[int, int]:
    """Write one line per failure (`line N: reason: detail`); return (events, failures)."""
    total = failures = 0
    now = datetime.now(UTC)
    for number, line in enumerate(lines, 1):
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        total += 1
        try:
            parse(line, None, origin=f"line:{number}", received_at=time.time(), settings=settings, now=now)
        except Rejected as first:
            failures += 1
            found = [first]
            try:  # list every schema failure, not just the first, when the line is JSON at all
                event, _ = cloudevents.decode(line, None)
                found = list(contract.errors(event)) or found
            except Rejected:
                pass
            for rejected in found:
                out.write(f"line {number}: {rejected.reason}: {rejected.detail}\n")
    return total, failures
