"""Grafana's ClickHouse macros and dashboard variables, expanded into the SQL ClickHouse receives.

Without a Grafana server, the board checks, the snapshot command and the benchmark still run
exactly what Grafana would send. The steps are the plugin's (grafana-clickhouse-datasource):

1. the frontend replaces `$__conditionalAll(condition, $var)` by `1=1` when the variable is
   All (or empty), else by the condition;
2. Grafana's template service replaces `$var`, `${var}`, `[[var]]` and `${var:format}`; without
   a format the plugin's own applies: a multi-value variable becomes `'a','b'`, a single value
   goes in raw (so quote it yourself, or use `${var:sqlstring}`);
3. the backend (pkg/macros) expands the time macros with the query's time range (UTC) and
   interval: `$__timeFilter(col)` -> `col >= toDateTime(from) AND col <= toDateTime(to)`,
   `$__fromTime`, `$__toTime`, `$__dateFilter(col)`, `$__timeInterval(col)` ->
   `toStartOfInterval(toDateTime(col), INTERVAL n second)`, `$__interval_s` -> n.

Variables are resolved like Grafana resolves them on load: in order, query variables by running
their (expanded) SQL, All selected where the dashboard says so.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

CLICKHOUSE_TYPE = "grafana-clickhouse-datasource"  # the plugin whose macros these are

MAX_DATA_POINTS = 1000  # Grafana's default is the panel's width in pixels
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NICE = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200,
         86400, 7 * 86400, 30 * 86400)


@dataclass(frozen=True)
class TimeRange:
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def of(cls, spec: dict[str, str], now: dt.datetime) -> "TimeRange":
        """A dashboard's `time` ({"from": "now-7d", "to": "now"}) at `now`."""
        return cls(relative(spec["from"], now, end=False), relative(spec["to"], now, end=True))

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def relative(text: str, now: dt.datetime, end: bool) -> dt.datetime:
    """Grafana date math in UTC: now, now-6h, now/d (start of the day; its end for a range's end)."""
    match = re.fullmatch(r"now(?:-(\d+)([smhdw]))?(?:/([smhd]))?", text)
    if not match:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    at = now - dt.timedelta(seconds=int(match[1] or 0) * _UNITS[match[2] or "s"])
    if match[3]:
        unit = _UNITS[match[3]]
        floor = math.floor(at.timestamp() / unit) * unit
        at = dt.datetime.fromtimestamp(floor + (unit - 0.001 if end else 0), dt.UTC)
    return at


def interval_seconds(time_range: TimeRange, min_interval: str | None = None,
                     max_data_points: int = MAX_DATA_POINTS) -> int:
    """The query interval Grafana computes: range / max data points, rounded to a nice step,
    at least the panel's min interval (e.g. "1m")."""
    raw = time_range.seconds / max_data_points
    nice = next((n for n in _NICE if raw <= n), _NICE[-1])
    floor = 0
    if min_interval:
        number, unit = re.fullmatch(r"(\d+)([smhdw])", min_interval).groups()
        floor = int(number) * _UNITS[unit]
    return max(1, nice, floor)


@dataclass(frozen=True)
class Value:
    """A variable's current value: one or several strings; `all` when All is selected."""

    values: tuple[str, ...]
    multi: bool = False
    all: bool = False

    def format(self, fmt: str | None) -> str:
        if fmt == "sqlstring":
            return ",".join("'" + v.replace("'", "''") + "'" for v in self.values)
        if fmt == "singlequote":
            return ",".join("'" + v.replace("'", "\\'") + "'" for v in self.values)
        if fmt in ("csv", "raw"):
            return ",".join(self.values)
        if fmt is not None:
            raise ValueError(f"variable format {fmt!r} is not supported here")
        if self.multi:  # the ClickHouse plugin's own format
            return "'" + "','".join(self.values) + "'"
        return self.values[0] if self.values else ""


_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")


def _arguments(sql: str, open_at: int) -> tuple[list[str], int]:
    """The comma-separated arguments of the call whose '(' is at open_at, and the index after ')'."""
    depth, args, start = 0, [], open_at + 1
    for i in range(open_at, len(sql)):
        ch = sql[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i])
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(sql[start:i])
            start = i + 1
    raise ValueError(f"unbalanced parentheses after {sql[max(0, open_at - 20):open_at + 1]!r}")


def conditional_all(sql: str, variables: dict[str, Value]) -> str:
    marker = "$__conditionalAll("
    while (at := sql.rfind(marker)) != -1:
        args, after = _arguments(sql, at + len(marker) - 1)
        if len(args) != 2:
            raise ValueError("$__conditionalAll takes (condition, $variable)")
        name = re.sub(r"^\$\{?|\}$", "", args[1].strip())
        value = variables.get(name)
        everything = value is not None and (value.all or not value.values or value.values == ("",))
        sql = sql[:at] + ("1=1" if everything else args[0]) + sql[after:]
    return sql


def interpolate(sql: str, variables: dict[str, Value]) -> str:
    """Grafana's template service: known variables replaced, anything else ($__macros) left alone."""
    def replace(match: re.Match) -> str:
        name = match[1] or match[2] or match[4]
        if name not in variables:
            return match[0]
        return variables[name].format(match[3] or match[6])

    return _VARIABLE.sub(replace, sql)


def _datetime(at: dt.datetime) -> str:
    return f"toDateTime({math.floor(at.timestamp())})"


def _date(at: dt.datetime) -> str:
    return f"toDate('{at.astimezone(dt.UTC):%Y-%m-%d}')"


def time_macros(sql: str, time_range: TimeRange, interval_s: int) -> str:
    """The plugin backend's macros (pkg/macros/macros.go)."""
    start, end = time_range.start, time_range.end
    one_column = {
        "timeFilter": lambda c: f"{c} >= {_datetime(start)} AND {c} <= {_datetime(end)}",
        "dateFilter": lambda c: f"{c} >= {_date(start)} AND {c} <= {_date(end)}",
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {interval_s} second)",
    }
    bare = {"fromTime": _datetime(start), "toTime": _datetime(end), "interval_s": str(interval_s)}
    out, i = [], 0
    for match in re.finditer(r"\$__(\w+)", sql):
        if match.start() < i:
            continue
        name = match[1]
        out.append(sql[i:match.start()])
        if name in one_column:
            if match.end() >= len(sql) or sql[match.end()] != "(":
                raise ValueError(f"$__{name} needs a column: $__{name}(column)")
            args, i = _arguments(sql, match.end())
            if len(args) != 1:
                raise ValueError(f"$__{name} takes one argument, got {len(args)}")
            out.append(one_column[name](args[0].strip()))
        elif name in bare:
            out.append(bare[name])
            i = match.end()
        else:
            raise ValueError(f"unknown macro $__{name}")
    out.append(sql[i:])
    return "".join(out)


def expand(sql: str, time_range: TimeRange, variables: dict[str, Value], interval_s: int) -> str:
    """What ClickHouse receives for `sql` in a panel of this dashboard state."""
    return time_macros(interpolate(conditional_all(sql, variables), variables), time_range, interval_s)


def resolve_variables(dashboard: dict[str, Any], time_range: TimeRange, run: Callable[[str], list[tuple]],
                      given: dict[str, str] | None = None) -> dict[str, Value]:
    """Every templating variable's value, in order, as Grafana sets them when the dashboard loads;
    `given` overrides a variable (what a person typed or picked)."""
    given = given or {}
    values: dict[str, Value] = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        name, kind = variable["name"], variable["type"]
        if name in given:
            values[name] = Value((given[name],), multi=bool(variable.get("multi")))
        elif kind in ("textbox", "constant"):
            values[name] = Value((str(variable.get("query", "")),))
        elif kind == "custom":
            options = [o.strip() for o in str(variable.get("query", "")).split(",") if o.strip()]
            values[name] = _pick(variable, options)
        elif kind == "query":
            sql = expand(variable["query"], time_range, values, interval_seconds(time_range))
            options = sorted({str(row[0]) for row in run(sql)}) if variable.get("sort") else \
                list(dict.fromkeys(str(row[0]) for row in run(sql)))
            values[name] = _pick(variable, options)
        else:
            raise ValueError(f"variable {name}: type {kind!r} is not supported here")
    return values


def _pick(variable: dict[str, Any], options: list[str]) -> Value:
    current = (variable.get("current") or {}).get("value")
    wanted = current if isinstance(current, list) else [current] if current else []
    multi = bool(variable.get("multi"))
    if variable.get("includeAll") and "$__all" in wanted:
        return Value(tuple(options), multi=True, all=True)
    chosen = tuple(v for v in wanted if v in options) or tuple(options[:1])
    return Value(chosen, multi=multi)


def clickhouse_targets(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every ClickHouse query of the dashboard, rows' nested panels included."""
    for panel in dashboard.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                source = target.get("datasource") or inner.get("datasource") or {}
                if source.get("type") == CLICKHOUSE_TYPE:
                    yield inner, target


def panel_sql(panel: dict[str, Any], target: dict[str, Any], time_range: TimeRange,
              variables: dict[str, Value]) -> str:
    """The SQL Grafana would send for one panel target."""
    interval = interval_seconds(time_range, panel.get("interval"), int(panel.get("maxDataPoints") or MAX_DATA_POINTS))
    return expand(target["rawSql"], time_range, variables, interval)
