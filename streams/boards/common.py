"""What every board shares: the datasources, the ClickHouse query target, thresholds, layout.

Dashboards are built with grafana-foundation-sdk (Grafana's own generated builders and model
types). The SDK has no type for the ClickHouse plugin's query, so `ClickHouseQuery` is that one
model: the plugin's SQL-editor query (`editorType: sql`, `rawSql`, `format` 0 = time series /
1 = table, `queryType`), targeting the datasource provisioned with uid `clickhouse`.

Every ClickHouse panel is added with its `Sql`, which names the columns the query must return;
tests/test_board_queries.py runs each query on chDB and checks them.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.cog import builder as cog_builder
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

from streams.warehouse.macros import CLICKHOUSE_TYPE
from streams.warehouse.queries import Sql

CLICKHOUSE = model.DataSourceRef(type_val=CLICKHOUSE_TYPE, uid="clickhouse")
PROMETHEUS = model.DataSourceRef(type_val="prometheus", uid="prometheus")
TAGS = ["cxpulse"]

# Thresholds, written once for every board that colours them (red / amber / green).
SERVICE_LEVEL_TARGET = 0.8      # the "80" of 80/20; the 20 s is kpi.service_level_seconds
SERVICE_LEVEL_WARNING = 0.7
ABANDONMENT_WARNING = 0.05
ABANDONMENT_CRITICAL = 0.10
WAIT_WARNING_SECONDS = 60       # oldest wait amber
WAIT_CRITICAL_SECONDS = 120     # long_queue_wait opens at 120 s (config/rules.toml)
ASA_WARNING_SECONDS = 30        # average speed of answer amber / red
ASA_CRITICAL_SECONDS = 60
P1_PRIORITY, P2_PRIORITY = 30, 15   # alert priority bands: p1 at least 30, p2 at least 15, else p3

GREEN, AMBER, RED, BLUE = "green", "#EAB839", "red", "blue"


class ClickHouseQuery(variants.Dataquery):
    """The ClickHouse plugin's SQL-editor query, as the plugin stores it in a dashboard."""

    def __init__(self, sql: Sql, ref_id: str = "A") -> None:
        self.sql, self.ref_id = sql, ref_id

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": CLICKHOUSE.to_json(), "editorType": "sql",
                "format": 0 if self.sql.time_series else 1,
                "queryType": "timeseries" if self.sql.time_series else "table",
                "rawSql": self.sql.text.strip(), "pluginVersion": ""}


class ClickHouseTarget(cog_builder.Builder[variants.Dataquery]):
    def __init__(self, sql: Sql) -> None:
        self._query = ClickHouseQuery(sql)

    def build(self) -> ClickHouseQuery:
        return self._query


def thresholds(base: str, *steps: tuple[float, str]) -> builders.ThresholdsConfig:
    """Absolute thresholds: `base` colour below the first step, then each (value, colour)."""
    return builders.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(
        [model.Threshold(value=None, color=base)] + [model.Threshold(value=v, color=c) for v, c in steps])


SERVICE_LEVEL_RAG = (RED, (SERVICE_LEVEL_WARNING, AMBER), (SERVICE_LEVEL_TARGET, GREEN))
ABANDONMENT_RAG = (GREEN, (ABANDONMENT_WARNING, AMBER), (ABANDONMENT_CRITICAL, RED))
WAIT_RAG = (GREEN, (WAIT_WARNING_SECONDS, AMBER), (WAIT_CRITICAL_SECONDS, RED))
ASA_RAG = (GREEN, (ASA_WARNING_SECONDS, AMBER), (ASA_CRITICAL_SECONDS, RED))


def last_value() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def all_rows() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(True)


def big_number(unit: str, rag: tuple | None = None, color: str = BLUE) -> stat.Panel:
    """A stat panel: the last value, coloured by `rag` (base colour, then (value, colour) steps) when given."""
    panel = stat.Panel().unit(unit).reduce_options(last_value()).graph_mode(common_model.BigValueGraphMode.NONE)
    if rag:
        return panel.thresholds(thresholds(*rag)).color_mode(common_model.BigValueColorMode.BACKGROUND)
    return panel.thresholds(thresholds(color))


def series(unit: str, *, low: float | None = None, high: float | None = None) -> timeseries.Panel:
    """A time series over the rollups: intervals of a minute or more, legend below, every series in the tooltip."""
    panel = (timeseries.Panel().unit(unit).interval("1m").fill_opacity(8)
             .legend(common_builders.VizLegendOptions().display_mode(common_model.LegendDisplayMode.LIST)
                     .placement(common_model.LegendPlacement.BOTTOM).show_legend(True).calcs([]))
             .tooltip(common_builders.VizTooltipOptions().mode(common_model.TooltipDisplayMode.MULTI)
                      .sort(common_model.SortOrder.NONE)))
    if low is not None:
        panel.min(low)
    if high is not None:
        panel.max(high)
    return panel


def colored_cells(column: str, unit: str, rag: tuple) -> builders.DashboardFieldConfigSourceOverrides:
    """A table column whose cell background follows `rag` (base colour, then (value, colour) steps)."""
    base, *steps = rag
    return builders.DashboardFieldConfigSourceOverrides().matcher(
        model.MatcherConfig(id_val="byName", options=column)).properties([
            model.DynamicConfigValue(id_val="unit", value=unit),
            model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
            model.DynamicConfigValue(id_val="thresholds", value=thresholds(base, *steps).build()),
        ])


def column_unit(column: str, unit: str) -> builders.DashboardFieldConfigSourceOverrides:
    return builders.DashboardFieldConfigSourceOverrides().matcher(
        model.MatcherConfig(id_val="byName", options=column)).properties([
            model.DynamicConfigValue(id_val="unit", value=unit)])


class Board:
    """A dashboard under construction: panels get ids and a place on the 24-column grid in the
    order they are added; each ClickHouse panel keeps the columns its query must return."""

    def __init__(self, uid: str, title: str, description: str, *, refresh: str, time_from: str,
                 time_to: str = "now") -> None:
        self.uid = uid
        self.builder = (builders.Dashboard(title).uid(uid).description(description).tags(TAGS)
                        .refresh(refresh).time(time_from, time_to).timezone("browser")
                        .tooltip(model.DashboardCursorSync.CROSSHAIR).readonly())
        self.expected: dict[str, tuple[str, ...]] = {}
        self._ids = 0

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def row(self, title: str) -> "Board":
        self.builder.with_row(builders.Row(title).id(self._next_id()))
        return self

    def add(self, title: str, panel: Any, sql: Sql, *, width: int, height: int, description: str = "") -> "Board":
        """Add a ClickHouse panel of `width` x `height` grid units."""
        if title in self.expected:
            raise ValueError(f"{self.uid}: two panels titled {title!r}")
        self.expected[title] = sql.columns
        panel.id(self._next_id()).title(title).span(width).height(height).datasource(CLICKHOUSE)
        panel.with_target(ClickHouseTarget(sql))
        if description:
            panel.description(description)
        self.builder.with_panel(panel)
        return self

    def variable(self, variable: Any) -> "Board":
        self.builder.with_variable(variable)
        return self

    def json(self) -> dict[str, Any]:
        """The dashboard as Grafana stores it (plain JSON types)."""
        return json.loads(json.dumps(self.builder.build(), cls=JSONEncoder))


def query_variable(name: str, label: str, sql: str, *, multi: bool = False,
                   hidden: bool = False) -> builders.QueryVariable:
    """A variable filled by a ClickHouse query (first column), refreshed when the time range changes."""
    variable = (builders.QueryVariable(name).label(label).datasource(CLICKHOUSE).query(sql.strip())
                .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
                .sort(model.VariableSort.ALPHABETICAL_ASC))
    if multi:
        variable.multi(True).include_all(True).current(
            model.VariableOption(text=["All"], value=["$__all"], selected=True))
    if hidden:
        variable.hide(model.VariableHide.HIDE_VARIABLE)
    return variable
