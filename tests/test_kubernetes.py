"""The Kubernetes manifests: valid against the API schemas, clean under a security linter,
and in step with the Compose definitions (ports, probes, UID, limits) so they cannot drift."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml

from labctl.settings import ROOT, Settings
from tests import compose_file
from tests.compose_file import service_names

MANIFESTS = ROOT / "deploy" / "kubernetes"
CHECKOV = "checkov==3.3.30"
K8S_VERSION = kubernetes_validate.utils.latest_version()


def documents() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def workload(name: str) -> dict:
    """The pod spec of the Job or Deployment called name."""
    for _, doc in documents():
        if doc["kind"] in ("Job", "Deployment") and doc["metadata"]["name"] == name:
            return doc["spec"]["template"]["spec"]
    raise AssertionError(f"no workload {name}")


@pytest.fixture(scope="module")
def compose_services() -> dict:
    """The Lab 2 services as Compose resolves them (no engine needed)."""
    return compose_file.config()["services"]


@pytest.mark.parametrize(
    ("name", "doc"), documents(), ids=lambda v: v if isinstance(v, str) else v["kind"]
)
def test_manifest_is_valid_against_the_api_schema(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    on_disk = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk


def test_security_linter_finds_nothing():
    uvx = shutil.which("uvx") or str(Path(sys.executable).parent / "uvx")
    result = subprocess.run(
        [
            uvx,
            "--from",
            CHECKOV,
            "checkov",
            "--directory",
            str(MANIFESTS),
            "--framework",
            "kubernetes",
            "--compact",
            "--quiet",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert summary["failed"] == 0, [c["check_id"] for c in report["results"]["failed_checks"]]
    assert summary["passed"] > 100


def _limits(container: dict) -> tuple[float, int]:
    limits = container["resources"]["limits"]
    cpu = limits["cpu"]
    cpus = float(cpu[:-1]) / 1000 if str(cpu).endswith("m") else float(cpu)
    memory = limits["memory"]
    units = {"Mi": 2**20, "Gi": 2**30}
    return cpus, int(memory[:-2]) * units[memory[-2:]]


@pytest.mark.parametrize("service", service_names())
def test_user_limits_and_hardening_match_compose(compose_services, service):
    pod = workload(service)
    container = pod["containers"][0]
    compose = compose_services[service]
    uid, gid = (int(part) for part in compose["user"].split(":"))
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (uid, gid)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    limits = compose["deploy"]["resources"]["limits"]
    assert _limits(container) == (float(limits["cpus"]), int(limits["memory"]))
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is compose["read_only"] is True
    assert security["capabilities"]["drop"] == compose["cap_drop"] == ["ALL"]
    assert security["allowPrivilegeEscalation"] is False
    assert container["image"] == f"mlops-docker-labs/{service}:{Settings.from_env({}).version}"


def _compose_probe_path(compose: dict) -> tuple[str, int]:
    url = next(part for part in compose["healthcheck"]["test"] if "http://" in part)
    parsed = urlparse(url[url.index("http://") :].split("'")[0])
    return parsed.path, parsed.port


@pytest.mark.parametrize("service", ["serving", "proxy"])
def test_ports_and_probes_match_compose(compose_services, service):
    container = workload(service)["containers"][0]
    path, port = _compose_probe_path(compose_services[service])
    assert container["ports"][0]["containerPort"] == port == 8080
    assert container["readinessProbe"]["httpGet"]["path"] == path == "/readyz"


def test_serving_liveness_is_the_images_healthcheck():
    container = workload("serving")["containers"][0]
    dockerfile = (ROOT / "docker" / "serving.Dockerfile").read_text()
    assert f"/{container['livenessProbe']['httpGet']['path'].strip('/')}'" in dockerfile


def test_registry_is_read_only_for_serving_and_writable_for_training(compose_services):
    def mount(service):
        container = workload(service)["containers"][0]
        return next(m for m in container["volumeMounts"] if m["mountPath"] == "/registry")

    def compose_read_only(service):
        volume = next(v for v in compose_services[service]["volumes"] if v["target"] == "/registry")
        return bool(volume.get("read_only"))

    assert mount("serving").get("readOnly") is True is compose_read_only("serving")
    assert mount("training").get("readOnly", False) is False is compose_read_only("training")
    claim = next(doc for _, doc in documents() if doc["kind"] == "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_only_training_holds_the_signing_key_and_both_read_the_trusted_keys(compose_services):
    def mounts(service):
        container = workload(service)["containers"][0]
        return {m["mountPath"]: m for m in container["volumeMounts"]}

    def compose_targets(service):
        return {v["target"]: v for v in compose_services[service]["volumes"]}

    for service in ("training", "serving"):
        assert ("/signing" in mounts(service)) is ("/signing" in compose_targets(service))
        assert mounts(service)["/trusted-keys"]["readOnly"] is True
    assert "/signing" in mounts("training") and "/signing" not in mounts("serving")
    assert compose_targets("serving")["/trusted-keys"].get("read_only") is True
    secret = next(v for v in workload("training")["volumes"] if v["name"] == "signing-key")
    assert secret["secret"]["secretName"] == "model-signing-key"
    assert not any("secret" in v for v in workload("serving")["volumes"])


def test_network_policies_mirror_the_compose_networks():
    policies = {
        doc["metadata"]["name"]: doc["spec"]
        for _, doc in documents()
        if doc["kind"] == "NetworkPolicy"
    }
    deny = policies["default-deny"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    serving = policies["serving-from-proxy"]
    sources = serving["ingress"][0]["from"]
    assert sources == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "proxy"}}}]
    # Nothing else may open training or serving: no other policy selects them but the
    # one letting Prometheus scrape serving (test_prometheus_in_monitoring_may_scrape...).
    selected = [
        spec["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for name, spec in policies.items()
        if name != "default-deny"
    ]
    assert "training" not in selected and selected.count("serving") == 2


def _pod_template(name: str) -> dict:
    """The pod template of the Deployment called name."""
    for _, doc in documents():
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == name:
            return doc["spec"]["template"]
    raise AssertionError(f"no Deployment {name}")


def test_serving_pods_ask_prometheus_to_scrape_them_where_compose_does():
    annotations = _pod_template("serving")["metadata"]["annotations"]
    scrape = {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")}
    # Annotation values are strings to the API (an unquoted true or 8080 is refused).
    assert all(isinstance(value, str) for value in scrape.values()), scrape
    observe = yaml.safe_load((ROOT / "observe" / "prometheus.yml").read_text())
    (job,) = observe["scrape_configs"]
    port = workload("serving")["containers"][0]["ports"][0]["containerPort"]
    assert scrape == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": job["metrics_path"],
    }
    assert job["dns_sd_configs"][0]["port"] == port == 8080


def test_prometheus_in_monitoring_may_scrape_serving_and_nothing_else():
    policies = [doc for _, doc in documents() if doc["kind"] == "NetworkPolicy"]
    (policy,) = [p for p in policies if p["metadata"]["name"] == "serving-metrics-from-monitoring"]
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "serving"}}
    assert spec["policyTypes"] == ["Ingress"] and "egress" not in spec
    (rule,) = spec["ingress"]
    # One element holding both selectors: the namespace AND the pods (two elements would
    # be either: any pod of monitoring, or any Prometheus pod of any namespace).
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    annotations = _pod_template("serving")["metadata"]["annotations"]
    assert rule["ports"] == [{"port": int(annotations["prometheus.io/port"]), "protocol": "TCP"}]


def test_serving_has_a_pdb_and_an_autoscaler():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in documents()}
    assert {("PodDisruptionBudget", "serving"), ("HorizontalPodAutoscaler", "serving")} <= kinds
    assert (
        workload("serving")
        and next(
            doc
            for _, doc in documents()
            if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "serving"
        )["spec"]["replicas"]
        == 2
    )
