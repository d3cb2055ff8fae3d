"""Render deploy/k8s's kustomizations in Python, so tests/test_k8s.py checks them where neither kubectl
nor kustomize is installed (CI). Only the kustomize features these manifests use; any other field of a
kustomization raises, so a manifest change cannot be checked against a silently wrong rendering.
`test_the_python_rendering_is_kustomizes` compares it with `kubectl kustomize` wherever that exists.

Supported: resources (files and directories), namespace, labels (includeSelectors), images, replicas,
configMapGenerator (envs, files, behavior create/merge/replace, options.labels; a content hash suffix,
with the references of envFrom and configMap volumes renamed) and strategic-merge patches by path.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "replicas", "configMapGenerator",
             "patches"}
# Strategic merge: the lists of a pod spec merged item by item on their key; any other list is replaced.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name",
              "volumeMounts": "mountPath", "ports": "containerPort"}
GENERATED = "kustomize-lite/generated"  # a marker annotation, removed once names get their hash


class Unsupported(ValueError):
    """A kustomization uses a feature this renderer does not implement."""


def _merge(base, patch, key: str | None = None):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base[k], v, k) if k in base else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        # as kustomize orders them: the patch's items (merged into the base's of the same key), then the rest
        field = MERGE_KEYS[key]
        olds = {item.get(field): item for item in base}
        first = [_merge(olds[item.get(field)], item) if item.get(field) in olds else copy.deepcopy(item) for item in patch]
        patched = {item.get(field) for item in patch}
        return first + [copy.deepcopy(item) for item in base if item.get(field) not in patched]
    return copy.deepcopy(patch)


def _env_file(path: Path) -> dict[str, str]:
    data = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            data[key.strip()] = value
    return data


def _generate(directory: Path, spec: dict) -> dict:
    data: dict[str, str] = {}
    for env in spec.get("envs", []):
        data.update(_env_file(directory / env))
    for item in spec.get("files", []):
        key, _, path = item.rpartition("=")
        data[key or Path(path).name] = (directory / path).read_text()
    labels = (spec.get("options") or {}).get("labels") or {}
    unknown = set(spec) - {"name", "envs", "files", "behavior", "options"} | set(spec.get("options") or {}) - {"labels"}
    if unknown:
        raise Unsupported(f"configMapGenerator {spec['name']}: {sorted(unknown)}")
    metadata = {"name": spec["name"], "annotations": {GENERATED: "true"}, **({"labels": dict(labels)} if labels else {})}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def _select(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    if len(found) != 1:
        raise Unsupported(f"{kind} {name}: {len(found)} objects to patch")
    return found[0]


def _add_labels(doc: dict, pairs: dict, selectors: bool) -> None:
    doc["metadata"].setdefault("labels", {}).update(pairs)
    if not selectors:
        return
    spec = doc.get("spec") or {}
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
        spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(pairs)
        spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    elif doc["kind"] == "Service":
        spec.setdefault("selector", {}).update(pairs)


def _build(directory: Path) -> list[dict]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text()) or {}
    if set(spec) - SUPPORTED:
        raise Unsupported(f"{directory}: {sorted(set(spec) - SUPPORTED)}")
    docs: list[dict] = []
    for resource in spec.get("resources", []):
        path = directory / resource
        docs += _build(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    for generator in spec.get("configMapGenerator", []):
        made, behavior = _generate(directory, generator), generator.get("behavior", "create")
        if behavior == "create":
            docs.append(made)
            continue
        old = _select(docs, "ConfigMap", generator["name"])
        old["data"] = {**old.get("data", {}), **made["data"]} if behavior == "merge" else made["data"]
        old["metadata"].setdefault("labels", {}).update(made["metadata"].get("labels", {}))
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise Unsupported(f"{directory}: patch {patch}")
        for body in yaml.safe_load_all((directory / patch["path"]).read_text()):
            target = _select(docs, body["kind"], body["metadata"]["name"])
            target.update(_merge(target, body))
    for doc in docs:
        if "namespace" in spec:
            doc["metadata"]["namespace"] = spec["namespace"]
        for label in spec.get("labels", []):
            _add_labels(doc, label["pairs"], label.get("includeSelectors", False))
    images = {i["name"]: i for i in spec.get("images", [])}
    replicas = {r["name"]: r["count"] for r in spec.get("replicas", [])}
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in replicas:
            doc["spec"]["replicas"] = replicas[doc["metadata"]["name"]]
        for container in ((doc.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers", []):
            image = images.get(container["image"].split(":")[0])
            if image:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return docs


def _hash(doc: dict) -> str:
    digest = hashlib.sha256(json.dumps(doc["data"], sort_keys=True).encode()).hexdigest()
    return "".join("bcdfghkmt2456789"[int(c, 16)] for c in digest[:10])


def render(directory: Path) -> list[dict]:
    """The objects `kubectl kustomize directory` prints (generated names get a content hash of their own)."""
    docs = _build(directory)
    names = {}
    for doc in docs:
        if doc["kind"] == "ConfigMap" and doc["metadata"].get("annotations", {}).pop(GENERATED, None):
            if not doc["metadata"]["annotations"]:
                del doc["metadata"]["annotations"]
            names[doc["metadata"]["name"]] = doc["metadata"]["name"] = f"{doc['metadata']['name']}-{_hash(doc)}"
    for doc in docs:
        pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in pod.get("containers", []):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    source["configMapRef"]["name"] = names.get(source["configMapRef"]["name"], source["configMapRef"]["name"])
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                volume["configMap"]["name"] = names.get(volume["configMap"]["name"], volume["configMap"]["name"])
    return docs
