"""Every rendered object against the Kubernetes API schema (kubernetes-validate, strict: no unknown field), and
helm lint; for both parties, the KubernetesExecutor variant with scheduling settings, and disabled components."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from tests.chart.render import CHART, GUEST, EnvFiles, Manifest, deploy

# the chart's lowest Kubernetes (Chart.yaml kubeVersion) and the newest the validator knows
VERSIONS = ("1.27", kubernetes_validate.latest_version())


@pytest.fixture(scope="module", autouse=True)
def schemas_read_once() -> Iterator[None]:
    """kubernetes-validate parses a kind's schema files on every call (two thirds of its time): once per file here."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubernetes_validate.utils, "schema_contents", functools.cache(kubernetes_validate.utils.schema_contents))
        yield


def validate_all(manifest: Manifest) -> int:
    count = 0
    for obj in manifest.objects:
        for version in VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
        count += 1
    return count


def test_both_parties_objects_are_valid(rendered: dict[str, Manifest]) -> None:
    for manifest in rendered.values():
        assert validate_all(manifest) >= 25


@pytest.fixture(scope="module")
def variant(helm: Path, env_files: EnvFiles, tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """KubernetesExecutor and the kubernetes runtime, a node selector, tolerations, an ingress class and TLS."""
    values = tmp_path_factory.mktemp("variant") / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "airflow": {"executor": "KubernetesExecutor", "runtime": "kubernetes"},
                "nodeSelector": {"powerfl/pool": "fl"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "fl", "effect": "NoSchedule"}],
                "kafka": {"nodeSelector": {"powerfl/pool": "kafka"}},
                "ingress": {"className": "nginx", "tlsSecret": "fl-bank-tls"},
                "hadoop": {"files": {"core-site.xml": "<configuration/>"}},
            }
        )
    )
    env = env_files.seed(GUEST, VALUES_FILE=str(values))
    return Manifest.parse(deploy(helm, "setup", env_files.write("variant.sh", env), "--dry-run").stdout)


def test_kubernetes_executor_variant_is_valid_and_scheduled_as_asked(variant: Manifest) -> None:
    validate_all(variant)
    template = yaml.safe_load(variant.get("ConfigMap", "powerfl-scripts")["data"]["pod-template.yaml"])
    for version in VERSIONS:
        kubernetes_validate.validate(template, version, strict=True)
    scheduler = variant.get("Deployment", "powerfl-scheduler")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in scheduler["containers"][0]["env"]}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "KubernetesExecutor"
    assert env["AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE"] == GUEST.namespace
    assert env["AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE"] == "/opt/powerfl-chart/pod-template.yaml"
    assert scheduler["nodeSelector"] == template["spec"]["nodeSelector"] == {"powerfl/pool": "fl"}
    assert scheduler["tolerations"][0]["key"] == "dedicated"
    kafka = variant.get("StatefulSet", "powerfl-kafka")["spec"]["template"]["spec"]
    assert kafka["nodeSelector"] == {"powerfl/pool": "kafka"}
    assert variant.get("ConfigMap", "hadoop")["data"] == {"core-site.xml": "<configuration/>"}
    ingress = variant.get("Ingress", "powerfl")["spec"]
    assert ingress["ingressClassName"] == "nginx" and ingress["tls"] == [{"hosts": [GUEST.domain], "secretName": "fl-bank-tls"}]
    base_url = next(e["value"] for e in scheduler["containers"][0]["env"] if e["name"] == "AIRFLOW__API__BASE_URL")
    assert base_url == f"https://{GUEST.domain}/pipelines"


def test_helm_lint_is_clean(helm: Path) -> None:
    done = subprocess.run(
        [helm, "lint", "--strict", CHART, "--set", "party.id=10000,domain=fl.bank.example"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout
