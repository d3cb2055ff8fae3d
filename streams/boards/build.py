"""`cxpulse grafana build`: every board module -> grafana/dashboards/<uid>.json.

The output is deterministic (sorted keys, two-space indent, one trailing newline), so the
committed files change only when a board does, and tests/test_boards.py can compare them with a
fresh build.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from streams.boards import BOARDS

DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"


def dashboard_of(module_name: str) -> dict[str, Any]:
    """The dashboard JSON of one board module (`dashboard()` returning a dict or an SDK builder)."""
    made = importlib.import_module(module_name).dashboard()
    if hasattr(made, "build"):
        from grafana_foundation_sdk.cog.encoder import JSONEncoder

        made = json.loads(json.dumps(made.build(), cls=JSONEncoder))
    if not made.get("uid"):
        raise ValueError(f"{module_name}: the dashboard has no uid")
    return made


def dashboards() -> list[dict[str, Any]]:
    return [dashboard_of(name) for name in BOARDS]


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build(directory: Path = DASHBOARDS_DIR) -> list[Path]:
    """Write every board; return the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for dashboard in dashboards():
        path = directory / f"{dashboard['uid']}.json"
        path.write_text(render(dashboard))
        written.append(path)
    return written
