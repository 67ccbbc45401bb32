"""deploy.sh and the environment file: what it refuses (naming the variable, before any change) and what it runs.

A recording stand-in for helm and kubectl shows which commands a real setup, upgrade or cleanup would run and
that a refused file runs none; the renders themselves go through the pinned helm.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.render import CHART, GUEST, HOST, EnvFiles, Manifest, deploy


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[Path, Path]:
    """A helm and a kubectl that only append their arguments to a log; returns (helm, log)."""
    log = tmp_path / "calls.log"
    for tool in ("helm", "kubectl"):
        script = tmp_path / "bin" / tool
        script.parent.mkdir(exist_ok=True)
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\n')
        script.chmod(0o755)
    return tmp_path / "bin" / "helm", log


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


BAD = [
    ({"PARTY_ID": None}, "PARTY_ID is not set"),
    ({"PARTY_ID": "Party 1"}, "PARTY_ID=Party 1 is malformed"),
    ({"DOMAIN": "fl bank"}, "DOMAIN=fl bank is malformed"),
    ({"DOMAIN": "10.1.2.3"}, "DOMAIN=10.1.2.3 is an IP address"),
    ({"INTERNAL_MQ_HOST": None}, "INTERNAL_MQ_HOST is not set"),
    ({"INTERNAL_MQ_TCP_PORT": "ninety"}, "INTERNAL_MQ_TCP_PORT=ninety is malformed"),
    ({"EXPOSE_MQ_TCP_PORT": "9093"}, "EXPOSE_MQ_TCP_PORT=9093 is out of range"),
    ({"EXPOSE_MQ_HTTP_PORT": "30091"}, "EXPOSE_MQ_HTTP_PORT must differ from EXPOSE_MQ_TCP_PORT"),
    ({"DISABLED_COMPONENTS": "kafka,mysql"}, "DISABLED_COMPONENTS names 'mysql'"),
    ({"OTHER_PARTIES": None}, "OTHER_PARTIES is not set"),
    ({"OTHER_PARTIES": "10000"}, "OTHER_PARTIES names this party (10000)"),
    ({"OTHER_PARTIES": "20000,30000"}, "PARTY_MQ_PROXY_URL_30000 is not set"),
    ({"PARTY_MQ_PROXY_URL_20000": None}, "PARTY_MQ_PROXY_URL_20000 is not set"),
    ({"PARTY_MQ_PROXY_URL_20000": "fl.partner.example"}, "PARTY_MQ_PROXY_URL_20000=fl.partner.example is malformed"),
    ({"PARTY_MQ_HTTP_URL_20000": "fl.partner.example"}, "PARTY_MQ_HTTP_URL_20000=fl.partner.example is malformed"),
    ({"PARTY_ROLE": "leader"}, "PARTY_ROLE=leader is malformed"),
    ({"PARTY_PUBLIC_KEY_20000": "/nonexistent/20000.pub"}, "PARTY_PUBLIC_KEY_20000=/nonexistent/20000.pub: cannot read"),
    ({"PARTY_MQ_PASSWORD_FILE_20000": "/nonexistent/pw"}, "PARTY_MQ_PASSWORD_FILE_20000=/nonexistent/pw: cannot read"),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[next(iter(o)) + "=" + str(next(iter(o.values()))) for o, _ in BAD])
def test_a_missing_or_malformed_variable_stops_setup_before_any_change(
    env_files: EnvFiles, recorder: tuple[Path, Path], override: dict, message: str
) -> None:
    helm, log = recorder
    path = env_files.write("bad.sh", env_files.seed(GUEST, **override))
    for action in ("setup", "upgrade"):
        done = deploy(helm, action, path, "--yes", check=False)
        assert done.returncode == 1, done.stderr
        assert message in done.stderr, done.stderr
    assert calls(log) == []


def test_a_public_key_file_must_hold_a_pem_key(env_files: EnvFiles, recorder: tuple[Path, Path], tmp_path: Path) -> None:
    helm, log = recorder
    wrong = tmp_path / "20000.pub"
    wrong.write_text("ssh-ed25519 AAAA... not a PEM key\n")
    path = env_files.write("bad-key.sh", env_files.seed(GUEST, PARTY_PUBLIC_KEY_20000=str(wrong)))
    done = deploy(helm, "setup", path, check=False)
    assert done.returncode == 1 and "PARTY_PUBLIC_KEY_20000" in done.stderr and "no PEM public key" in done.stderr
    assert calls(log) == []


def test_the_callers_environment_does_not_fill_a_missing_variable(env_files: EnvFiles, recorder: tuple[Path, Path]) -> None:
    helm, log = recorder
    path = env_files.write("no-domain.sh", env_files.seed(GUEST, DOMAIN=None))
    done = deploy(helm, "setup", path, check=False, extra_env={"DOMAIN": "fl.from-the-shell.example"})
    assert done.returncode == 1 and "DOMAIN is not set" in done.stderr
    assert calls(log) == []


def test_an_unreadable_env_file_is_refused(recorder: tuple[Path, Path], tmp_path: Path) -> None:
    helm, log = recorder
    done = deploy(helm, "setup", tmp_path / "missing.sh", check=False)
    assert done.returncode == 1 and "cannot read the environment file" in done.stderr
    assert calls(log) == []


def test_setup_upgrade_and_cleanup_run_helm_in_the_partys_namespace(env_files: EnvFiles, recorder: tuple[Path, Path]) -> None:
    helm, log = recorder
    path = env_files.write("powerfl-20000.sh", env_files.seed(HOST))
    deploy(helm, "setup", path)
    deploy(helm, "upgrade", path)
    done = deploy(helm, "cleanup", path, check=False)  # no terminal, no --yes: the answer is no
    assert done.returncode == 1 and "nothing deleted" in done.stderr
    deploy(helm, "cleanup", path, "--yes")
    setup, upgrade, uninstall, delete = calls(log)
    assert setup.startswith(
        f"helm upgrade --install --create-namespace powerfl {CHART} --namespace power-fl-20000 --timeout 20m "
    )
    assert upgrade.startswith(f"helm upgrade powerfl {CHART} --namespace power-fl-20000 --timeout 20m ")
    assert "--set-file parties.10000.saslPassword=" in setup  # read by helm from the file, never on the command line
    assert "kafka-password-of" not in setup
    assert uninstall == "helm uninstall powerfl --namespace power-fl-20000 --ignore-not-found"
    assert delete == "kubectl delete namespace power-fl-20000 --ignore-not-found --wait=true"


def test_cleanup_dry_run_only_says_what_it_would_delete(env_files: EnvFiles, recorder: tuple[Path, Path]) -> None:
    helm, log = recorder
    path = env_files.write("powerfl-10000.sh", env_files.seed(GUEST))
    done = deploy(helm, "cleanup", path, "--dry-run")
    assert "would uninstall release powerfl and delete namespace power-fl-10000" in done.stderr
    assert calls(log) == []


def test_seed_variables_alone_install_a_party_and_say_what_is_left(helm: Path, env_files: EnvFiles) -> None:
    """The seed's file as it is: the variables without a counterpart here are accepted and explained."""
    seed_only = env_files.seed(
        GUEST,
        PARTY_ROLE=None,
        PARTY_ROLE_20000=None,
        PARTY_PUBLIC_KEY_20000=None,
        PARTY_MQ_CA_20000=None,
        PARTY_MQ_PASSWORD_FILE_20000=None,
    )
    done = deploy(helm, "setup", env_files.write("seed-10000.sh", seed_only), "--dry-run")
    for said in (
        "EXPOSE_MQ_HTTP_PORT=30081: Kafka has no HTTP port",
        "PARTY_MQ_HTTP_URL_20000: Kafka has no HTTP admin endpoint",
        "PARTY_ROLE is not set",
        "PARTY_PUBLIC_KEY_20000 is not set: party 20000 stays out of the registry",
        "PARTY_MQ_PASSWORD_FILE_20000 is not set",
    ):
        assert said in done.stderr, done.stderr
    manifest = Manifest.parse(done.stdout)
    assert "20000" not in manifest.get("ConfigMap", "powerfl-registry")["data"]["parties.yaml"]
    assert "fl-20000" in manifest.get("Secret", "powerfl-kafka-users")["data"]  # its login here exists already


def test_disabled_components_render_no_objects(helm: Path, env_files: EnvFiles, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("database:\n  external:\n    secretName: airflow-db\n")
    env = env_files.seed(
        GUEST,
        DISABLED_COMPONENTS="kafka,postgresql,triggerer,dashboard",
        INTERNAL_MQ_HOST="kafka.bank.internal",
        INTERNAL_MQ_TCP_PORT="9094",
        VALUES_FILE=str(values),
    )
    manifest = Manifest.parse(deploy(helm, "setup", env_files.write("disabled.sh", env), "--dry-run").stdout)
    kinds_names = manifest.names()
    for gone in ("kafka", "postgresql", "triggerer", "kafka-users", "kafka-tls", "kafka-external"):
        assert not [name for name in kinds_names if name.endswith(f"/powerfl-{gone}")], kinds_names
    paths = [p["path"] for i in manifest.of_kind("Ingress") for p in i["spec"]["rules"][0]["http"]["paths"]]
    assert "/" not in paths and "/pipelines" in paths and "/(flow-server)(/|$)(.*)" in paths
    assert "kafka.bank.internal:9094" in manifest.get("ConfigMap", "powerfl-registry")["data"]["parties.yaml"]
    scheduler = manifest.get("Deployment", "powerfl-scheduler")["spec"]["template"]["spec"]["containers"][0]
    db = next(e for e in scheduler["env"] if e["name"] == "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    assert db["valueFrom"]["secretKeyRef"] == {"name": "airflow-db", "key": "sql_alchemy_conn"}

    env["DISABLED_COMPONENTS"] = "flow-server"
    manifest = Manifest.parse(deploy(helm, "setup", env_files.write("no-flow-server.sh", env), "--dry-run").stdout)
    paths = [p["path"] for i in manifest.of_kind("Ingress") for p in i["spec"]["rules"][0]["http"]["paths"]]
    assert "/(flow-server)(/|$)(.*)" not in paths and "/(auth)(/|$)(.*)" in paths and "/" in paths
    env["DISABLED_COMPONENTS"] = "ingress"
    manifest = Manifest.parse(deploy(helm, "setup", env_files.write("no-ingress.sh", env), "--dry-run").stdout)
    assert manifest.of_kind("Ingress") == []


def test_an_external_database_is_required_without_postgresql(helm: Path, env_files: EnvFiles) -> None:
    path = env_files.write("no-db.sh", env_files.seed(GUEST, DISABLED_COMPONENTS="postgresql"))
    done = deploy(helm, "setup", path, "--dry-run", check=False)
    assert done.returncode != 0 and "database.external.secretName" in done.stderr


def test_optional_files_fill_the_hadoop_and_pipelines_config_maps(helm: Path, env_files: EnvFiles, tmp_path: Path) -> None:
    hadoop, pipelines = tmp_path / "hadoop", tmp_path / "pipelines"
    for folder in (hadoop, pipelines):
        folder.mkdir()
    (hadoop / "core-site.xml").write_text("<configuration><property><name>fs.defaultFS</name></property></configuration>\n")
    (hadoop / "yarn-site.xml").write_text("<configuration/>\n")
    (pipelines / "credit.yaml").write_text("dag_id: powerfl_pipeline_credit\n")
    env = env_files.seed(
        GUEST,
        HADOOP_CONF_FILES=f"{hadoop}/core-site.xml {hadoop}/yarn-site.xml",
        PIPELINES_DIR=str(pipelines),
        KEYS_SECRET="powerfl-keys-2026",
    )
    manifest = Manifest.parse(deploy(helm, "setup", env_files.write("files.sh", env), "--dry-run").stdout)
    assert manifest.get("ConfigMap", "hadoop")["data"] == {p.name: p.read_text() for p in hadoop.iterdir()}
    assert manifest.get("ConfigMap", "powerfl-pipelines")["data"] == {"credit.yaml": "dag_id: powerfl_pipeline_credit\n"}
    assert not manifest.has("Secret", "powerfl-keys")  # the operator's own key, kept outside the release
    volumes = manifest.get("Deployment", "powerfl-scheduler")["spec"]["template"]["spec"]["volumes"]
    assert next(v for v in volumes if v["name"] == "keys")["secret"]["secretName"] == "powerfl-keys-2026"
