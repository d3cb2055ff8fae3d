"""Settings: documented defaults equal the code, environment wins over the file, errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config import ConfigError, Settings, load_settings

DOCUMENTED = Path(__file__).resolve().parents[1] / "config" / "cxpulse.toml"


def test_documented_config_file_equals_the_code_defaults():
    assert load_settings(DOCUMENTED, environ={}) == Settings()


def test_environment_overrides_the_file(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text('data_dir = "/from/file"\n[kafka]\nbootstrap = "file:9092"\npartitions = 2\n')
    s = load_settings(file, environ={"CXPULSE_KAFKA_BOOTSTRAP": "env:9092", "CXPULSE_CLICKHOUSE_URL": "clickhouse://h:9000/cx",
                                     "CXPULSE_KAFKA_INPUT_TOPICS": "a, b", "CXPULSE_INGEST_MAX_AGE_SECONDS": "60",
                                     "CXPULSE_SINK_BATCH_SIZE": "7"})
    assert (s.kafka.bootstrap, s.clickhouse.url, s.data_dir, s.kafka.partitions) == ("env:9092", "clickhouse://h:9000/cx", "/from/file", 2)
    assert (s.kafka.input_topics, s.ingest.max_age_seconds, s.sink.batch_size) == (["a", "b"], 60.0, 7)
    assert load_settings(file, environ={"CXPULSE_DATA_DIR": "/env"}).data_dir == "/env"


def test_config_file_from_environment_variable(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text("[metrics]\nport = 0\n")
    assert load_settings(None, environ={"CXPULSE_CONFIG": str(file)}).metrics.port == 0


@pytest.mark.parametrize("text, environ, key", [
    ("[kafka]\npartitions = 'many'\n", {}, "kafka.partitions"),
    ("[kafka]\nbootstrapp = 'x'\n", {}, "bootstrapp"),
    ("", {"CXPULSE_SINK_BATCH_SIZE": "lots"}, "sink.batch_size"),
    ("[kafka\n", {}, "c.toml"),
])
def test_bad_values_raise_config_error_naming_the_key(tmp_path, text, environ, key):
    file = tmp_path / "c.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.") if "." in key and "toml" not in key else key):
        load_settings(file, environ=environ)
