"""The Kubernetes manifests (deploy/k8s, kustomize) agree with the code.

Every kustomization (base and overlays) is rendered in Python (tests/kustomize_lite.py, so nothing
here needs kubectl; where kubectl or kustomize is installed, a test shows both renderings equal) and
checked: the workers' CXPULSE_* variables are settings the loader knows and accepts, secrets reach
them only as files from a Secret volume, the metrics port is the one the container exposes, probes
and the Service use and Prometheus scrapes, selectors select the workers, replicas stay within the
partitions, and the pods run locked down. The gateway likewise: its settings and config file load,
its sources' secrets are keys of its Secret volume, probes use /readyz and /healthz on its port,
Services and the PodDisruptionBudget select it and not the workers, it writes to the workers' Kafka. Each check returns problems, one sentence
each; `test_a_broken_manifest_is_caught` breaks a rendered copy one way per case and expects the
matching problem, so every check is shown to be able to fail.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.config import SECRETS, ConfigError, Settings, load_settings
from streams.gateway.auth import secret_variable
from tests import kustomize_lite
from tests.test_compose import setting_names

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
TARGETS = sorted(p.parent.relative_to(K8S).as_posix() for p in K8S.rglob("kustomization.yaml"))
SECRET_VARIABLES = {f"CXPULSE_{section}_{key}".upper() for section, key in SECRETS}
# Settings that name files the worker reads (the *_FILE secrets included).
PATH_VARIABLES = {"CXPULSE_KAFKA_SSL_CAFILE", "CXPULSE_KAFKA_SSL_CERTFILE", "CXPULSE_KAFKA_SSL_KEYFILE",
                  "CXPULSE_CLICKHOUSE_CA_CERTS", "CXPULSE_CONFIG", *(f"{v}_FILE" for v in SECRET_VARIABLES)}


# --------------------------------------------------------------------------------------------
# Rendering and reading the rendered objects


@functools.cache
def _rendered(target: str) -> tuple[dict, ...]:
    return tuple(kustomize_lite.render(K8S / target))


def _kustomize(target: str) -> list[dict]:
    """The objects as kubectl kustomize (or kustomize build) renders them."""
    if shutil.which("kubectl"):
        command = ["kubectl", "kustomize", str(K8S / target)]
    elif shutil.which("kustomize"):
        command = ["kustomize", "build", str(K8S / target)]
    else:
        pytest.skip("neither kubectl nor kustomize is installed (they render the manifests)")
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(command[:2])} {target}: {done.stderr}"
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _comparable(docs: list[dict]) -> list[dict]:
    """Objects in a fixed order, the content hash of generated names left out (each renderer has its own)."""
    text = re.sub(r'"(cxpulse-[a-z-]+?)-[a-z0-9]{10}"', r'"\1-<hash>"', json.dumps(docs, sort_keys=True))
    return sorted(json.loads(text), key=lambda d: (d["kind"], d["metadata"]["name"]))


@pytest.mark.parametrize("target", TARGETS)
def test_the_python_rendering_is_kustomizes(target):
    assert _comparable(render(target)) == _comparable(_kustomize(target))


def render(target: str) -> list[dict]:
    """The objects of a kustomization, a fresh copy each time (the breakage cases change them)."""
    return copy.deepcopy(list(_rendered(target)))


def objects(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def workers(docs: list[dict]) -> list[tuple[dict, dict]]:
    """(Deployment or StatefulSet, container) of every container running `cxpulse worker`."""
    out = []
    for d in objects(docs, "Deployment") + objects(docs, "StatefulSet"):
        for c in d["spec"]["template"]["spec"].get("containers", []):
            if [*c.get("command", []), *c.get("args", [])][-1:] == ["worker"]:
                out.append((d, c))
    return out


def gateways(docs: list[dict]) -> list[tuple[dict, dict]]:
    """(Deployment, container) of every container running `cxpulse gateway`."""
    return [(d, c) for d in objects(docs, "Deployment") for c in d["spec"]["template"]["spec"].get("containers", [])
            if [*c.get("command", []), *c.get("args", [])][-1:] == ["gateway"]]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def container_env(docs: list[dict], container: dict) -> dict[str, str]:
    """The variables a container sees: envFrom ConfigMaps, then env (secretKeyRef values as <secret>)."""
    maps = {m["metadata"]["name"]: m.get("data", {}) for m in objects(docs, "ConfigMap")}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            env.update({k: str(v) for k, v in maps.get(ref["name"], {}).items()})
    for item in container.get("env", []):
        env[item["name"]] = str(item["value"]) if "value" in item else "<secret>"
    return env


def mount_of(workload: dict, container: dict, path: str) -> tuple[dict, dict] | None:
    """(volumeMount, volume) that holds `path` in the container, the deepest mount."""
    volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
    mounts = [m for m in container.get("volumeMounts", [])
              if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")]
    if not mounts:
        return None
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    return mount, volumes.get(mount["name"], {})


def worker_settings(docs: list[dict], workload: dict, container: dict) -> Settings:
    """load_settings as the container runs it; files it would read are stand-ins with placeholder text."""
    env = container_env(docs, container)
    with tempfile.TemporaryDirectory() as scratch:
        for name in PATH_VARIABLES & set(env):
            stand_in = Path(scratch) / name
            stand_in.write_text("[metrics]\n" if name == "CXPULSE_CONFIG" else "placeholder\n")
            env[name] = str(stand_in)
        return load_settings(None, environ=env)


def mounted_file(docs: list[dict], workload: dict, container: dict, path: str) -> str | None:
    """The text a ConfigMap volume puts at `path` in the container; None when no ConfigMap key is there."""
    found = mount_of(workload, container, path)
    if found is None or "configMap" not in found[1]:
        return None
    mount, volume = found
    key = path[len(mount["mountPath"].rstrip("/")) + 1:]
    maps = {m["metadata"]["name"]: m.get("data", {}) for m in objects(docs, "ConfigMap")}
    return maps.get(volume["configMap"]["name"], {}).get(key)


def gateway_settings(docs: list[dict], workload: dict, container: dict) -> Settings:
    """load_settings as the gateway runs it: its config file from the ConfigMap it mounts, stand-ins for secrets."""
    env = container_env(docs, container)
    with tempfile.TemporaryDirectory() as scratch:
        for name in PATH_VARIABLES & set(env):
            stand_in = Path(scratch) / name
            text = mounted_file(docs, workload, container, env[name]) if name == "CXPULSE_CONFIG" else "placeholder\n"
            if text is None:
                raise ConfigError(f"CXPULSE_CONFIG={env[name]} is no key of a ConfigMap volume of the pod")
            stand_in.write_text(text)
            env[name] = str(stand_in)
        return load_settings(None, environ=env)


def secret_key(workload: dict, container: dict, path: str) -> tuple[str | None, str]:
    """(Secret name, key) a secret file path reads, or (None, why not)."""
    found = mount_of(workload, container, path)
    if found is None:
        return None, "is not under a mounted volume"
    mount, volume = found
    if "secret" not in volume:
        return None, f"is on volume {mount['name']}, not a Secret volume"
    key = path[len(mount["mountPath"].rstrip("/")) + 1:]
    items = volume["secret"].get("items")
    if items is not None:
        key = next((i["key"] for i in items if i["path"] == key), None)
        if key is None:
            return None, f"is not one of the items of Secret volume {mount['name']}"
    return volume["secret"].get("secretName"), key


def selects(selector: dict | None, labels: dict) -> bool:
    match = (selector or {}).get("matchLabels", {})
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


# --------------------------------------------------------------------------------------------
# The checks


def check_settings(docs: list[dict]) -> list[str]:
    """Every CXPULSE_* variable of a worker is a setting the loader knows, and the loader accepts them all."""
    problems = []
    known = setting_names()
    if not workers(docs):
        return ["no container runs `cxpulse worker`"]
    for workload, container in workers(docs):
        env = container_env(docs, container)
        for name in sorted(env):
            if name.startswith("CXPULSE_") and name != "CXPULSE_CONFIG" and name not in known:
                problems.append(f"{container['name']}: {name} is not a setting the loader knows")
        try:
            worker_settings(docs, workload, container)
        except ConfigError as exc:
            problems.append(f"{container['name']}: the settings loader refuses its environment: {exc}")
    return problems


def check_secrets(docs: list[dict]) -> list[str]:
    """Secrets reach the workers as files from a Secret volume (or secretKeyRef), never as ConfigMap data;
    every file a setting names is mounted; the README names every Secret key the workers read."""
    problems = []
    readme = (K8S / "README.md").read_text() if (K8S / "README.md").exists() else ""
    for m in objects(docs, "ConfigMap"):
        for name, value in (m.get("data") or {}).items():
            if name in SECRET_VARIABLES and value:
                problems.append(f"ConfigMap {m['metadata']['name']}: {name} is a secret in a ConfigMap; "
                                f"mount it from a Secret and set {name}_FILE")
    for workload, container in workers(docs):
        for item in container.get("env", []):
            if item["name"] in SECRET_VARIABLES and "value" in item:
                problems.append(f"{container['name']}: {item['name']} is a literal; use {item['name']}_FILE or secretKeyRef")
        for name, path in sorted(container_env(docs, container).items()):
            if name not in PATH_VARIABLES:
                continue
            found = mount_of(workload, container, path)
            if found is None:
                problems.append(f"{container['name']}: {name}={path} is not under a mounted volume")
                continue
            mount, volume = found
            if name.endswith("_FILE") and "secret" not in volume:
                problems.append(f"{container['name']}: {name}={path} is on volume {mount['name']}, not a Secret volume")
            if name.endswith("_FILE") and "secret" in volume:
                key = path[len(mount["mountPath"].rstrip("/")) + 1:]
                if f"`{key}`" not in readme:
                    problems.append(f"{container['name']}: {name} reads Secret key {key} of "
                                    f"{volume['secret'].get('secretName')}, which deploy/k8s/README.md does not list")
    return problems


def check_metrics_port(docs: list[dict]) -> list[str]:
    """The container exposes CXPULSE_METRICS_PORT on all interfaces; probes, the Service and the scrape
    annotation use that port."""
    problems = []
    services = objects(docs, "Service")
    for workload, container in workers(docs):
        settings = worker_settings(docs, workload, container)
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        label = container["name"]
        if ports.get("metrics") != settings.metrics.port:
            problems.append(f"{label}: container port `metrics` is {ports.get('metrics')}, the worker serves metrics "
                            f"on CXPULSE_METRICS_PORT={settings.metrics.port}")
        if settings.metrics.host not in ("0.0.0.0", "::"):
            problems.append(f"{label}: metrics on {settings.metrics.host}: probes and Prometheus cannot reach it")
        for probe in ("readinessProbe", "livenessProbe"):
            port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
            if port is None:
                problems.append(f"{label}: no HTTP {probe} on the metrics port")
            elif ports.get(port, port) != settings.metrics.port:
                problems.append(f"{label}: {probe} probes port {port}, not the metrics port {settings.metrics.port}")
        annotations = workload["spec"]["template"].get("metadata", {}).get("annotations", {})
        if annotations.get("prometheus.io/port", str(settings.metrics.port)) != str(settings.metrics.port):
            problems.append(f"{label}: prometheus.io/port is {annotations['prometheus.io/port']}")
        labels = workload["spec"]["template"]["metadata"].get("labels", {})
        mine = [s for s in services if s["spec"].get("selector")
                and all(labels.get(k) == v for k, v in s["spec"]["selector"].items())]
        if not mine:
            problems.append(f"{label}: no Service selects the workers' pods (metrics discovery)")
        for service in mine:
            for port in service["spec"].get("ports", []):
                target = port.get("targetPort", port["port"])
                if ports.get(target, target) != settings.metrics.port:
                    problems.append(f"Service {service['metadata']['name']}: targetPort {target} is not the metrics port")
    return problems


KAFKA_CONNECTION = ("bootstrap", "dlq_topic", "security_protocol", "sasl_mechanism", "sasl_username")


def check_gateway(docs: list[dict]) -> list[str]:
    """The gateway's CXPULSE_* variables and config file load; it listens on all interfaces on the ports the
    container names http and metrics; readiness is /readyz and liveness /healthz on http; the scrape annotation,
    the Services and a PodDisruptionBudget select its pods and not the workers'; each source's secret and every
    *_FILE is a Secret key the README lists; no ClickHouse settings; it writes to the topic the workers read."""
    problems = []
    known = setting_names()
    readme = (K8S / "README.md").read_text() if (K8S / "README.md").exists() else ""
    if not gateways(docs):
        return ["no container runs `cxpulse gateway`"]
    worker_pods = [workload["spec"]["template"]["metadata"].get("labels", {}) for workload, _ in workers(docs)]
    for workload, container in gateways(docs):
        label, env = container["name"], container_env(docs, container)
        for name in sorted(env):
            if name.startswith("CXPULSE_") and name != "CXPULSE_CONFIG" and name not in known \
                    and not re.fullmatch(r"CXPULSE_SOURCE_\w+_SECRET", name):
                problems.append(f"{label}: {name} is not a setting the loader knows")
            if name.startswith("CXPULSE_CLICKHOUSE_"):
                problems.append(f"{label}: {name}: the gateway never uses the warehouse; least privilege: leave it out")
        try:
            settings = gateway_settings(docs, workload, container)
        except ConfigError as exc:
            problems.append(f"{label}: the settings loader refuses its environment: {exc}")
            continue
        gateway = settings.gateway
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        resolve = lambda port: ports.get(port, port)
        if gateway.host not in ("0.0.0.0", "::") or settings.metrics.host not in ("0.0.0.0", "::"):
            problems.append(f"{label}: listens on {gateway.host}, metrics on {settings.metrics.host}: the Service and "
                            "Prometheus cannot reach it (0.0.0.0)")
        for port_name, want, setting in (("http", gateway.port, "CXPULSE_GATEWAY_PORT"),
                                         ("metrics", gateway.metrics_port, "CXPULSE_GATEWAY_METRICS_PORT")):
            if ports.get(port_name) != want:
                problems.append(f"{label}: container port `{port_name}` is {ports.get(port_name)}, the gateway serves "
                                f"it on {setting}={want}")
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = (container.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path or resolve(get.get("port")) != gateway.port:
                problems.append(f"{label}: {probe} should GET {path} on the gateway port {gateway.port}, "
                                f"not {get.get('path')} on {get.get('port')}")
        annotations = workload["spec"]["template"].get("metadata", {}).get("annotations", {})
        if annotations.get("prometheus.io/port") != str(gateway.metrics_port):
            problems.append(f"{label}: prometheus.io/port is {annotations.get('prometheus.io/port')}, "
                            f"metrics are on {gateway.metrics_port}")
        labels = workload["spec"]["template"]["metadata"].get("labels", {})
        if not selects(workload["spec"].get("selector"), labels):
            problems.append(f"{workload['metadata']['name']}: its selector does not match its pod labels")
        targets = set()
        for service in objects(docs, "Service"):
            selector = service["spec"].get("selector") or {}
            if not selector:
                continue
            mine = all(labels.get(k) == v for k, v in selector.items())
            theirs = any(all(pod.get(k) == v for k, v in selector.items()) for pod in worker_pods)
            if mine and theirs:
                problems.append(f"Service {service['metadata']['name']} selects the workers' and the gateway's pods")
            if mine:
                targets |= {resolve(p.get("targetPort", p["port"])) for p in service["spec"].get("ports", [])}
        for port, what in ((gateway.port, "requests"), (gateway.metrics_port, "metrics")):
            if port not in targets:
                problems.append(f"{label}: no Service routes to its {what} port {port}")
        if not any(selects(b["spec"].get("selector"), labels) for b in objects(docs, "PodDisruptionBudget")):
            problems.append(f"{workload['metadata']['name']}: no PodDisruptionBudget selects the gateway")
        if not gateway.sources:
            problems.append(f"{label}: no [gateway.sources.<name>] in its config file: every request would be refused")
        files = {f"gateway.sources.{n}.secret_file": s.secret_file for n, s in gateway.sources.items() if s.secret_file}
        files |= {name: path for name, path in env.items() if name.endswith("_FILE") and name in PATH_VARIABLES}
        for source in gateway.sources:
            if not gateway.sources[source].secret_file and secret_variable(source) not in env:
                problems.append(f"{label}: gateway.sources.{source} has no secret: set its secret_file "
                                f"or {secret_variable(source)} (secretKeyRef)")
        for item in container.get("env", []):
            if re.fullmatch(r"CXPULSE_SOURCE_\w+_SECRET", item["name"]) and "value" in item:
                problems.append(f"{label}: {item['name']} is a literal; use secret_file or secretKeyRef")
        for what, path in sorted(files.items()):
            secret, key = secret_key(workload, container, path)
            if secret is None:
                problems.append(f"{label}: {what}={path} {key}")
            elif f"`{key}`" not in readme:
                problems.append(f"{label}: {what} reads Secret key {key} of {secret}, which deploy/k8s/README.md "
                                "does not list")
        for worker, worker_container in workers(docs):
            theirs = worker_settings(docs, worker, worker_container)
            if settings.kafka.input_topics[0] not in theirs.kafka.input_topics:
                problems.append(f"{label}: writes to {settings.kafka.input_topics[0]}, which the workers do not read "
                                f"({theirs.kafka.input_topics})")
            differ = [f"{k} {getattr(settings.kafka, k)!r} vs {getattr(theirs.kafka, k)!r}" for k in KAFKA_CONNECTION
                      if getattr(settings.kafka, k) != getattr(theirs.kafka, k)]
            cafile = [container_env(docs, c).get("CXPULSE_KAFKA_SSL_CAFILE") for c in (container, worker_container)]
            if cafile[0] != cafile[1]:
                differ.append(f"ssl_cafile {cafile[0]!r} vs {cafile[1]!r}")
            if differ:
                problems.append(f"{label} and {worker_container['name']} differ in Kafka: {', '.join(differ)}")
    return problems


def check_scale(docs: list[dict]) -> list[str]:
    """Replicas within the partitions; a PodDisruptionBudget selecting exactly the workers."""
    problems = []
    budgets = objects(docs, "PodDisruptionBudget")
    for workload, container in workers(docs):
        settings = worker_settings(docs, workload, container)
        replicas = workload["spec"].get("replicas", 1)
        if replicas > settings.kafka.partitions:
            problems.append(f"{workload['metadata']['name']}: {replicas} replicas > {settings.kafka.partitions} "
                            "partitions (CXPULSE_KAFKA_PARTITIONS): the extra workers get no partition")
        labels = workload["spec"]["template"]["metadata"].get("labels", {})
        if not selects(workload["spec"].get("selector"), labels):
            problems.append(f"{workload['metadata']['name']}: its selector does not match its pod labels")
        mine = [b for b in budgets if selects(b["spec"].get("selector"), labels)]
        if not mine:
            problems.append(f"{workload['metadata']['name']}: no PodDisruptionBudget selects the workers")
    for budget in budgets:
        if not (budget["spec"].get("selector") or {}).get("matchLabels"):
            problems.append(f"PodDisruptionBudget {budget['metadata']['name']}: no selector, so it selects every pod "
                            "of the namespace")
    return problems


def check_pod_security(docs: list[dict]) -> list[str]:
    """Non-root, read-only root file system (the data dir on a writable volume), no privilege escalation,
    CPU and memory requests and a memory limit."""
    problems = []
    for workload, container in workers(docs) + gateways(docs):
        label = container["name"]
        pod = pod_spec(workload).get("securityContext", {})
        own = container.get("securityContext", {})
        if not (own.get("runAsNonRoot", pod.get("runAsNonRoot")) and own.get("runAsUser", pod.get("runAsUser"))):
            problems.append(f"{label}: runAsNonRoot with a runAsUser is not set")
        if own.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{label}: allowPrivilegeEscalation is not false")
        if "ALL" not in (own.get("capabilities") or {}).get("drop", []):
            problems.append(f"{label}: capabilities are not dropped (drop: [ALL])")
        if own.get("readOnlyRootFilesystem") and (workload, container) in workers(docs):
            data_dir = worker_settings(docs, workload, container).data_dir
            found = mount_of(workload, container, data_dir)
            if found is None or found[0].get("readOnly") or not {"emptyDir", "persistentVolumeClaim", "ephemeral"} & set(found[1]):
                problems.append(f"{label}: the root file system is read-only and CXPULSE_DATA_DIR={data_dir} is not on a "
                                "writable volume")
        resources = container.get("resources", {})
        if not {"cpu", "memory"} <= set(resources.get("requests", {})) or "memory" not in resources.get("limits", {}):
            problems.append(f"{label}: needs cpu and memory requests and a memory limit")
    return problems


def check_board_user(docs: list[dict]) -> list[str]:
    """The workers run the migrations at start, so they create the read-only board user cx_boards
    (schemas/clickhouse/access/cx_boards.sql): each has its password, from a Secret file."""
    problems = []
    for workload, container in workers(docs):
        try:
            settings = worker_settings(docs, workload, container)
        except ConfigError as exc:
            problems.append(f"{container['name']}: the settings loader refuses its environment: {exc}")
            continue
        if not settings.clickhouse.boards_password:
            problems.append(f"{container['name']}: no clickhouse.boards_password (CXPULSE_CLICKHOUSE_BOARDS_PASSWORD_FILE): "
                            "the migrations would not create the board user Grafana logs in as")
    return problems


CHECKS: list[Callable[[list[dict]], list[str]]] = [check_settings, check_secrets, check_metrics_port, check_scale,
                                                  check_pod_security, check_gateway, check_board_user]


def test_there_is_a_base_and_an_overlay():
    assert "base" in TARGETS and any(t.startswith("overlays/") for t in TARGETS), TARGETS


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_manifests_are_consistent(target, check):
    problems = check(render(target))
    assert not problems, f"{target}: {check.__name__}: {check.__doc__}\n  - " + "\n  - ".join(problems)


# --------------------------------------------------------------------------------------------
# The files themselves: they parse, and kustomizations name files that exist


def kustomization_problems(directory: Path) -> list[str]:
    """Every YAML file parses; every file or directory a kustomization names exists."""
    problems = []
    for path in sorted(directory.rglob("*.yaml")):
        try:
            list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            problems.append(f"{path.relative_to(directory)}: not YAML: {exc}")
    for file in sorted(directory.rglob("kustomization.yaml")):
        spec = yaml.safe_load(file.read_text()) or {}
        named = [*spec.get("resources", []), *spec.get("components", []),
                 *(p["path"] for p in spec.get("patches", []) if "path" in p)]
        for generator in spec.get("configMapGenerator", []) + spec.get("secretGenerator", []):
            named += generator.get("envs", []) + [f.split("=", 1)[-1] for f in generator.get("files", [])]
        for name in named:
            if not (file.parent / name).exists():
                problems.append(f"{file.relative_to(directory)}: names {name}, which does not exist")
    return problems


def test_every_file_parses_and_every_named_file_exists():
    assert kustomization_problems(K8S) == []


def test_a_kustomization_naming_a_missing_file_is_caught(tmp_path):
    shutil.copytree(K8S, tmp_path / "k8s")
    base = tmp_path / "k8s" / "base" / "kustomization.yaml"
    base.write_text(base.read_text().replace("- pdb.yaml", "- pdb.yml"))
    (tmp_path / "k8s" / "base" / "broken.yaml").write_text("a: [")
    problems = kustomization_problems(tmp_path / "k8s")
    assert any("names pdb.yml, which does not exist" in p for p in problems), problems
    assert any("broken.yaml: not YAML" in p for p in problems), problems


# --------------------------------------------------------------------------------------------
# Every check can fail


def worker_of(docs: list[dict]) -> dict:
    return workers(docs)[0][1]


def workload_of(docs: list[dict]) -> dict:
    return workers(docs)[0][0]


def config_map(docs: list[dict]) -> dict:
    name = worker_of(docs)["envFrom"][0]["configMapRef"]["name"]
    return next(m for m in objects(docs, "ConfigMap") if m["metadata"]["name"] == name)["data"]


def gateway_of(docs: list[dict]) -> dict:
    return gateways(docs)[0][1]


def gateway_map(docs: list[dict], name: str = "cxpulse-gateway-") -> dict:
    """The data of the gateway's env ConfigMap, or (name="cxpulse-gateway-config-") of its config file's."""
    return next(m for m in objects(docs, "ConfigMap") if m["metadata"]["name"].startswith(name)
                and (name != "cxpulse-gateway-" or not m["metadata"]["name"].startswith("cxpulse-gateway-config-")))["data"]


def gateway_secret_items(docs: list[dict]) -> list[dict]:
    return next(v for v in pod_spec(gateways(docs)[0][0])["volumes"] if v["name"] == "secrets")["secret"]["items"]


def drop_mount(docs: list[dict], name: str) -> None:
    container = worker_of(docs)
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != name]


BREAKAGES: list[tuple[str, Callable, Callable[[list[dict]], Any], str]] = [
    ("no board user password", check_board_user,
     lambda d: config_map(d).pop("CXPULSE_CLICKHOUSE_BOARDS_PASSWORD_FILE"), "no clickhouse.boards_password"),
    ("typo in a variable", check_settings,
     lambda d: config_map(d).__setitem__("CXPULSE_KAFKA_PARTITION", "12"), "CXPULSE_KAFKA_PARTITION is not a setting"),
    ("a value the loader refuses", check_settings,
     lambda d: config_map(d).__setitem__("CXPULSE_KAFKA_SECURITY_PROTOCOL", "TLS"), "refuses its environment"),
    ("SASL without a password", check_settings,
     lambda d: config_map(d).update(CXPULSE_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                                    CXPULSE_KAFKA_SASL_MECHANISM="SCRAM-SHA-256", CXPULSE_KAFKA_SASL_USERNAME="u"),
     "needs sasl_mechanism, sasl_username and sasl_password"),
    ("a password in the ConfigMap", check_secrets,
     lambda d: config_map(d).__setitem__("CXPULSE_CLICKHOUSE_PASSWORD", "hunter2"), "is a secret in a ConfigMap"),
    ("a literal password in env", check_secrets,
     lambda d: worker_of(d).setdefault("env", []).append({"name": "CXPULSE_WEBHOOK_SECRET", "value": "k"}), "is a literal"),
    ("a secret file outside the mounts", check_secrets,
     lambda d: config_map(d).__setitem__("CXPULSE_CLICKHOUSE_PASSWORD_FILE", "/secrets/ch"), "is not under a mounted volume"),
    ("a secret file on a non-Secret volume", check_secrets,
     lambda d: config_map(d).__setitem__("CXPULSE_CLICKHOUSE_PASSWORD_FILE", "/data/ch"), "not a Secret volume"),
    ("a Secret key the README does not list", check_secrets,
     lambda d: config_map(d).__setitem__("CXPULSE_CLICKHOUSE_PASSWORD_FILE", "/run/secrets/cxpulse/ch-pw"),
     "README.md does not list"),
    ("container port is not the metrics port", check_metrics_port,
     lambda d: worker_of(d)["ports"][0].__setitem__("containerPort", 8080), "container port `metrics` is 8080"),
    ("metrics on loopback", check_metrics_port,
     lambda d: config_map(d).__setitem__("CXPULSE_METRICS_HOST", "127.0.0.1"), "cannot reach it"),
    ("a probe on another port", check_metrics_port,
     lambda d: worker_of(d)["livenessProbe"]["httpGet"].__setitem__("port", 8080), "livenessProbe probes port 8080"),
    ("Service on another port", check_metrics_port,
     lambda d: objects(d, "Service")[0]["spec"]["ports"][0].__setitem__("targetPort", 9000), "targetPort 9000"),
    ("no Service selects the workers", check_metrics_port,
     lambda d: objects(d, "Service")[0]["spec"].__setitem__("selector", {"app": "other"}), "no Service selects"),
    ("more replicas than partitions", check_scale,
     lambda d: workload_of(d)["spec"].__setitem__("replicas", 99), "99 replicas >"),
    ("PodDisruptionBudget without a selector", check_scale,
     lambda d: objects(d, "PodDisruptionBudget")[0]["spec"].pop("selector"), "selects every pod"),
    ("PodDisruptionBudget for other pods", check_scale,
     lambda d: objects(d, "PodDisruptionBudget")[0]["spec"].__setitem__("selector", {"matchLabels": {"app": "x"}}),
     "no PodDisruptionBudget selects the workers"),
    ("runs as root", check_pod_security,
     lambda d: pod_spec(workload_of(d))["securityContext"].pop("runAsNonRoot"), "runAsNonRoot"),
    ("privilege escalation", check_pod_security,
     lambda d: worker_of(d)["securityContext"].pop("allowPrivilegeEscalation"), "allowPrivilegeEscalation"),
    ("data dir on the read-only root", check_pod_security,
     lambda d: drop_mount(d, "data"), "is not on a writable volume"),
    ("no memory limit", check_pod_security,
     lambda d: worker_of(d)["resources"]["limits"].pop("memory"), "memory limit"),
    ("gateway with privilege escalation", check_pod_security,
     lambda d: gateway_of(d)["securityContext"].pop("allowPrivilegeEscalation"), "gateway: allowPrivilegeEscalation"),
    # the gateway
    ("no gateway", check_gateway,
     lambda d: d.remove(gateways(d)[0][0]), "no container runs `cxpulse gateway`"),
    ("typo in a gateway variable", check_gateway,
     lambda d: gateway_map(d).__setitem__("CXPULSE_GATEWAY_METRIC_PORT", "9465"), "CXPULSE_GATEWAY_METRIC_PORT is not a setting"),
    ("gateway config file not mounted", check_gateway,
     lambda d: gateway_map(d).__setitem__("CXPULSE_CONFIG", "/etc/cxpulse/cxpulse.toml"), "is no key of a ConfigMap volume"),
    ("a secret written in the gateway's config file", check_gateway,
     lambda d: gateway_map(d, "cxpulse-gateway-config-").__setitem__(
         "cxpulse.toml", '[gateway.sources.channels]\nauth = "bearer"\nsecret = "hunter2"\n'), "refuses its environment"),
    ("the gateway gets the ClickHouse password", check_gateway,
     lambda d: gateway_map(d).__setitem__("CXPULSE_CLICKHOUSE_PASSWORD_FILE", "/run/secrets/cxpulse/clickhouse-password"),
     "never uses the warehouse"),
    ("gateway on loopback", check_gateway,
     lambda d: gateway_map(d).__setitem__("CXPULSE_GATEWAY_HOST", "127.0.0.1"), "cannot reach it"),
    ("gateway container port is not gateway.port", check_gateway,
     lambda d: gateway_map(d).__setitem__("CXPULSE_GATEWAY_PORT", "8080"), "container port `http` is 8088"),
    ("gateway ready before the broker is connected", check_gateway,
     lambda d: gateway_of(d)["readinessProbe"]["httpGet"].__setitem__("path", "/healthz"), "readinessProbe should GET /readyz"),
    ("gateway restarted when Kafka is down", check_gateway,
     lambda d: gateway_of(d)["livenessProbe"]["httpGet"].__setitem__("path", "/readyz"), "livenessProbe should GET /healthz"),
    ("gateway scraped on another port", check_gateway,
     lambda d: gateways(d)[0][0]["spec"]["template"]["metadata"]["annotations"].__setitem__("prometheus.io/port", "9464"),
     "prometheus.io/port is 9464"),
    ("a Service for both", check_gateway,
     lambda d: next(s for s in objects(d, "Service") if s["metadata"]["name"] == "cxpulse-gateway")["spec"]
     .__setitem__("selector", {"app.kubernetes.io/name": "cxpulse"}), "selects the workers' and the gateway's pods"),
    ("no Service to the gateway", check_gateway,
     lambda d: d.remove(next(s for s in objects(d, "Service") if s["metadata"]["name"] == "cxpulse-gateway")),
     "no Service routes to its requests port 8088"),
    ("no PodDisruptionBudget for the gateway", check_gateway,
     lambda d: d.remove(next(b for b in objects(d, "PodDisruptionBudget") if b["metadata"]["name"] == "cxpulse-gateway")),
     "no PodDisruptionBudget selects the gateway"),
    ("a source's secret left out of the volume", check_gateway,
     lambda d: gateway_secret_items(d).clear() or gateway_secret_items(d).append({"key": "other", "path": "other"}),
     "is not one of the items of Secret volume secrets"),
    ("a source's secret as a literal", check_gateway,
     lambda d: gateway_of(d).setdefault("env", []).append({"name": "CXPULSE_SOURCE_CHANNELS_SECRET", "value": "t"}),
     "CXPULSE_SOURCE_CHANNELS_SECRET is a literal"),
    ("a gateway source without a secret", check_gateway,
     lambda d: gateway_map(d, "cxpulse-gateway-config-").__setitem__("cxpulse.toml", '[gateway.sources.x]\nauth = "hmac"\n'),
     "gateway.sources.x has no secret"),
    ("a gateway Secret key the README does not list", check_gateway,
     lambda d: gateway_secret_items(d)[0].__setitem__("key", "acme-token"), "README.md does not list"),
    ("gateway on another Kafka", check_gateway,
     lambda d: gateway_map(d).__setitem__("CXPULSE_KAFKA_BOOTSTRAP", "kafka.other.svc:9092"), "differ in Kafka: bootstrap"),
    ("gateway writes a topic the workers do not read", check_gateway,
     lambda d: gateway_map(d).__setitem__("CXPULSE_KAFKA_INPUT_TOPICS", "cx.other"), "which the workers do not read"),
]


@pytest.mark.parametrize("check, breakage, expected", [(c, b, e) for _, c, b, e in BREAKAGES],
                         ids=[case[0] for case in BREAKAGES])
def test_a_broken_manifest_is_caught(check, breakage, expected):
    docs = render("base")
    breakage(docs)
    problems = check(docs)
    assert any(expected in p for p in problems), f"{check.__name__} did not report {expected!r}: {problems or 'nothing'}"

