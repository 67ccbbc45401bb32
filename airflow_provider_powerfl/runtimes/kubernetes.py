"""The kubernetes runtime: the step's spark-submit as a pod through KubernetesPodOperator.

The pod gets the runtime image, the task spec in ``POWERFL_TASK_SPEC``
(written to ``spec.json`` in its working directory before spark-submit
runs), Hadoop's configuration from a ConfigMap as ``HADOOP_CONF_DIR``, and
the party's signing key from a Secret, Kafka passwords (if the registry has
any) as files of another Secret, never in the pod's environment, and the object
store's credentials as references to the keys of a third (``aws_secret``). Its arguments are exactly
:func:`~airflow_provider_powerfl.runtimes.command.step_command`'s argv, the
same the local runtime runs.

The settings come in layers (:func:`pod_settings`): the operator's (pipeline)
defaults, then the job conf's ``kubernetes`` mapping at the party that started
the job, then the party's own ``kubernetes`` mapping of its ``powerfl``
connection, which wins: a party's pods run where and as that party says, whoever
started the job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from airflow_provider_powerfl.exceptions import ConfigError
from airflow_provider_powerfl.jobs.contract import EXIT_STEP_ERROR, step_error_in
from airflow_provider_powerfl.jobs.spec import PASSWORD_FIELDS, TaskSpec
from airflow_provider_powerfl.runtimes.command import SPEC_FILE
from airflow_provider_powerfl.runtimes.local import StepFailed

SPEC_ENV = "POWERFL_TASK_SPEC"
# $0 is a name for the shell, "$@" the spark-submit argv given as the container's args.
ENTRYPOINT = f'set -e; mkdir -p "$POWERFL_WORK_DIR"; cd "$POWERFL_WORK_DIR"; printf "%s" "${SPEC_ENV}" > {SPEC_FILE}; exec "$@"'
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_ENV = (SPEC_ENV, "POWERFL_WORK_DIR", "HADOOP_CONF_DIR")
# the object store's credentials (AWS SDK variables, read by s3a): a pod takes them from the ``aws_secret`` Secret,
# under the same keys; the session token is optional there
AWS_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# fields holding the name of a Kubernetes object (a DNS-1123 subdomain); None allowed where the field is optional
_OBJECT_NAMES = {"service_account": True, "keys_secret": False, "kafka_secret": True, "hadoop_config_map": True,
                 "aws_secret": True}  # fmt: skip
_PATHS = ("hadoop_conf_dir", "keys_dir", "work_dir", "kafka_secret_dir")


@dataclass(frozen=True)
class KubernetesSettings:
    """Where and how the step's pod runs; ``pod_options`` go to KubernetesPodOperator unchanged."""

    image: str = "powerfl/runtime:0.1.0"
    namespace: str = "default"
    service_account: str | None = None
    resources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # {"requests": {...}, "limits": {...}}
    hadoop_config_map: str | None = "hadoop"  # None: no Hadoop configuration
    hadoop_conf_dir: str = "/etc/hadoop/conf"
    keys_secret: str = "powerfl-keys"
    keys_secret_key: str = "private.pem"
    keys_dir: str = "/etc/powerfl/keys"
    work_dir: str = "/var/run/powerfl"
    kafka_secret: str | None = None  # Secret with keys "<party id>.sasl_plain_password" / ".ssl_password"
    kafka_secret_dir: str = "/etc/powerfl/kafka"
    aws_secret: str | None = None  # Secret with the object store's credentials under the keys AWS_SECRET_KEYS
    kubernetes_conn_id: str | None = None
    image_pull_secrets: Sequence[str] = ()  # names of docker-registry Secrets for pulling ``image``
    env_from_secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # {ENV: {secret: s, key: k}}
    pod_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_value(cls, value: KubernetesSettings | Mapping[str, Any] | None, where: str = "kubernetes") -> KubernetesSettings:
        if value is None:
            return cls()
        if isinstance(value, KubernetesSettings):
            return value
        return cls().updated(value, where)

    def updated(self, data: Mapping[str, Any] | None, where: str) -> KubernetesSettings:
        """A copy with the fields of ``data`` (e.g. the DAG run conf's ``kubernetes`` mapping) replaced."""
        if not data:
            return self
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping of kubernetes settings")
        known = {f.name for f in fields(self)}
        for key in data:
            if key not in known:
                raise ConfigError(f"{where}.{key}: unknown kubernetes setting (known: {', '.join(sorted(known))})")
            problem = _problem(key, data[key])
            if problem:
                raise ConfigError(f"{where}.{problem}")
        return replace(self, **dict(data))

    @property
    def private_key_path(self) -> str:
        return f"{self.keys_dir.rstrip('/')}/{self.keys_secret_key}"


def pod_settings(
    defaults: KubernetesSettings, job_conf: Mapping[str, Any] | None, party: Mapping[str, Any] | None, conn_id: str = "powerfl"
) -> KubernetesSettings:
    """The step pod's settings: the operator's ``defaults``, the job conf's ``kubernetes`` mapping (None in a run another
    party started), then this party's own settings from its connection, which win over both."""
    return defaults.updated(job_conf, "dag_run.conf.kubernetes").updated(party, f"connection {conn_id!r} field kubernetes")


def _problem(key: str, value: Any) -> str | None:
    """What is wrong with one setting, as ``"<key>[.<part>]: <problem>"``; None if it is fine."""
    if key == "namespace" and not (isinstance(value, str) and _DNS_LABEL.fullmatch(value)):
        return f"namespace: expected a Kubernetes namespace name (lower-case letters, digits, '-'), got {value!r}"
    if key in _OBJECT_NAMES and not (value is None and _OBJECT_NAMES[key]) and not _is_name(value):
        return f"{key}: expected the name of a Kubernetes object (lower-case letters, digits, '-', '.'), got {value!r}"
    if key == "image" and not (isinstance(value, str) and value.strip() and not any(c.isspace() for c in value)):
        return f"image: expected an image reference like registry.example/powerfl/runtime:0.1.0, got {value!r}"
    if key in _PATHS and not (isinstance(value, str) and value.startswith("/")):
        return f"{key}: expected an absolute path, got {value!r}"
    if key == "image_pull_secrets" and (
        isinstance(value, str) or not isinstance(value, Sequence) or not all(map(_is_name, value))
    ):
        return f"image_pull_secrets: expected a list of Secret names, got {value!r}"
    if key == "resources":
        return _resources_problem(value)
    if key == "env_from_secrets":
        return _env_problem(value)
    if key == "pod_options" and not isinstance(value, Mapping):
        return "pod_options: expected a mapping of KubernetesPodOperator arguments"
    return None


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 253 and _DNS_NAME.fullmatch(value) is not None


def _resources_problem(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return "resources: expected a mapping with requests and/or limits"
    for key in value:
        if key not in ("requests", "limits") or not isinstance(value[key], Mapping):
            return f"resources.{key}: expected requests or limits, each a mapping like {{cpu: '2', memory: 4Gi}}"
    return None


def _env_problem(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return "env_from_secrets: expected a mapping ENV_NAME: {secret: <Secret name>, key: <key in it>}"
    for name, ref in value.items():
        if not (isinstance(name, str) and _ENV_NAME.fullmatch(name)) or name in _RESERVED_ENV:
            return f"env_from_secrets.{name}: not an environment variable name this runtime leaves free"
        if not isinstance(ref, Mapping) or set(ref) != {"secret", "key"} or not _is_name(ref["secret"]) or not ref["key"]:
            return f"env_from_secrets.{name}: expected {{secret: <Secret name>, key: <key in it>}}, got {ref!r}"
    return None


def spec_for_pod(spec: TaskSpec, settings: KubernetesSettings) -> TaskSpec:
    """The spec with every Kafka password replaced by its file in the ``kafka_secret`` mount.

    The spec travels in the pod's environment, which anyone allowed to read the
    pod (``kubectl get pod -o yaml``) can see; a Secret is readable only by those
    allowed to read Secrets.
    """
    parties = []
    for party in spec.parties:
        security = party.security
        found = [name for name in PASSWORD_FIELDS if security is not None and getattr(security, name) is not None]
        if found:
            if not settings.kafka_secret:
                raise ConfigError(
                    f"kubernetes.kafka_secret: party {party.id}'s Kafka {found[0]} must not travel in the pod's "
                    f"environment; name the Secret holding it under the key '{party.id}.{found[0]}'"
                )
            directory = settings.kafka_secret_dir.rstrip("/")
            security = security.model_copy(
                update={
                    **{name: None for name in found},
                    **{f"{name}_file": f"{directory}/{party.id}.{name}" for name in found},
                }
            )
        parties.append(party.model_copy(update={"security": security}))
    return spec.model_copy(update={"parties": tuple(parties)})


def pod_operator(
    task_id: str,
    argv: Sequence[str],
    spec_json: str,
    settings: KubernetesSettings,
    labels: Mapping[str, str],
) -> Any:
    """A KubernetesPodOperator (not part of any DAG) that runs ``argv`` with the spec in its working dir."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import models as k8s

    volumes, mounts, env = _pod_files_and_env(settings, spec_json)
    options: dict[str, Any] = {
        "get_logs": True,
        "do_xcom_push": False,
        "on_finish_action": "delete_pod",
        # the container's last log lines become its termination message: the POWERFL-ERROR line reaches us
        "termination_message_policy": "FallbackToLogsOnError",
        **settings.pod_options,
    }
    if settings.kubernetes_conn_id:
        options["kubernetes_conn_id"] = settings.kubernetes_conn_id
    if settings.resources:
        options["container_resources"] = k8s.V1ResourceRequirements(
            requests=dict(settings.resources.get("requests") or {}) or None,
            limits=dict(settings.resources.get("limits") or {}) or None,
        )
    if settings.image_pull_secrets:
        options["image_pull_secrets"] = [k8s.V1LocalObjectReference(name=name) for name in settings.image_pull_secrets]
    return KubernetesPodOperator(
        task_id=task_id,
        namespace=settings.namespace,
        image=settings.image,
        name=f"powerfl-{task_id}".replace("_", "-").lower(),
        cmds=["/bin/sh", "-c", ENTRYPOINT, "powerfl-step"],
        arguments=list(argv),
        env_vars=env,
        volumes=volumes,
        volume_mounts=mounts,
        service_account_name=settings.service_account,
        labels={k: label_value(v) for k, v in labels.items()},
        **options,
    )


def _pod_files_and_env(settings: KubernetesSettings, spec_json: str) -> tuple[list[Any], list[Any], list[Any]]:
    """The pod's volumes, their mounts and its environment: work dir, signing key, [Kafka secret], [Hadoop conf]."""
    from kubernetes.client import models as k8s

    volumes = [
        k8s.V1Volume(name="powerfl-work", empty_dir=k8s.V1EmptyDirVolumeSource()),
        k8s.V1Volume(
            name="powerfl-keys",
            secret=k8s.V1SecretVolumeSource(
                secret_name=settings.keys_secret,
                items=[k8s.V1KeyToPath(key=settings.keys_secret_key, path=settings.keys_secret_key)],
                default_mode=0o400,
            ),
        ),
    ]
    mounts = [
        k8s.V1VolumeMount(name="powerfl-work", mount_path=settings.work_dir),
        k8s.V1VolumeMount(name="powerfl-keys", mount_path=settings.keys_dir, read_only=True),
    ]
    if settings.kafka_secret:
        volumes.append(
            k8s.V1Volume(
                name="kafka-secret", secret=k8s.V1SecretVolumeSource(secret_name=settings.kafka_secret, default_mode=0o400)
            )
        )
        mounts.append(k8s.V1VolumeMount(name="kafka-secret", mount_path=settings.kafka_secret_dir, read_only=True))
    env = [k8s.V1EnvVar(name=SPEC_ENV, value=spec_json), k8s.V1EnvVar(name="POWERFL_WORK_DIR", value=settings.work_dir)]
    for name in AWS_SECRET_KEYS if settings.aws_secret else ():  # references to the Secret, never the values
        optional = name == "AWS_SESSION_TOKEN"
        selector = k8s.V1SecretKeySelector(name=settings.aws_secret, key=name, optional=optional or None)
        env.append(k8s.V1EnvVar(name=name, value_from=k8s.V1EnvVarSource(secret_key_ref=selector)))
    for name, ref in settings.env_from_secrets.items():
        selector = k8s.V1SecretKeySelector(name=ref["secret"], key=ref["key"])
        env.append(k8s.V1EnvVar(name=name, value_from=k8s.V1EnvVarSource(secret_key_ref=selector)))
    if settings.hadoop_config_map:
        volumes.append(k8s.V1Volume(name="hadoop-conf", config_map=k8s.V1ConfigMapVolumeSource(name=settings.hadoop_config_map)))
        mounts.append(k8s.V1VolumeMount(name="hadoop-conf", mount_path=settings.hadoop_conf_dir, read_only=True))
        env.append(k8s.V1EnvVar(name="HADOOP_CONF_DIR", value=settings.hadoop_conf_dir))
    return volumes, mounts, env


def label_value(text: str) -> str:
    """A Kubernetes label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends."""
    value = _LABEL_VALUE.sub("_", text)[:63].strip("._-")
    return value or "none"


def step_failure(exc: BaseException, what: str, remote_pod: Any = None, container: str = "base") -> StepFailed | None:
    """The job's own POWERFL-ERROR message from a failed pod's termination message, if it is there.

    The StepFailed carries the container's exit code when ``remote_pod`` (the operator's last view of
    the pod) has it, so a step stopped by a peer (exit 3) is told apart from one that failed on its own;
    otherwise 2.
    """
    found = step_error_in(str(exc))
    return StepFailed(f"{what} failed: {found}", exit_code(remote_pod, container) or EXIT_STEP_ERROR) if found else None


def exit_code(remote_pod: Any, container: str) -> int | None:
    """The named container's exit code from a V1Pod's status, or None if it has not terminated."""
    statuses = getattr(getattr(remote_pod, "status", None), "container_statuses", None) or []
    for status in statuses:
        terminated = getattr(getattr(status, "state", None), "terminated", None)
        if status.name == container and terminated is not None:
            return terminated.exit_code
    return None
