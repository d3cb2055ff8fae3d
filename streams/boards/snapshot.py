"""`cxpulse grafana snapshot`: each board drawn with matplotlib from the same queries, one PNG per board.

No Grafana runs here, so this is what a reader of the README sees instead of a screenshot: every
panel at its place on the 24-column grid, its query expanded and run exactly as for the checks
(macros.py), drawn as its panel type draws it (stat, bar gauge, pie, time series, table with its
red/amber/green cells, bar chart), in Grafana's dark colours.
"""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import patches, ticker  # noqa: E402

from streams.boards import BOARDS  # noqa: E402
from streams.boards.build import dashboards  # noqa: E402
from streams.warehouse import macros  # noqa: E402

BACKGROUND, PANEL, TEXT, MUTED, GRID = "#111217", "#181b1f", "#ccccdc", "#8e8e99", "#2c3235"
COLORS = {"green": "#73bf69", "red": "#f2495c", "#EAB839": "#eab839", "blue": "#5794f2"}
PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#705da0", "#37872d",
           "#fade2a"]
ROW_INCHES, WIDTH_INCHES = 0.42, 22.0


def _number(value: Any, unit: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if unit == "percentunit":
        return f"{100 * value:.1f}%"
    if unit == "s":
        return f"{value:.0f} s" if abs(value) < 120 else f"{value / 60:.1f} min"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"


def _color(steps: list[dict], value: Any) -> str:
    chosen = steps[0]["color"] if steps else "blue"
    for step in steps[1:]:
        if isinstance(value, (int, float)) and value >= step["value"]:
            chosen = step["color"]
    return COLORS.get(chosen, chosen)


def _overrides(panel: dict) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        props = {p["id"]: p["value"] for p in override["properties"]}
        out[override["matcher"]["options"]] = props
    return out


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _stat(ax, panel, columns, rows) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    steps = defaults.get("thresholds", {}).get("steps", [])
    values = [v for v in (rows[0] if rows else [])]
    background = panel["options"].get("colorMode") == "background"
    for i, (name, value) in enumerate(zip(columns, values)):
        x = (i + 0.5) / len(values)
        color = _color(steps, value)
        if background:
            ax.add_patch(patches.Rectangle((i / len(values), 0), 1 / len(values), 1, color=color, alpha=0.85))
        ax.text(x, 0.42, _number(value, defaults.get("unit", "")), ha="center", va="center", fontsize=22,
                color="white" if background else color, weight="bold")
        if len(values) > 1:
            ax.text(x, 0.1, name.replace("_", " "), ha="center", fontsize=8, color=MUTED)


def _labels_values(columns, rows) -> tuple[list[str], list[float]]:
    numeric = [i for i, v in enumerate(rows[0]) if isinstance(v, (int, float))] if rows else []
    label = next((i for i in range(len(columns)) if i not in numeric), None)
    return ([str(r[label]) for r in rows] if label is not None else columns,
            [r[numeric[0]] or 0 for r in rows] if numeric else [])


def _bargauge(ax, panel, columns, rows) -> None:
    labels, values = _labels_values(columns, rows)
    unit = panel["fieldConfig"]["defaults"].get("unit", "")
    ax.barh(range(len(values)), values[::-1], color=PALETTE[5], alpha=0.8)
    for y, (label, v) in enumerate(zip(labels[::-1], values[::-1])):
        ax.text(0, y, f" {label}", va="center", color="white", fontsize=8)
        ax.text(v, y, f" {_number(v, unit)}", va="center", color=TEXT, fontsize=8)
    ax.set_yticks([])


def _pie(ax, panel, columns, rows) -> None:
    labels, values = _labels_values(columns, rows)
    if sum(values) > 0:
        ax.pie(values, labels=labels, colors=PALETTE, wedgeprops={"width": 0.45},
               textprops={"color": TEXT, "fontsize": 8})
    ax.set_aspect("equal")


def _timeseries(ax, panel, columns, rows) -> None:
    unit = panel["fieldConfig"]["defaults"].get("unit", "")
    series: dict[str, list[tuple[dt.datetime, float]]] = {}
    string_columns = [i for i in range(1, len(columns)) if rows and isinstance(rows[0][i], str)]
    for row in rows:
        at = _time(row[0])
        if string_columns:  # long format: one series per label value (what the plugin does with format 0)
            name = " / ".join(str(row[i]) for i in string_columns)
            value_index = next(i for i in range(1, len(columns)) if i not in string_columns)
            series.setdefault(name, []).append((at, row[value_index]))
        else:
            for i in range(1, len(columns)):
                series.setdefault(columns[i], []).append((at, row[i]))
    for color, (name, points) in zip(PALETTE * 3, sorted(series.items())):
        points = [(t, v) for t, v in points if v is not None]
        ax.plot([t for t, _ in points], [v for _, v in points], color=color, linewidth=1.2, label=name)
    ax.legend(fontsize=7, loc="upper left", ncol=4, frameon=False, labelcolor=TEXT)
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _number(v, unit)))
    ax.grid(color=GRID, linewidth=0.5)


def _table(ax, panel, columns, rows) -> None:
    overrides = _overrides(panel)
    shown = rows[:12]
    cells = [[_number(v, overrides.get(c, {}).get("unit", ""))[:34] for c, v in zip(columns, row)] for row in shown]
    if not cells:
        return
    table = ax.table(cellText=cells, colLabels=[c.replace("_", " ") for c in columns], loc="upper center",
                     cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 1.25)
    for (r, c), cell in table.get_celld().items():
        cell.set_edgecolor(GRID)
        cell.set_facecolor(PANEL)
        cell.get_text().set_color(TEXT if r else MUTED)
        props = overrides.get(columns[c], {}) if r else {}
        if props.get("custom.cellOptions", {}).get("type") == "color-background" and shown[r - 1][c] is not None:
            cell.set_facecolor(_color(props["thresholds"]["steps"], shown[r - 1][c]))
            cell.get_text().set_color("black")


def _barchart(ax, panel, columns, rows) -> None:
    """Stacked when the panel stacks, else one bar per column side by side (Grafana's grouped bars)."""
    x = panel["options"].get("xField") or columns[0]
    xi = columns.index(x)
    others = [i for i in range(len(columns)) if i != xi]
    stacked = panel["options"].get("stacking", "none") != "none"
    left = [0.0] * len(rows)
    height = 0.8 if stacked else 0.8 / max(len(others), 1)
    unit = panel["fieldConfig"]["defaults"].get("unit", "")
    for n, (color, i) in enumerate(zip(PALETTE, others)):
        values = [r[i] or 0 for r in rows]
        at = [y if stacked else y - 0.4 + (n + 0.5) * height for y in range(len(rows))]
        ax.barh(at, values, height=height, left=left if stacked else 0, color=color, label=columns[i])
        if stacked:
            left = [a + b for a, b in zip(left, values)]
    ax.set_yticks(range(len(rows)), [str(r[xi]) for r in rows])
    if unit == "percentunit":
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _number(v, unit)))
    ax.legend(fontsize=7, frameon=False, labelcolor=TEXT)
    ax.invert_yaxis()


DRAW: dict[str, Callable] = {"stat": _stat, "bargauge": _bargauge, "piechart": _pie, "timeseries": _timeseries,
                             "table": _table, "barchart": _barchart}


def render(dashboard: dict, run: Callable[[str], Any], now: dt.datetime, out: Path,
           given: dict[str, str] | None = None) -> Path:
    """Draw one ClickHouse dashboard to out/<uid>.png; `run` executes SQL and returns a Result."""
    time_range = macros.TimeRange.of(dashboard["time"], now)
    variables = macros.resolve_variables(dashboard, time_range, lambda sql: run(sql).rows, given)
    targets = {p["id"]: t for p, t in macros.clickhouse_targets(dashboard)}

    def data(panel: dict) -> tuple[list, list] | None:
        if panel["id"] not in targets:
            return None
        result = run(macros.panel_sql(panel, targets[panel["id"]], time_range, variables))
        return result.columns, result.rows

    return draw(dashboard, time_range, data, out)


def draw(dashboard: dict, time_range: macros.TimeRange, data: Callable[[dict], tuple[list, list] | None],
         out: Path) -> Path:
    """Every panel at its place on the grid, drawn from data(panel) = (columns, rows); None: no query here."""
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"])
    fig = plt.figure(figsize=(WIDTH_INCHES, height * ROW_INCHES + 0.8), facecolor=BACKGROUND)
    top = height * ROW_INCHES / (height * ROW_INCHES + 0.8)
    fig.text(0.01, 1 - 0.3 / (height * ROW_INCHES + 0.8), f"{dashboard['title']}   ·   "
             f"{time_range.start:%Y-%m-%d %H:%M} → {time_range.end:%H:%M} UTC", color=TEXT, fontsize=14, va="top")
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        box = [g["x"] / 24 + 0.003, top * (1 - (g["y"] + g["h"]) / height) + 0.004, g["w"] / 24 - 0.006,
               top * g["h"] / height - 0.012]
        if panel["type"] == "row":
            fig.text(box[0], box[1] + box[3] / 2, panel["title"], color=TEXT, fontsize=12, weight="bold")
            continue
        if panel["type"] in ("timeseries", "barchart"):  # room for the axis labels
            left = 0.03 if panel["type"] == "timeseries" else 0.07
            box = [box[0] + left, box[1] + 0.02 * top, box[2] - left, box[3] - 0.02 * top]
        ax = fig.add_axes(box, facecolor=PANEL)
        ax.set_title(panel["title"], color=TEXT, fontsize=9, loc="left")
        ax.tick_params(colors=MUTED, labelsize=7)
        for spine in ax.spines.values():
            spine.set_color(GRID)
        if panel["type"] not in ("timeseries", "barchart"):
            ax.set_xticks([])
            ax.set_yticks([])
        found = data(panel)
        if found is None:
            ax.text(0.5, 0.5, "(no query)", ha="center", color=MUTED)
            continue
        DRAW[panel["type"]](ax, panel, *found)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{dashboard['uid']}.png"
    fig.savefig(path, dpi=72, facecolor=BACKGROUND)
    plt.close(fig)
    return path


def snapshot(run: Callable[[str], Any], out: Path, now: dt.datetime | None = None) -> list[Path]:
    """Every board with ClickHouse panels, drawn from the warehouse `run` queries."""
    now = now or dt.datetime.now(dt.UTC)
    paths = []
    for name, dashboard in zip(BOARDS, dashboards()):
        if not any(True for _ in macros.clickhouse_targets(dashboard)):
            continue
        module = importlib.import_module(name)
        given = {}
        if hasattr(module, "EXAMPLE_IDENTIFIER"):
            given["identifier"] = run(module.EXAMPLE_IDENTIFIER).scalar() or ""
        paths.append(render(dashboard, run, now, out, given))
    return paths
