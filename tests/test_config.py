"""Settings: documented defaults equal the code, environment wins over the file, errors name the key."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import msgspec
import pytest

from streams.config import ConfigError, Settings, load_settings

DOCUMENTED = Path(__file__).resolve().parents[1] / "config" / "cxpulse.toml"

# A file that sets every overridable key to something else than the default.
FILE = """
data_dir = "/from/file"
log_level = "warning"

[kafka]
bootstrap = "file-broker:9092"
input_topics = ["file.a", "file.b"]
partitions = 2
session_timeout = 9.5

[clickhouse]
url = "clickhouse://file:9000/cx"

[ingest]
max_age_seconds = 120.0
max_event_bytes = 1000

[sink]
batch_size = 10
"""


@pytest.fixture
def config_file(tmp_path):
    file = tmp_path / "cxpulse.toml"
    file.write_text(FILE)
    return file


def _write(tmp_path, text: str) -> Path:
    file = tmp_path / "c.toml"
    file.write_text(text)
    return file


def test_documented_config_file_equals_the_code_defaults():
    assert load_settings(DOCUMENTED, environ={}) == Settings()


def test_documented_config_file_lists_every_key():
    """Equal to the defaults is not enough: a key left out of the file would also 'equal' them."""
    documented = tomllib.loads(DOCUMENTED.read_text())
    defaults = msgspec.to_builtins(Settings())
    assert documented.keys() == defaults.keys()
    for section, value in defaults.items():
        if isinstance(value, dict):
            assert documented[section].keys() == value.keys(), section


def test_no_file_and_no_environment_gives_the_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./cxpulse.toml here
    assert load_settings(None, environ={}) == Settings()


def test_the_file_overrides_the_defaults(config_file):
    s = load_settings(config_file, environ={})
    assert (s.data_dir, s.log_level) == ("/from/file", "warning")
    assert (s.kafka.bootstrap, s.kafka.input_topics, s.kafka.partitions) == ("file-broker:9092", ["file.a", "file.b"], 2)
    assert s.kafka.session_timeout == 9.5
    assert (s.clickhouse.url, s.ingest.max_age_seconds, s.ingest.max_event_bytes, s.sink.batch_size) == (
        "clickhouse://file:9000/cx", 120.0, 1000, 10)
    # keys the file does not set keep their defaults
    assert s.kafka.dlq_topic == Settings().kafka.dlq_topic
    assert s.ingest.default_phone_region == "US"


def test_environment_overrides_the_file(config_file):
    environ = {
        "CXPULSE_KAFKA_BOOTSTRAP": "env-broker:19092",
        "CXPULSE_CLICKHOUSE_URL": "clickhouse://env:9000/cx",
        "CXPULSE_DATA_DIR": "/from/env",
        "CXPULSE_KAFKA_INPUT_TOPICS": "env.a, env.b ,,env.c",
        "CXPULSE_KAFKA_SESSION_TIMEOUT": "2.25",          # a float
        "CXPULSE_SINK_BATCH_SIZE": "77",                  # an int
        "CXPULSE_DETECT_BATCH_SIZE": "12",                # per stage: the other stages keep theirs
        "CXPULSE_INGEST_MAX_AGE_SECONDS": "60",           # an int spelling for a float
    }
    s = load_settings(config_file, environ=environ)
    assert s.kafka.bootstrap == "env-broker:19092"
    assert s.clickhouse.url == "clickhouse://env:9000/cx"
    assert s.data_dir == "/from/env"
    assert s.kafka.input_topics == ["env.a", "env.b", "env.c"]
    assert s.kafka.session_timeout == 2.25 and isinstance(s.kafka.session_timeout, float)
    assert s.sink.batch_size == 77 and isinstance(s.sink.batch_size, int)
    assert (s.detect.batch_size, s.identity.batch_size, s.ingest.batch_size, s.ingest.dedup_batch_size) == (
        12, 5000, 5000, 5000)
    assert s.ingest.max_age_seconds == 60.0
    # what the environment does not name still comes from the file
    assert (s.kafka.partitions, s.log_level, s.ingest.max_event_bytes) == (2, "warning", 1000)


def test_environment_alone_configures_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, environ={"CXPULSE_KAFKA_PARTITIONS": "12", "CXPULSE_LOG_LEVEL": "debug"})
    assert (s.kafka.partitions, s.log_level) == (12, "debug")
    assert s.bootstrap == "127.0.0.1:9092"  # empty bootstrap means the local default


def test_unrelated_environment_variables_are_ignored(config_file):
    s = load_settings(config_file, environ={"PATH": "/bin", "CXPULSE_CACHE_DIR": "x", "KAFKA_BOOTSTRAP": "no"})
    assert s == load_settings(config_file, environ={})


@pytest.mark.parametrize("name", ["CXPULSE_KAFKA_BOOTSTRAPS", "CXPULSE_SINK_FLUSH_EVERY", "CXPULSE_INGEST_MAX_AGE"])
def test_a_misspelt_key_of_a_known_section_is_an_error(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=name):
        load_settings(None, environ={name: "1"})


def test_config_file_from_cxpulse_config_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    file = tmp_path / "elsewhere.toml"
    file.write_text("[metrics]\nport = 0\n")
    assert load_settings(None, environ={"CXPULSE_CONFIG": str(file)}).metrics.port == 0


def test_local_cxpulse_toml_is_read_when_present(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cxpulse.toml").write_text("[kafka]\npartitions = 3\n")
    assert load_settings(None, environ={}).kafka.partitions == 3


@pytest.mark.parametrize("text, key", [
    ("[kafka]\npartitions = 'many'\n", "kafka.partitions"),
    ("[kafka]\nsession_timeout = 'fast'\n", "kafka.session_timeout"),
    ("[kafka]\ninput_topics = 'cx.events'\n", "kafka.input_topics"),
    ("[ingest]\nmax_event_bytes = 1.5\n", "ingest.max_event_bytes"),
    ("[sink]\nbatch_size = true\n", "sink.batch_size"),
    ("kafka = 'localhost'\n", "kafka"),
])
def test_a_malformed_value_in_the_file_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=r"\$\." + key.replace(".", r"\.") + r"\b"):
        load_settings(_write(tmp_path, text), environ={})


@pytest.mark.parametrize("text, key", [
    ("[kafka]\nbootstrapp = 'x:9092'\n", "bootstrapp"),
    ("dat_dir = '/tmp'\n", "dat_dir"),
    ("[kafak]\nbootstrap = 'x:9092'\n", "kafak"),
    ("[sink]\nbatch = 5\n", "batch"),
])
def test_an_unknown_key_in_the_file_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=f"`{key}`"):
        load_settings(_write(tmp_path, text), environ={})


@pytest.mark.parametrize("name, value, key", [
    ("CXPULSE_KAFKA_PARTITIONS", "four", "kafka.partitions"),
    ("CXPULSE_SINK_BATCH_SIZE", "7.5", "sink.batch_size"),
    ("CXPULSE_KAFKA_SESSION_TIMEOUT", "soon", "kafka.session_timeout"),
])
def test_a_malformed_environment_value_names_the_key(tmp_path, monkeypatch, name, value, key):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(None, environ={name: value})


def test_a_toml_syntax_error_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="c.toml"):
        load_settings(_write(tmp_path, "[kafka\n"), environ={})


def test_a_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml", environ={})


@pytest.mark.parametrize("name, value", [
    ("CXPULSE_LOG_LEVEL", "loud"),
    ("CXPULSE_INGEST_MAX_AGE_SECONDS", "inf"),
    ("CXPULSE_INGEST_MAX_AGE_SECONDS", "nan"),
    ("CXPULSE_INGEST_MAX_AGE_SECONDS", "1e11"),
    ("CXPULSE_KAFKA_PARTITIONS", "0"),
    ("CXPULSE_METRICS_PORT", "70000"),
    ("CXPULSE_SINK_BATCH_SECONDS", "0"),
])
def test_values_that_cannot_work_are_config_errors(tmp_path, monkeypatch, name, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=name.removeprefix("CXPULSE_").lower().replace("_", r".", 1)):
        load_settings(None, environ={name: value})


def test_settings_values_used_by_the_pipeline_are_sane_by_default():
    s = Settings()
    assert s.ingest.max_event_bytes > 0 and s.kafka.partitions > 0
    assert math.isfinite(s.ingest.max_age_seconds) and s.ingest.max_future_skew_seconds >= 0
