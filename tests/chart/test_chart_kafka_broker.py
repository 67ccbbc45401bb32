"""The chart's broker and registry for real: party 10000's Kafka started from its rendered files, party 20000 producing
to it through the registry its rendered init container writes.

From ``deploy.sh --dry-run`` of each party: the guest's server.properties, users and TLS Secrets and kafka-start.sh
(paths moved under a temporary root, the project's Kafka jars as the image's) start a KRaft broker; the host's
registry ConfigMap, partner Secret and keys go through files/render_registry.py as in its Airflow pods. The host
then produces over SASL_SSL with its registry entry for the guest (the guest's generated CA, the login the guest's
chart made for it), and the guest reads the record back on its internal listener.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from airflow_provider_powerfl.federation.registry import PartyRegistry
from tests.chart.render import CHART, GUEST, HOST, REPO, EnvFiles, Manifest, deploy

TOPIC = "powerfl-chart-test"


def free_port(low: int = 20000, high: int = 60000) -> int:
    while True:
        port = random.randint(low, high)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def data(manifest: Manifest, kind: str, name: str) -> dict[str, str]:
    items = manifest.get(kind, name)["data"]
    return {key: base64.b64decode(value).decode() for key, value in items.items()} if kind == "Secret" else items


def moved(text: str, root: Path) -> str:
    """The pod's paths under ``root``."""
    for path in ("/etc/kafka", "/var/run/kafka", "/var/lib/kafka", "/etc/powerfl"):
        text = text.replace(path, f"{root}{path}")
    return text


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class Broker(NamedTuple):
    manifest: Manifest
    internal: int  # port of the INTERNAL listener
    external: int  # port of the EXTERNAL (SASL_SSL) listener
    log: Path


@pytest.fixture(scope="module")
def guest_broker(
    helm: Path, env_files: EnvFiles, kafka_brokers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    """The guest's broker started from its render; kafka_brokers has fetched the project's Kafka jars."""
    root = tmp_path_factory.mktemp("guest-pod")
    internal, external, controller = free_port(), free_port(30000, 32767), free_port()
    # locally the NodePort is the listener's own port (the advertised DOMAIN:nodePort must reach it)
    # C1 only: half the JVM's start-up CPU (scripts/kafka's choice for test brokers)
    kafka = {
        "controllerPort": controller,
        "heap": "256m",
        "jvmOptions": "-XX:TieredStopAtLevel=1",
        "external": {"containerPort": external},
    }
    values = write(root / "values.yaml", yaml.safe_dump({"kafka": kafka}))
    env = env_files.seed(
        GUEST,
        DOMAIN="localhost",
        INTERNAL_MQ_HOST="localhost",
        INTERNAL_MQ_TCP_PORT=str(internal),
        EXPOSE_MQ_TCP_PORT=str(external),
        VALUES_FILE=str(values),
    )
    manifest = Manifest.parse(deploy(helm, "setup", env_files.write("broker-10000.sh", env), "--dry-run").stdout)
    write(
        root / "etc/kafka/config/server.properties",
        moved(data(manifest, "ConfigMap", "powerfl-kafka")["server.properties"], root),
    )
    write(root / "etc/kafka/users/sasl.properties", data(manifest, "Secret", "powerfl-kafka-users")["sasl.properties"])
    for name, text in data(manifest, "Secret", "powerfl-kafka-tls").items():
        write(root / "etc/kafka/tls" / name, text)
    script = write(root / "kafka-start.sh", moved(data(manifest, "ConfigMap", "powerfl-scripts")["kafka-start.sh"], root))
    (root / "var/run/kafka").mkdir(parents=True)
    (root / "var/lib/kafka/data").mkdir(parents=True)
    home = root / "kafka-home"
    home.mkdir()
    (home / "libs").symlink_to(REPO / ".cache" / "kafka" / "libs")
    write(home / "log4j2.xml", LOG4J)
    log = (root / "kafka.log").open("w")
    container = manifest.get("StatefulSet", "powerfl-kafka")["spec"]["template"]["spec"]["containers"][0]
    env = {**os.environ, **{e["name"]: e["value"] for e in container["env"]}, "KAFKA_HOME": str(home)}
    process = subprocess.Popen(["sh", script], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield Broker(manifest, internal, external, root / "kafka.log")
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


LOG4J = """<Configuration status="warn"><Appenders><Console name="out" target="SYSTEM_OUT">
<PatternLayout pattern="%d %p %c{1} %m%n"/></Console></Appenders>
<Loggers><Logger name="org.apache.kafka.common.network.Selector" level="info"/>
<Root level="warn"><AppenderRef ref="out"/></Root></Loggers></Configuration>
"""


@pytest.fixture(scope="module")
def host_registry(
    helm: Path, env_files: EnvFiles, guest_broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> PartyRegistry:
    """The host's registry as its Airflow pods' init container writes it, the guest's files exchanged as in the docs."""
    guest, external = guest_broker.manifest, guest_broker.external
    root = tmp_path_factory.mktemp("host-pod")
    ca = write(root / "from-10000" / "10000-ca.pem", data(guest, "Secret", "powerfl-kafka-tls")["ca.crt"])
    env = env_files.seed(HOST, PARTY_MQ_PROXY_URL_10000=f"localhost:{external}", PARTY_MQ_CA_10000=str(ca))
    host = Manifest.parse(deploy(helm, "setup", env_files.write("registry-20000.sh", env), "--dry-run").stdout)
    etc = root / "etc/powerfl"
    write(etc / "registry-template/parties.yaml", moved(data(host, "ConfigMap", "powerfl-registry")["parties.yaml"], root))
    partners = data(host, "Secret", "powerfl-partners")
    # what `deploy.sh setup` (not --dry-run) stores from PARTY_MQ_PASSWORD_FILE_10000: the guest's password for fl-20000
    partners["10000.sasl_plain_password"] = data(guest, "Secret", "powerfl-kafka-users")["fl-20000"]
    for name, text in partners.items():
        write(etc / "kafka" / name, text)
    write(etc / "keys/private.pem", data(host, "Secret", "powerfl-keys")["private.pem"])
    for name, text in data(host, "ConfigMap", "powerfl-public-keys").items():
        write(etc / "public-keys" / name, text)
    spec = importlib.util.spec_from_file_location("render_registry", CHART / "files" / "render_registry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.TEMPLATE = etc / "registry-template/parties.yaml"
    module.PARTNER_SECRETS, module.PRIVATE_KEY, module.OUT = etc / "kafka", etc / "keys/private.pem", etc / "registry"
    os.environ["POWERFL_PARTY_ID"] = HOST.id
    try:
        assert module.main() == 0
    finally:
        del os.environ["POWERFL_PARTY_ID"]
    assert oct((etc / "registry/parties.yaml").stat().st_mode & 0o777) == "0o600"
    return PartyRegistry.from_yaml(etc / "registry/parties.yaml")


def produce(config: dict, deadline: float) -> None:
    """One record into the guest's broker, retrying while it starts."""
    while True:
        try:
            producer = KafkaProducer(**config, acks="all", max_block_ms=10_000, request_timeout_ms=10_000)
            producer.send(TOPIC, b"from 20000").get(timeout=20)
            producer.close()
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def test_the_host_produces_to_the_guests_chart_broker_through_its_registry(
    host_registry: PartyRegistry, guest_broker: Broker
) -> None:
    internal, external = guest_broker.internal, guest_broker.external
    entry = host_registry.get(GUEST.id)
    config = entry.kafka_config()
    assert config["bootstrap_servers"] == [f"localhost:{external}"]
    assert config["security_protocol"] == "SASL_SSL" and config["sasl_plain_username"] == "fl-20000"
    produce(config, time.monotonic() + 120)
    consumer = KafkaConsumer(
        TOPIC, bootstrap_servers=f"localhost:{internal}", auto_offset_reset="earliest", consumer_timeout_ms=30_000
    )
    assert next(consumer).value == b"from 20000"
    consumer.close()
    with pytest.raises(KafkaError):  # the listener refuses a wrong password
        KafkaProducer(**{**config, "sasl_plain_password": "not-it"}, bootstrap_timeout_ms=5_000)
    assert "Failed authentication with" in guest_broker.log.read_text()
    host_registry.get(HOST.id).verify_key()  # the host's own public key, derived from its Secret by the init container
