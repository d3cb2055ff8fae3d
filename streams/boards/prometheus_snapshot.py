"""The Prometheus boards drawn like `snapshot` draws the ClickHouse ones, from a Prometheus's HTTP API.

The pipeline-health board reads Prometheus, not the warehouse, so its picture needs a Prometheus
that scraped a worker: `cxpulse grafana snapshot --prometheus URL`, and the scrape integration
test, which draws it from the real Prometheus it runs. Every target's PromQL is expanded as Grafana
would with each variable on All, run over the board's range (`query_range` for time series,
instant queries for stats and tables), and handed to the same panel drawers as (columns, rows).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

from streams.boards.snapshot import draw
from streams.warehouse import macros

GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s"}
Query = Callable[[str, dict[str, str]], Any]  # (API path, parameters) -> the response's "data"


def http_api(url: str) -> Query:
    """Queries against a Prometheus at `url` (its /api/v1/…)."""
    def query(path: str, params: dict[str, str]) -> Any:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/{path}?{urllib.parse.urlencode(params)}",
                                    timeout=30) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {params.get('query', path)!r}: {body.get('error')}")
        return body["data"]
    return query


def expand(expr: str, dashboard: dict, time_range: macros.TimeRange) -> str:
    """Variables as Grafana sends them with All selected; $__range as the board's range."""
    values = dict(GRAFANA_BUILTINS, __range=f"{int((time_range.end - time_range.start).total_seconds())}s")
    for variable in dashboard.get("templating", {}).get("list", []):
        values[variable["name"]] = variable.get("allValue") or ".*"
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), m.group(0)), expr)


def _legend(fmt: str, metric: dict[str, str]) -> str:
    if fmt:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt)
    return ",".join(f"{k}={v}" for k, v in sorted(metric.items()) if k != "__name__") or "value"


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def panel_data(panel: dict, dashboard: dict, time_range: macros.TimeRange, query: Query) -> tuple[list, list]:
    """(columns, rows) for a panel, shaped as snapshot's drawers read them."""
    start, end = time_range.start.timestamp(), time_range.end.timestamp()
    targets = [(expand(t["expr"], dashboard, time_range), t.get("legendFormat", "")) for t in panel.get("targets", [])]
    if panel["type"] == "timeseries":
        step = max(1, int((end - start) / 240))  # about 240 points per series, as Grafana asks
        rows = []
        for expr, legend in targets:
            for series in query("query_range", {"query": expr, "start": f"{start}", "end": f"{end}", "step": f"{step}"})["result"]:
                name = _legend(legend, series["metric"])
                rows += [(_iso(at), name, float(value)) for at, value in series["values"]]
        rows.sort()
        return ["time", "series", "value"], rows
    results = [(legend, s) for expr, legend in targets
               for s in query("query", {"query": expr, "time": f"{end}"})["result"]]
    if panel["type"] == "stat":
        return [panel["title"]], [[sum(float(s["value"][1]) for _, s in results)]] if results else []
    labels = sorted({k for _, s in results for k in s["metric"] if k != "__name__"})
    return [*labels, "value"], [[s["metric"].get(k, "") for k in labels] + [float(s["value"][1])] for _, s in results]


def render(dashboard: dict, query: Query, out: Path, now: dt.datetime | None = None,
           last: dt.timedelta | None = None) -> Path:
    """Draw a Prometheus board to out/<uid>.png, over its own range or the `last` stretch before now."""
    now = now or dt.datetime.now(dt.UTC)
    time_range = macros.TimeRange(now - last, now) if last else macros.TimeRange.of(dashboard["time"], now)
    return draw(dashboard, time_range, lambda panel: panel_data(panel, dashboard, time_range, query), out)


def snapshot(query: Query, out: Path, now: dt.datetime | None = None, last: dt.timedelta | None = None) -> list[Path]:
    """Every board without ClickHouse panels (the pipeline board), drawn from the Prometheus `query` asks."""
    from streams.boards.build import dashboards

    return [render(d, query, out, now, last) for d in dashboards()
            if not any(True for _ in macros.clickhouse_targets(d))]
