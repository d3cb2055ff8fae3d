"""`cxpulse grafana push`: the folder, the datasources and the boards into a running Grafana.

Idempotent through grafana-client: each object is looked up by its uid and updated when it exists,
created when it does not, so a second push changes the same objects and creates nothing. The
datasources are the provisioning file's (grafana/provisioning/datasources/datasources.yml), with
$VAR / ${VAR} taken from the environment as Grafana's provisioning does (CLICKHOUSE_BOARDS_PASSWORD).
For a Grafana provisioned from grafana/ (docker-compose), the boards are there already: Grafana
refuses API writes to provisioned dashboards.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streams.boards.build import dashboards

DATASOURCES_FILE = Path(__file__).resolve().parents[2] / "grafana" / "provisioning" / "datasources" / "datasources.yml"
FOLDER_UID, FOLDER_TITLE = "cxpulse", "cxpulse"
_PROVISIONING_ONLY = {"editable", "version", "orgId"}


class PushError(RuntimeError):
    """Grafana refused a write, or the push is misconfigured; the message says which object."""


@dataclass
class Pushed:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def _expand(value: Any, environ: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ) for v in value]
    if not isinstance(value, str):
        return value

    def variable(match: re.Match) -> str:
        name = match[1] or match[2]
        if name not in environ:
            raise PushError(f"{DATASOURCES_FILE.name} needs ${name} in the environment")
        return environ[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", variable, value)


def datasources(path: Path = DATASOURCES_FILE, environ: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The provisioned datasources as API bodies (environment variables expanded)."""
    environ = dict(os.environ if environ is None else environ)
    doc = yaml.safe_load(path.read_text())
    return [{k: v for k, v in _expand(source, environ).items() if k not in _PROVISIONING_ONLY}
            for source in doc.get("datasources", [])]


def _exists(call) -> bool:
    from grafana_client.client import GrafanaClientError

    try:
        call()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return False
        raise
    return True


def push(api, *, with_datasources: bool = True, environ: dict[str, str] | None = None) -> Pushed:
    """Create or update the folder, the datasources (unless told not to) and every board."""
    from grafana_client.client import GrafanaException

    done = Pushed()
    try:
        if _exists(lambda: api.folder.get_folder(FOLDER_UID)):
            api.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True)
            done.updated.append(f"folder {FOLDER_UID}")
        else:
            api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
            done.created.append(f"folder {FOLDER_UID}")
        for source in datasources(environ=environ) if with_datasources else []:
            uid = source["uid"]
            if _exists(lambda: api.datasource.get_datasource_by_uid(uid)):
                api.datasource.update_datasource_by_uid(uid, source)
                done.updated.append(f"datasource {uid}")
            else:
                api.datasource.create_datasource(source)
                done.created.append(f"datasource {uid}")
        for board in dashboards():
            uid = board["uid"]
            existed = _exists(lambda: api.dashboard.get_dashboard(uid))
            api.dashboard.update_dashboard({"dashboard": {**board, "id": None}, "folderUid": FOLDER_UID,
                                            "overwrite": True, "message": "cxpulse grafana push"})
            (done.updated if existed else done.created).append(f"dashboard {uid}")
    except GrafanaException as exc:
        raise PushError(str(exc)) from exc
    return done


def connect(url: str, token: str | None = None, environ: dict[str, str] | None = None):
    """A grafana-client API: a token, else GRAFANA_USER/GRAFANA_PASSWORD, else user:password in the URL."""
    from grafana_client import GrafanaApi

    environ = os.environ if environ is None else environ
    credential: Any = token
    if credential is None and environ.get("GRAFANA_USER") and environ.get("GRAFANA_PASSWORD"):
        credential = (environ["GRAFANA_USER"], environ["GRAFANA_PASSWORD"])
    return GrafanaApi.from_url(url, credential=credential)
