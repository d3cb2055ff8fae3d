"""docker-compose.yml cannot run here (no Docker engine); this checks it agrees with the code."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from streams.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
CXPULSE = ["init", "worker", "simulator"]
INTERPOLATION = re.compile(r"\$\{(\w+)(:\?[^}]*)?\}")


def resolved(value: str) -> str:
    return INTERPOLATION.sub(lambda m: f"<{m[1]}>", value)


@pytest.mark.parametrize("service", CXPULSE)
def test_every_cxpulse_variable_is_a_setting_the_code_reads(service):
    env = {k: resolved(str(v)) for k, v in SERVICES[service]["environment"].items()}
    settings = load_settings(None, environ=env)
    defaults = Settings()
    for name in env:
        assert name.startswith("CXPULSE_"), name
        section, _, key = name[len("CXPULSE_"):].lower().partition("_")
        if hasattr(defaults, section) and hasattr(getattr(defaults, section), key):
            value = getattr(getattr(settings, section), key)
        else:
            value = getattr(settings, f"{section}_{key}" if key else section)
        assert str(value) == env[name], f"{name} is not read by the settings loader"


def test_bootstrap_names_the_kafka_listener_for_containers():
    env = SERVICES["worker"]["environment"]
    host, port = env["CXPULSE_KAFKA_BOOTSTRAP"].split(":")
    advertised = SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"PLAINTEXT://{host}:{port}" in advertised.split(",")
    assert host == "kafka"


def test_clickhouse_url_points_at_the_native_port_of_the_clickhouse_service():
    url = urlparse(resolved(SERVICES["worker"]["environment"]["CXPULSE_CLICKHOUSE_URL"]))
    assert (url.scheme, url.hostname, url.port, url.username) == ("clickhouse", "clickhouse", 9000, "cxpulse")
    users = (ROOT / "deploy/clickhouse/users.d/cxpulse.xml").read_text()
    assert "<cxpulse>" in users and 'from_env="CLICKHOUSE_PASSWORD"' in users
    assert "<tcp_port>9000</tcp_port>" in (ROOT / "deploy/clickhouse/config.d/cxpulse.xml").read_text()


def test_prometheus_scrapes_the_port_the_workers_serve():
    port = int(SERVICES["worker"]["environment"]["CXPULSE_METRICS_PORT"])
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    worker_sd = jobs["cxpulse-worker"]["dns_sd_configs"][0]
    assert worker_sd["names"] == ["worker"] and worker_sd["port"] == port
    assert SERVICES["worker"]["environment"]["CXPULSE_METRICS_HOST"] == "0.0.0.0"


def test_grafana_datasources_point_at_the_services():
    sources = yaml.safe_load((ROOT / "grafana/provisioning/datasources/datasources.yml").read_text())["datasources"]
    by_uid = {s["uid"]: s for s in sources}
    assert by_uid["clickhouse"]["type"] == "grafana-clickhouse-datasource"
    assert by_uid["clickhouse"]["jsonData"]["host"] in SERVICES and by_uid["clickhouse"]["jsonData"]["port"] == 9000
    assert urlparse(by_uid["prometheus"]["url"]).hostname in SERVICES
    assert "grafana-clickhouse-datasource" in SERVICES["grafana"]["environment"]["GF_INSTALL_PLUGINS"]


def test_no_literal_passwords():
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            value = str(value)
            if "PASSWORD" in key or "password" in value.lower() or re.search(r"//[^/]*:[^@]*@", value):
                assert INTERPOLATION.search(value) and ":?" in value, f"{name}.{key} has a literal or defaulted secret"


def test_workers_can_scale_and_dependencies_exist():
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"
    assert 'ENTRYPOINT ["cxpulse"]' in (ROOT / "Dockerfile").read_text()
