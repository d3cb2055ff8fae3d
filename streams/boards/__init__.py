"""Grafana boards as code (grafana-foundation-sdk), built into grafana/dashboards/<uid>.json.

The contract for a board module (what `build.py`, `push.py` and the checks rely on):

- it is listed in `BOARDS` below (adding a board is that one line);
- it has `dashboard()`, returning the dashboard JSON as a dict, or an SDK builder
  (`grafana_foundation_sdk.builders.dashboard.Dashboard`, anything with `.build()`), with a
  unique, stable `uid` (the file name and the key `push` updates by);
- datasources are referred to by the provisioned uids, `clickhouse` and `prometheus`
  (`common.CLICKHOUSE`, `common.PROMETHEUS`; grafana/provisioning/datasources/datasources.yml);
- a board with ClickHouse panels builds them through `common.Board.add(title, panel, Sql)` and
  exposes `board()` returning that `Board`: each `Sql` names the columns its query returns, and
  tests/test_board_queries.py runs every ClickHouse query (macros and variables expanded by
  `macros.py`) on chDB against simulated data and checks those columns.
"""

BOARDS = (
    "streams.boards.live_floor",
    "streams.boards.outreach",
    "streams.boards.journey",
    "streams.boards.cx_kpis",
    "streams.boards.pipeline",
)
