"""Imports run one way: the worker and the gateway load neither the boards (grafana-foundation-sdk,
matplotlib) nor the simulator; those sit above the stages, which sit above the domain."""

from __future__ import annotations

import subprocess
import sys

import pytest

UPPER = ("streams.boards", "streams.board", "streams.simulator", "streams.demo", "streams.cli")


@pytest.mark.parametrize("entry", ["streams.app", "streams.gateway.app"])
def test_a_running_stage_loads_no_board_simulator_or_cli_module(entry):
    probe = (f"import sys, {entry}; "
             f"print('\\n'.join(m for m in sys.modules if m.startswith({UPPER!r})))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"{entry} loads {loaded}"
