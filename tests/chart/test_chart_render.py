"""The two parties' manifests and their cross references: brokers, secrets, mounts, ingress, images."""

from __future__ import annotations

import base64
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.chart.render import GUEST, HOST, PARTNER, REPO, Manifest

AIRFLOW = ("api-server", "scheduler", "dag-processor", "triggerer")


def kafka_properties(manifest: Manifest) -> dict[str, str]:
    text = manifest.get("ConfigMap", "powerfl-kafka")["data"]["server.properties"]
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def registry(manifest: Manifest) -> dict:
    return yaml.safe_load(manifest.get("ConfigMap", "powerfl-registry")["data"]["parties.yaml"])["parties"]


def secret_data(manifest: Manifest, name: str) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in manifest.get("Secret", name)["data"].items()}


def pod_specs(manifest: Manifest) -> dict[str, dict]:
    """Every pod template by its owner, the KubernetesExecutor worker's (in a ConfigMap) included."""
    pods = {}
    for obj in manifest.objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            pods[f"{obj['kind']}/{obj['metadata']['name']}"] = obj["spec"]["template"]["spec"]
    scripts = manifest.get("ConfigMap", "powerfl-scripts")["data"]
    if "pod-template.yaml" in scripts:
        pods["pod-template"] = yaml.safe_load(scripts["pod-template.yaml"])["spec"]
    return pods


def containers(spec: dict) -> list[dict]:
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("party", [GUEST, HOST], ids=["guest", "host"])
def test_one_release_holds_the_whole_party(rendered: dict[str, Manifest], party) -> None:
    manifest = rendered[party.id]
    for name in AIRFLOW:
        assert manifest.has("Deployment", f"powerfl-{name}")
    for kind, name in [
        ("StatefulSet", "powerfl-kafka"),
        ("StatefulSet", "powerfl-postgresql"),
        ("Job", "powerfl-db-migrate"),
        ("Secret", "powerfl-keys"),
        ("Secret", "powerfl-kafka-users"),
        ("Secret", "powerfl-kafka-tls"),
        ("ConfigMap", "powerfl-pipelines"),
        ("ConfigMap", "hadoop"),
        ("Ingress", "powerfl"),
        ("Ingress", "powerfl-api"),
        ("Role", "powerfl-airflow"),
    ]:
        assert manifest.has(kind, name), f"{kind}/{name} missing: {manifest.names()}"
    env = {e["name"]: e.get("value") for e in pod_specs(manifest)["Deployment/powerfl-scheduler"]["containers"][0]["env"]}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    connection = yaml.safe_load(env["AIRFLOW_CONN_POWERFL_DEFAULT"])
    assert connection["extra"]["party_id"] == party.id and connection["extra"]["role"] == party.role


@pytest.mark.parametrize("party", [GUEST, HOST], ids=["guest", "host"])
def test_each_registry_points_at_the_others_exposed_broker(rendered: dict[str, Manifest], party) -> None:
    mine, theirs = rendered[party.id], rendered[PARTNER[party.id].id]
    partner = PARTNER[party.id]
    entry = registry(mine)[partner.id]
    # the partner's broker advertises this address on its SASL_SSL listener, behind a NodePort of that port
    advertised = dict(item.split("://") for item in kafka_properties(theirs)["advertised.listeners"].split(","))
    assert entry["bootstrap_servers"] == advertised["EXTERNAL"] == partner.exposed_broker
    node_port = theirs.get("Service", "powerfl-kafka-external")["spec"]
    assert node_port["type"] == "NodePort" and node_port["ports"][0]["nodePort"] == partner.node_port
    props = kafka_properties(theirs)
    assert "EXTERNAL:SASL_SSL" in props["listener.security.protocol.map"]
    assert entry["security"]["security_protocol"] == "SASL_SSL"
    assert entry["security"]["sasl_mechanism"] == props["listener.name.external.sasl.enabled.mechanisms"]
    # this party logs in there as the user the partner's broker made for it
    assert entry["security"]["sasl_username"] == f"fl-{party.id}"
    assert f"fl-{party.id}" in secret_data(theirs, "powerfl-kafka-users")
    # the partner's CA and this party's password are files of the Secret powerfl-partners, mounted where the entry says
    partners = secret_data(mine, "powerfl-partners")
    assert entry["security"]["ssl_cafile"] == f"/etc/powerfl/kafka/{partner.id}.ca.pem"
    assert f"{partner.id}.ca.pem" in partners and f"{partner.id}.sasl_plain_password" in partners
    assert "sasl_password" not in entry["security"]
    public = mine.get("ConfigMap", "powerfl-public-keys")["data"][f"{partner.id}.pub"]
    assert entry["public_key"] == f"/etc/powerfl/public-keys/{partner.id}.pub" and "BEGIN PUBLIC KEY" in public
    # its own entry: its own broker through the internal listener, the one its pods reach
    own = registry(mine)[party.id]
    service = mine.get("Service", "powerfl-kafka")["spec"]["ports"][0]
    assert own["bootstrap_servers"] == f"powerfl-kafka.{party.namespace}.svc.cluster.local:{service['port']}"
    assert advertised_internal(mine) == own["bootstrap_servers"]
    policy = yaml.safe_load(mine.get("ConfigMap", "powerfl-policy")["data"]["policy.yaml"])
    assert policy["allowed_parties"] == [partner.id]


def advertised_internal(manifest: Manifest) -> str:
    listeners = dict(item.split("://") for item in kafka_properties(manifest)["advertised.listeners"].split(","))
    return listeners["INTERNAL"]


def secret_values(manifest: Manifest) -> set[str]:
    """Every secret the render holds: generated passwords and keys, and the partners' Kafka passwords."""
    values = set()
    for secret in manifest.of_kind("Secret"):
        for key, value in secret_data(manifest, secret["metadata"]["name"]).items():
            if key.endswith((".crt", "ca.pem", ".json", "sql_alchemy_conn", "sasl.properties")):
                continue  # certificates are public; the rest repeat the passwords collected here
            if "PRIVATE KEY" in value:
                values.update(line for line in value.splitlines() if line and "-----" not in line)
            else:
                values.add(value)
    return {value for value in values if len(value) >= 8}


@pytest.mark.parametrize("party", [GUEST, HOST], ids=["guest", "host"])
def test_keys_and_passwords_are_only_in_secrets(rendered: dict[str, Manifest], party) -> None:
    manifest = rendered[party.id]
    secrets = secret_values(manifest)
    assert len(secrets) >= 8, secrets  # keys, Airflow's five, the users of the partner, the partner's password
    for obj in manifest.objects:
        if obj["kind"] == "Secret":
            continue
        text = yaml.safe_dump(obj)
        for value in secrets:
            assert value not in text, f"a secret of {obj['kind']}/{obj['metadata']['name']} is in the open"
    # --dry-run does not read the partner's password file at all
    password = (PARTNER[party.id].id, "kafka-password-of-")
    assert not any(password[1] in yaml.safe_dump(obj) for obj in manifest.objects)
    for owner, spec in pod_specs(manifest).items():
        for container in containers(spec):
            for env in container.get("env", []):
                if re.search(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$", env["name"]) and "value" in env:
                    assert env["value"].startswith("/"), f"{owner} {container['name']}: {env['name']} is a literal"
            line = " ".join([*container.get("command", []), *container.get("args", [])])
            assert not any(value in line for value in secrets), f"{owner} {container['name']}: a secret on its command line"


@pytest.mark.parametrize("party", [GUEST, HOST], ids=["guest", "host"])
def test_every_reference_resolves(rendered: dict[str, Manifest], party) -> None:
    manifest = rendered[party.id]
    for owner, spec in pod_specs(manifest).items():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for volume in volumes.values():
            if "configMap" in volume:
                assert manifest.has("ConfigMap", volume["configMap"]["name"]), (owner, volume)
            if "secret" in volume:
                secret = manifest.get("Secret", volume["secret"]["secretName"])
                for item in volume["secret"].get("items", []):
                    assert item["key"] in secret["data"], (owner, volume)
            if "persistentVolumeClaim" in volume:
                assert manifest.has("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]), (owner, volume)
        for container in containers(spec):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes or mount["name"] in claim_templates(manifest, owner), (owner, mount)
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in manifest.get("Secret", ref["name"])["data"], (owner, env["name"])
        account = spec.get("serviceAccountName")
        if account:
            assert manifest.has("ServiceAccount", account)
    for service in manifest.of_kind("Service"):
        selector = service["spec"]["selector"].items()
        assert any(selector <= pod_labels(obj).items() for obj in manifest.objects if "template" in obj.get("spec", {})), service


def claim_templates(manifest: Manifest, owner: str) -> set[str]:
    kind, name = owner.split("/", 1) if "/" in owner else ("", owner)
    if kind != "StatefulSet":
        return set()
    return {t["metadata"]["name"] for t in manifest.get(kind, name)["spec"]["volumeClaimTemplates"]}


def pod_labels(obj: dict) -> dict:
    return obj["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("party", [GUEST, HOST], ids=["guest", "host"])
def test_ingress_serves_dashboard_airflow_and_rest_api_on_the_domain(rendered: dict[str, Manifest], party) -> None:
    manifest = rendered[party.id]
    routes = {}
    for ingress in manifest.of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] == party.domain
            for path in rule["http"]["paths"]:
                routes[path["path"]] = (ingress, path["backend"]["service"])
    assert set(routes) == {"/", "/pipelines", "/(auth)(/|$)(.*)", "/(flow-server)(/|$)(.*)"}
    service = manifest.get("Service", "powerfl-api-server")
    for _, backend in routes.values():
        assert backend["name"] == "powerfl-api-server"
        assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
    # everything is the api-server under /pipelines: / opens the plugin's dashboard, /flow-server is its REST API
    # and /auth/token Airflow's token, for the seed's curl calls (docs/flow_server.md)
    root, _ = routes["/"]
    assert root["metadata"]["annotations"]["nginx.ingress.kubernetes.io/app-root"] == "/pipelines/powerfl/"
    api, _ = routes["/(flow-server)(/|$)(.*)"]
    assert api["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"] == "/pipelines/$1/$3"
    assert routes["/(auth)(/|$)(.*)"][0] is api
    server = pod_specs(manifest)["Deployment/powerfl-api-server"]["containers"][0]
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["AIRFLOW__API__BASE_URL"] == f"http://{party.domain}/pipelines"
    assert server["readinessProbe"]["httpGet"]["path"].startswith("/pipelines/")


@pytest.mark.parametrize("party", [GUEST, HOST], ids=["guest", "host"])
def test_airflow_pods_mount_the_party_files(rendered: dict[str, Manifest], party) -> None:
    manifest = rendered[party.id]
    pipelines = manifest.get("ConfigMap", "powerfl-pipelines")["data"]
    assert set(pipelines) == {path.name for path in (REPO / "dags" / "pipelines").glob("*.yaml")}
    for name in AIRFLOW:
        spec = pod_specs(manifest)[f"Deployment/powerfl-{name}"]
        main = spec["containers"][0]
        mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes[mounts["/etc/hadoop/conf"]]["configMap"]["name"] == "hadoop"
        assert volumes[mounts["/etc/powerfl/keys"]]["secret"]["secretName"] == "powerfl-keys"
        assert volumes[mounts["/etc/powerfl/kafka"]]["secret"]["secretName"] == "powerfl-partners"
        assert mounts["/var/lib/powerfl/pipelines"] == "pipelines"
        env = {e["name"]: e.get("value") for e in main["env"]}
        assert env["HADOOP_CONF_DIR"] == "/etc/hadoop/conf"
        assert env["POWERFL_PIPELINES_DIR"] == "/var/lib/powerfl/pipelines"
        assert spec["serviceAccountName"] == "powerfl-airflow"
        assert main["resources"]["requests"] and main["resources"]["limits"]["memory"]
        assert "livenessProbe" in main and ("readinessProbe" in main or "startupProbe" in main)
    binding = manifest.get("RoleBinding", "powerfl-airflow")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "powerfl-airflow", "namespace": party.namespace}]
    rules = {
        resource: set(rule["verbs"])
        for rule in manifest.get("Role", "powerfl-airflow")["rules"]
        for resource in rule["resources"]
    }
    assert {"create", "get", "list", "watch", "delete"} <= rules["pods"] and "get" in rules["pods/log"]


def test_images_are_the_ones_docker_build_tags(rendered: dict[str, Manifest]) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    kafka = re.search(r"<kafka.version>(.+)</kafka.version>", (REPO / "kafka" / "pom.xml").read_text()).group(1)
    build = (REPO / "docker" / "build").read_text()
    assert '"powerfl/runtime:$version"' in build and '"powerfl/kafka:$version"' in build
    images = {c["image"] for spec in pod_specs(rendered[GUEST.id]).values() for c in containers(spec)}
    assert images >= {f"powerfl/runtime:{version}", f"powerfl/kafka:{kafka}"}
    assert yaml.safe_load(Path(REPO / "charts" / "powerfl" / "Chart.yaml").read_text())["appVersion"] == version


@pytest.mark.parametrize("party", [GUEST, HOST], ids=["guest", "host"])
def test_only_the_partys_own_pods_reach_the_plaintext_listener(rendered: dict[str, Manifest], party) -> None:
    manifest = rendered[party.id]
    policy = manifest.get("NetworkPolicy", "powerfl-kafka")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels(manifest.get("StatefulSet", "powerfl-kafka")).items()
    internal, external = policy["ingress"]
    assert internal["ports"] == [{"port": "internal", "protocol": "TCP"}]
    assert internal["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": party.namespace}}}]
    assert external == {"ports": [{"port": "external", "protocol": "TCP"}]}  # partners come in through the NodePort


def connection_of(manifest: Manifest) -> dict:
    env = {e["name"]: e.get("value") for e in pod_specs(manifest)["Deployment/powerfl-scheduler"]["containers"][0]["env"]}
    return yaml.safe_load(env["AIRFLOW_CONN_POWERFL_DEFAULT"])


@pytest.mark.parametrize("party", [GUEST, HOST], ids=["guest", "host"])
def test_the_connection_holds_the_partys_own_step_pod_settings(rendered: dict[str, Manifest], party) -> None:
    """An invited run's step pods take them from here (a job conf cannot change them): this release's namespace,
    its ServiceAccount, image and Secrets, each of which the release renders."""
    from airflow.sdk import Connection

    from airflow_provider_powerfl.hooks.party import PartyConnection

    manifest = rendered[party.id]
    conn = connection_of(manifest)
    pods = conn["extra"]["kubernetes"]
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert pods["namespace"] == party.namespace and pods["service_account"] == "powerfl-airflow"
    assert pods["image"] == f"powerfl/runtime:{version}"
    for kind, name in (("ServiceAccount", pods["service_account"]), ("Secret", pods["keys_secret"]),
                       ("Secret", pods["kafka_secret"]), ("ConfigMap", pods["hadoop_config_map"])):  # fmt: skip
        assert manifest.has(kind, name), f"{kind}/{name}"
    without_files = {k: v for k, v in conn["extra"].items() if k != "policy_path"}  # the pod's mounted file
    checked = PartyConnection.from_connection(
        Connection(conn_id="powerfl_default", conn_type=conn["conn_type"], extra=json.dumps(without_files))
    )
    assert checked.kubernetes == pods  # the provider accepts what the chart writes


def test_step_pod_values_reach_the_connection(helm: Path) -> None:
    import subprocess

    from tests.chart.render import CHART

    values = ("party.id=10000,domain=fl.bank.example,airflow.runtime=kubernetes,imagePullSecrets[0].name=registry-login,"
              "airflow.stepPods.resources.requests.cpu=2,airflow.stepPods.envFromSecrets.HADOOP_TOKEN.secret=hadoop-token,"
              "airflow.stepPods.envFromSecrets.HADOOP_TOKEN.key=token")  # fmt: skip
    done = subprocess.run([helm, "template", "powerfl", CHART, "-n", "power-fl-10000", "--set", values],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    pods = connection_of(Manifest.parse(done.stdout))["extra"]["kubernetes"]
    assert pods["namespace"] == "power-fl-10000" and pods["image_pull_secrets"] == ["registry-login"]
    assert pods["resources"] == {"requests": {"cpu": 2}} or pods["resources"] == {"requests": {"cpu": "2"}}
    assert pods["env_from_secrets"] == {"HADOOP_TOKEN": {"secret": "hadoop-token", "key": "token"}}
