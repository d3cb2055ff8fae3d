"""The channel registry (streams/domain/channels.py) and the copies that cannot import it agree.

The published event schema and the applied SQL migrations hold literal channel lists; a channel
added to the registry but not to them would be refused by the contract or measured as the wrong
kind, so these tests name the file and the list that differs.
"""

from __future__ import annotations

import json
import re

import pytest

from streams.config import KpiSettings
from streams.domain.channels import CHANNELS, DIGITAL, MESSAGING, REGISTRY
from streams.domain.contract import schemas_dir

SQL = schemas_dir() / "clickhouse"
IN_LIST = re.compile(r"channel IN \(((?:'[a-z_]+'(?:, )?)+)\)")


def test_the_event_contract_lists_exactly_the_registry_channels():
    common = json.loads((schemas_dir() / "events" / "v1" / "data" / "common.schema.json").read_text())
    enums = [v["enum"] for v in _walk(common) if isinstance(v, dict) and set(v.get("enum", ())) & {"voice", "web"}]
    assert enums == [list(CHANNELS)]


def _walk(node):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _walk(child)


@pytest.mark.parametrize("path", sorted(SQL.glob("*.sql")), ids=lambda p: p.name)
def test_every_channel_list_in_a_migration_is_a_registry_kind(path):
    kinds = {frozenset(MESSAGING): "messaging", frozenset(DIGITAL): "digital"}
    for listed in IN_LIST.findall(path.read_text()):
        names = frozenset(n.strip("' ") for n in listed.split(","))
        assert names in kinds, f"{path.name}: channel IN ({listed}) is no kind of streams/domain/channels.py"


def test_kinds_partition_the_channels_and_service_levels_come_from_the_registry():
    assert sorted(c.kind for c in REGISTRY.values()).count("messaging") == len(MESSAGING) == 4
    assert set(KpiSettings().service_level_seconds_by_channel) == {"chat", *MESSAGING}
    assert KpiSettings().service_level_seconds_by_channel["email"] == REGISTRY["email"].service_level_seconds
