"""docs/kuberay-raycluster.yaml is valid YAML and holds what the README says it does: token
authentication from one Secret on every container, and one shared volume mounted at the
same path everywhere for the experiment folders and the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "docs" / "kuberay-raycluster.yaml"


def _docs() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text()) if d}


def _pod_specs(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    spec = cluster["spec"]
    return [spec["headGroupSpec"]["template"]["spec"],
            *(g["template"]["spec"] for g in spec["workerGroupSpecs"])]


def test_every_container_has_the_token_and_the_shared_folder() -> None:
    docs = _docs()
    assert set(docs) == {"PersistentVolumeClaim", "RayCluster"}
    claim, cluster = docs["PersistentVolumeClaim"], docs["RayCluster"]
    assert cluster["apiVersion"] == "ray.io/v1"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    pods = _pod_specs(cluster)
    assert len(pods) >= 2  # a head and at least one worker group
    mount_paths = set()
    for pod in pods:
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"]:
            env = {e["name"]: e for e in c["env"]}
            assert env["RAY_AUTH_MODE"]["value"] == "token", c["name"]
            ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == ("scaf-al-ray-token", "auth_token"), c["name"]
            (mount,) = c["volumeMounts"]
            claim_ref = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
            assert claim_ref == claim["metadata"]["name"]
            mount_paths.add(mount["mountPath"])
            assert env["SCAF_AL_CACHE"]["value"].startswith(mount["mountPath"] + "/")
    assert mount_paths == {"/shared"}  # the same path on every node


def test_the_readme_names_the_manifest_and_its_fields() -> None:
    text = " ".join((ROOT / "README.md").read_text().split())
    for needle in ("docs/kuberay-raycluster.yaml", "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN",
                   "scaf-al-ray-token", "secretKeyRef", "ReadWriteMany", "`/shared`",
                   "SCAF_AL_CACHE=/shared/scaf-al-cache", "--address auto"):
        assert needle in text, needle
