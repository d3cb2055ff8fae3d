"""Imports run one way: process (metrics, connections, logs) and domain (pure) < runtime < stages < worker,
command line, boards, simulator.
The worker and the gateway load neither the boards (grafana-foundation-sdk, matplotlib) nor the
simulator nor the command line's tools."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import streams

UPPER = ("streams.boards", "streams.cli.board", "streams.simulator", "streams.cli.demo", "streams.cli")


@pytest.mark.parametrize("entry", ["streams.worker", "streams.gateway.app"])
def test_a_running_stage_loads_no_board_simulator_or_cli_module(entry):
    probe = (f"import sys, {entry}; "
             f"print('\\n'.join(m for m in sys.modules if m.startswith({UPPER!r})))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"{entry} loads {loaded}"


# Each layer may import only the layers below it: process, domain (pure) < runtime < stages < the rest.
BELOW_ONLY = {
    "process": ("streams.domain", "streams.runtime", "streams.stages", "streams.warehouse", "streams.worker",
                "streams.cli", "streams.boards", "streams.simulator", "streams.gateway", "streams.adapters"),
    "domain": ("streams.process", "streams.runtime", "streams.stages", "streams.warehouse", "streams.worker", "streams.cli",
               "streams.boards", "streams.simulator", "streams.gateway", "streams.adapters"),
    "runtime": ("streams.stages", "streams.worker", "streams.cli", "streams.boards", "streams.simulator",
                "streams.gateway", "streams.adapters"),
    "stages": ("streams.worker", "streams.cli", "streams.boards", "streams.simulator", "streams.gateway"),
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


@pytest.mark.parametrize("layer", sorted(BELOW_ONLY))
def test_a_layer_imports_only_layers_below_it(layer):
    package = Path(streams.__file__).parent / layer
    upward = sorted(f"{path.relative_to(package.parent)} imports {module}"
                    for path in package.rglob("*.py") for module in imported_modules(path)
                    if module.startswith(BELOW_ONLY[layer]))
    assert upward == []
