"""Grafana boards as code: the committed JSON is the build, it is a valid Grafana dashboard model,
and `cxpulse grafana push` creates once and then only updates (against a loopback Grafana API)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

from streams.boards import BOARDS
from streams.boards.build import DASHBOARDS_DIR, dashboards, render
from streams.boards.common import CLICKHOUSE_TYPE
from streams.boards.push import DATASOURCES_FILE, FOLDER_UID, datasources, push

BUILT = dashboards()
IDS = [d["uid"] for d in BUILT]


def test_committed_dashboards_equal_a_fresh_build():
    committed = {p.name for p in DASHBOARDS_DIR.glob("*.json")}
    assert committed == {f"{uid}.json" for uid in IDS}, "run `cxpulse grafana build` and commit grafana/dashboards"
    for dashboard in BUILT:
        assert (DASHBOARDS_DIR / f"{dashboard['uid']}.json").read_text() == render(dashboard), dashboard["uid"]


def test_the_build_is_deterministic():
    assert [render(d) for d in dashboards()] == [render(d) for d in BUILT]


def test_every_board_module_is_built_once_with_its_own_uid():
    assert len(BUILT) == len(BOARDS) and len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("dashboard", BUILT, ids=IDS)
def test_dashboard_parses_into_grafanas_model_without_losing_anything(dashboard):
    parsed = DashboardModel.from_json(dashboard)
    assert json.loads(json.dumps(parsed, cls=JSONEncoder)) == dashboard
    assert parsed.uid == dashboard["uid"] and parsed.title and parsed.panels


def _panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


@pytest.mark.parametrize("dashboard", BUILT, ids=IDS)
def test_panels_have_unique_ids_and_titles_and_fit_the_grid(dashboard):
    panels = list(_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    titles = [p["title"] for p in panels]
    assert len(titles) == len(set(titles))
    cells = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine


def _datasource_refs(dashboard):
    for panel in _panels(dashboard):
        if panel.get("datasource"):
            yield panel["title"], panel["datasource"]
        for target in panel.get("targets", []):
            if target.get("datasource"):
                yield panel["title"], target["datasource"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("datasource"):
            yield variable["name"], variable["datasource"]


@pytest.mark.parametrize("dashboard", BUILT, ids=IDS)
def test_every_datasource_is_a_provisioned_one(dashboard):
    provisioned = {(d["uid"], d["type"]) for d in yaml.safe_load(DATASOURCES_FILE.read_text())["datasources"]}
    refs = list(_datasource_refs(dashboard))
    assert refs
    for where, ref in refs:
        assert (ref["uid"], ref["type"]) in provisioned, f"{dashboard['uid']}/{where}: {ref}"


@pytest.mark.parametrize("dashboard", BUILT, ids=IDS)
def test_clickhouse_targets_are_sql_editor_queries_of_the_plugin(dashboard):
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            if target["datasource"]["type"] != CLICKHOUSE_TYPE:
                continue
            assert target["editorType"] == "sql" and target["rawSql"].startswith("SELECT")
            assert (target["format"], target["queryType"]) in ((0, "timeseries"), (1, "table")), panel["title"]
            if panel["type"] == "timeseries":
                assert target["format"] == 0, f"{panel['title']}: a time series panel needs format 0"


def test_live_floor_refreshes_every_few_seconds():
    floor = next(d for d in BUILT if d["uid"] == "cx-live-floor")
    assert floor["refresh"] in ("5s", "10s") and floor["time"] == {"from": "now/d", "to": "now"}


class FakeGrafana:
    """The few Grafana HTTP API endpoints `push` uses, with state, recording every request."""

    def __init__(self) -> None:
        self.folders: dict[str, dict] = {}
        self.datasources: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.requests: list[tuple[str, str, str]] = []  # method, path, Authorization header

    def handle(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        parts = path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["api", "folders"]:
            if method == "GET" and len(parts) == 3:
                return (200, self.folders[parts[2]]) if parts[2] in self.folders else (404, {"message": "not found"})
            if method == "POST":
                self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
                return 200, self.folders[body["uid"]]
            if method == "PUT" and parts[2] in self.folders:
                self.folders[parts[2]].update(title=body["title"], version=self.folders[parts[2]]["version"] + 1)
                return 200, self.folders[parts[2]]
        if parts[:2] == ["api", "datasources"]:
            if method == "GET" and parts[2] == "uid":
                found = self.datasources.get(parts[3])
                return (200, found) if found else (404, {"message": "Data source not found"})
            if method == "POST":
                if body["uid"] in self.datasources:
                    return 409, {"message": "data source with the same uid already exists"}
                self.datasources[body["uid"]] = body
                return 200, {"datasource": body, "message": "Datasource added"}
            if method == "PUT" and parts[2] == "uid" and parts[3] in self.datasources:
                self.datasources[parts[3]] = body
                return 200, {"datasource": body, "message": "Datasource updated"}
        if parts[:3] == ["api", "dashboards", "uid"] and method == "GET":
            found = self.dashboards.get(parts[3])
            return (200, {"dashboard": found["dashboard"]}) if found else (404, {"message": "Dashboard not found"})
        if parts == ["api", "dashboards", "db"] and method == "POST":
            uid = body["dashboard"]["uid"]
            if uid in self.dashboards and not body.get("overwrite"):
                return 412, {"message": "version-mismatch"}
            version = self.dashboards.get(uid, {}).get("version", 0) + 1
            self.dashboards[uid] = {"dashboard": body["dashboard"], "folderUid": body["folderUid"], "version": version}
            return 200, {"status": "success", "uid": uid, "version": version}
        return 404, {"message": f"no route {method} {path}"}


@pytest.fixture
def grafana():
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            fake.requests.append((self.command, self.path, self.headers.get("Authorization", "")))
            status, payload = fake.handle(self.command, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


ENV = {"CLICKHOUSE_BOARDS_PASSWORD": "s3cret"}


def test_push_creates_everything_once_then_only_updates(grafana):
    from streams.boards.push import connect

    fake, url = grafana
    api = connect(url, token="glsa_test")
    first = push(api, environ=ENV)
    sources = {d["uid"] for d in datasources(environ=ENV)}
    assert sorted(first.created) == sorted([f"folder {FOLDER_UID}", *(f"datasource {u}" for u in sources),
                                            *(f"dashboard {u}" for u in IDS)])
    assert first.updated == []
    state = (set(fake.folders), set(fake.datasources), set(fake.dashboards))
    creates = [r for r in fake.requests if r[0] == "POST" and r[1] in ("/api/folders", "/api/datasources")]

    second = push(api, environ=ENV)
    assert second.created == [] and sorted(second.updated) == sorted(first.created)
    assert (set(fake.folders), set(fake.datasources), set(fake.dashboards)) == state
    assert [r for r in fake.requests if r[0] == "POST" and r[1] in ("/api/folders", "/api/datasources")] == creates
    assert all(d["version"] == 2 and d["folderUid"] == FOLDER_UID for d in fake.dashboards.values())
    assert {uid: d["dashboard"] for uid, d in fake.dashboards.items()} == {d["uid"]: {**d, "id": None} for d in BUILT}
    assert fake.datasources["clickhouse"]["secureJsonData"]["password"] == "s3cret"
    assert fake.datasources["clickhouse"]["jsonData"]["username"] == "cx_boards", "the read-only board user"
    assert "editable" not in fake.datasources["clickhouse"]
    assert {auth for _, _, auth in fake.requests} == {"Bearer glsa_test"}


def test_push_without_the_datasource_password_says_what_is_missing(grafana):
    from streams.boards.push import PushError, connect

    fake, url = grafana
    with pytest.raises(PushError, match="CLICKHOUSE_BOARDS_PASSWORD"):
        push(connect(url, token="t"), environ={})
    assert not fake.datasources and not fake.dashboards


def test_cli_push_uses_basic_auth_from_the_environment(grafana, monkeypatch):
    from typer.testing import CliRunner

    from streams.cli.main import app

    fake, url = grafana
    monkeypatch.setenv("GRAFANA_USER", "admin")
    monkeypatch.setenv("GRAFANA_PASSWORD", "pw")
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["grafana", "push", "--url", url, "--no-datasources"])
    assert result.exit_code == 0, result.output
    assert result.output.count("created\tdashboard") == len(IDS) and "datasource" not in result.output
    assert {auth for _, _, auth in fake.requests} == {"Basic YWRtaW46cHc="}  # admin:pw


def test_cli_build_writes_every_board(tmp_path):
    from typer.testing import CliRunner

    from streams.cli.main import app

    result = CliRunner().invoke(app, ["grafana", "build", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(Path(p).name for p in result.output.split()) == sorted(f"{u}.json" for u in IDS)
    assert all((tmp_path / f"{u}.json").read_text() == (DASHBOARDS_DIR / f"{u}.json").read_text() for u in IDS)


def test_macros_expand_as_the_clickhouse_plugin_does():
    import datetime as dt

    from streams.warehouse import macros

    start = dt.datetime(2026, 3, 2, 9, 0, 30, tzinfo=dt.UTC)
    span = macros.TimeRange(start, start + dt.timedelta(hours=6))
    variables = {"one": macros.Value(("it's",)), "many": macros.Value(("a", "b"), multi=True),
                 "every": macros.Value(("a", "b"), multi=True, all=True)}
    sql = ("SELECT $__timeInterval(minute) AS t FROM x WHERE $__timeFilter(minute) AND $__dateFilter(day) "
           "AND c IN ($many) AND d = ${one:sqlstring} AND $__conditionalAll(e IN (${every:sqlstring}), $every) "
           "AND $__conditionalAll(f IN ($many), $many) AND g >= $__fromTime AND h < $__toTime AND i = $__interval_s")
    got = macros.expand(sql, span, variables, macros.interval_seconds(span, "1m"))
    assert got == ("SELECT toStartOfInterval(toDateTime(minute), INTERVAL 60 second) AS t FROM x "
                   "WHERE minute >= toDateTime(1772442030) AND minute <= toDateTime(1772463630) "
                   "AND day >= toDate('2026-03-02') AND day <= toDate('2026-03-02') AND c IN ('a','b') "
                   "AND d = 'it''s' AND 1=1 AND f IN ('a','b') AND g >= toDateTime(1772442030) "
                   "AND h < toDateTime(1772463630) AND i = 60")
    assert macros.interval_seconds(macros.TimeRange(start, start + dt.timedelta(days=7))) == 900
    with pytest.raises(ValueError, match="unknown macro"):
        macros.expand("SELECT $__nope", span, {}, 60)


def test_relative_times_follow_grafanas_date_math():
    import datetime as dt

    from streams.warehouse.macros import TimeRange

    now = dt.datetime(2026, 3, 2, 15, 45, 10, tzinfo=dt.UTC)
    today = TimeRange.of({"from": "now/d", "to": "now"}, now)
    assert (today.start, today.end) == (dt.datetime(2026, 3, 2, tzinfo=dt.UTC), now)
    week = TimeRange.of({"from": "now-7d", "to": "now"}, now)
    assert week.start == now - dt.timedelta(days=7)
