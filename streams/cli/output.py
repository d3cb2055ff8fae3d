"""Query results as TSV (with a header row) or JSON lines, for `cxpulse query` and friends."""

from __future__ import annotations

from datetime import date, datetime
from typing import IO, Any

import orjson

from streams.warehouse import Result


def _cell(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def write_result(result: Result, fmt: str, out: IO[str]) -> None:
    if fmt == "json":
        for row in result.dicts():
            out.write(orjson.dumps(row, default=str).decode() + "\n")
        return
    out.write("\t".join(result.columns) + "\n")
    for row in result.rows:
        out.write("\t".join(_cell(v) for v in row) + "\n")
