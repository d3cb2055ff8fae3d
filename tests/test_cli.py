"""The command line as users run it: help, exit codes, stdout for data and stderr for messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.samples import sample


def cli(*args, tmp_path, env=None, **kw):
    # PYTHONPATH: this checkout's streams, whatever the venv's editable install points at (cwd is tmp_path)
    environ = {**os.environ, "CXPULSE_DATA_DIR": str(tmp_path / "data"),
               "PYTHONPATH": str(Path(__file__).resolve().parent.parent), **(env or {})}
    environ.pop("CXPULSE_KAFKA_BOOTSTRAP", None)
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=120, **kw)


def test_help_lists_every_command(tmp_path):
    done = cli("--help", tmp_path=tmp_path)
    assert done.returncode == 0
    for command in ("worker", "simulate", "demo", "query", "migrate", "schema", "dlq", "topics", "broker"):
        assert command in done.stdout


def test_schema_validate_reports_each_failure_and_exits_1(tmp_path):
    good = orjson.dumps(sample("cx.contact.started", time="2026-11-24T12:00:00Z")).decode()
    bad_type = orjson.dumps(sample(type="cx.contact.teleported")).decode()
    lines = [good.replace("2026-11-24T12:00:00Z", _now()), bad_type.replace("2026-11-24T12:00:00.000Z", _now()), "{not json"]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    done = cli("schema", "validate", "events.jsonl", tmp_path=tmp_path)
    assert done.returncode == 1
    failures = done.stdout.splitlines()
    assert failures[0].startswith("line 2: unknown_type:")
    assert failures[-1].startswith("line 3: invalid_json:")
    assert "3 events, 1 valid, 2 invalid" in done.stderr
    (tmp_path / "ok.jsonl").write_text(lines[0] + "\n")
    ok = cli("schema", "validate", "-", tmp_path=tmp_path, input=lines[0] + "\n")
    assert (ok.returncode, ok.stdout) == (0, "")


def test_bad_configuration_exits_2_with_a_message(tmp_path):
    done = cli("migrate", tmp_path=tmp_path, env={"CXPULSE_KAFKA_PARTITIONS": "four"})
    assert done.returncode == 2
    assert "kafka.partitions" in done.stderr and done.stdout == ""


def test_migrate_then_query_on_a_fresh_data_dir(tmp_path):
    assert "applied 0002_events" in cli("migrate", tmp_path=tmp_path).stdout
    done = cli("query", "SELECT count() AS n FROM cx.events", "--format", "json", tmp_path=tmp_path)
    assert (done.returncode, json.loads(done.stdout)) == (0, {"n": 0})
    failed = cli("query", "SELECT nope FROM cx.events", tmp_path=tmp_path)
    assert failed.returncode == 1 and "nope" in failed.stderr


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_demo_and_simulate_refuse_bad_rules_and_phone_sharing_before_starting_anything(tmp_path):
    (tmp_path / "rules.toml").write_text("[long_queue_wiat]\nopen_seconds = 1\n")
    bad_rules = cli("demo", "--rules", "rules.toml", tmp_path=tmp_path)
    assert bad_rules.returncode == 2 and "unknown rules" in bad_rules.stderr
    for command in ("demo", "simulate"):
        flag = cli(command, "--shared-phone-fraction", "1.5", tmp_path=tmp_path)
        assert flag.returncode == 2 and "--shared-phone-fraction" in flag.stderr
    setting = cli("demo", tmp_path=tmp_path, env={"CXPULSE_SIMULATOR_SHARED_PHONE_FRACTION": "-0.1"})
    assert setting.returncode == 2 and "simulator.shared_phone_fraction" in setting.stderr
    assert not (tmp_path / "data").exists()  # nothing started


def test_forget_needs_a_privacy_key_and_an_identifier(tmp_path):
    """Exit 2 naming the key before anything is published; exit 1 for text that names nobody."""
    env = {"CXPULSE_PRIVACY_KEY": "", "CXPULSE_PRIVACY_KEY_FILE": ""}
    done = cli("forget", "ann@example.com", tmp_path=tmp_path, env=env)
    assert done.returncode == 2 and "forget needs [privacy] key (CXPULSE_PRIVACY_KEY" in done.stderr
    blank = cli("forget", "  ", tmp_path=tmp_path, env={"CXPULSE_PRIVACY_KEY": "k" * 32})
    assert blank.returncode == 1 and "'  ' is no identifier" in blank.stderr and blank.stdout == ""
