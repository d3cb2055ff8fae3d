"""The Kubernetes manifests (deploy/k8s, kustomize) agree with the code.

Every kustomization (base and overlays) is rendered by `kubectl kustomize` (or `kustomize build`;
skipped where neither is installed) and checked: the workers' CXPULSE_* variables are settings the
loader knows and accepts, secrets reach them only as files from a Secret volume, the metrics port is
the one the container exposes, probes and the Service use and Prometheus scrapes, selectors select
the workers, replicas stay within the partitions, and the pods run locked down. Each check returns problems, one sentence
each; `test_a_broken_manifest_is_caught` breaks a rendered copy one way per case and expects the
matching problem, so every check is shown to be able to fail.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.config import SECRETS, ConfigError, Settings, load_settings
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
    if shutil.which("kubectl"):
        command = ["kubectl", "kustomize", str(K8S / target)]
    elif shutil.which("kustomize"):
        command = ["kustomize", "build", str(K8S / target)]
    else:
        pytest.skip("neither kubectl nor kustomize is installed (they render the manifests)")
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(command[:2])} {target}: {done.stderr}"
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


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
    for workload, container in workers(docs):
        label = container["name"]
        pod = pod_spec(workload).get("securityContext", {})
        own = container.get("securityContext", {})
        if not (own.get("runAsNonRoot", pod.get("runAsNonRoot")) and own.get("runAsUser", pod.get("runAsUser"))):
            problems.append(f"{label}: runAsNonRoot with a runAsUser is not set")
        if own.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{label}: allowPrivilegeEscalation is not false")
        if "ALL" not in (own.get("capabilities") or {}).get("drop", []):
            problems.append(f"{label}: capabilities are not dropped (drop: [ALL])")
        if own.get("readOnlyRootFilesystem"):
            data_dir = worker_settings(docs, workload, container).data_dir
            found = mount_of(workload, container, data_dir)
            if found is None or found[0].get("readOnly") or not {"emptyDir", "persistentVolumeClaim", "ephemeral"} & set(found[1]):
                problems.append(f"{label}: the root file system is read-only and CXPULSE_DATA_DIR={data_dir} is not on a "
                                "writable volume")
        resources = container.get("resources", {})
        if not {"cpu", "memory"} <= set(resources.get("requests", {})) or "memory" not in resources.get("limits", {}):
            problems.append(f"{label}: needs cpu and memory requests and a memory limit")
    return problems


CHECKS: list[Callable[[list[dict]], list[str]]] = [check_settings, check_secrets, check_metrics_port, check_scale,
                                                  check_pod_security]


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


def drop_mount(docs: list[dict], name: str) -> None:
    container = worker_of(docs)
    container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] != name]


BREAKAGES: list[tuple[str, Callable, Callable[[list[dict]], Any], str]] = [
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
]


@pytest.mark.parametrize("check, breakage, expected", [(c, b, e) for _, c, b, e in BREAKAGES],
                         ids=[case[0] for case in BREAKAGES])
def test_a_broken_manifest_is_caught(check, breakage, expected):
    docs = render("base")
    breakage(docs)
    problems = check(docs)
    assert any(expected in p for p in problems), f"{check.__name__} did not report {expected!r}: {problems or 'nothing'}"

