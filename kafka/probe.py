"""Wait until Kafka brokers really answer a metadata request (used by scripts/kafka).

A listening port is not enough: a KRaft broker accepts connections before it
has joined its own quorum. Readiness here means DescribeCluster returns the
broker itself, through kafka-python, the client the project uses.

    probe.py TIMEOUT_S NAME,HOST:PORT,PID,SECURITY [...]

SECURITY is ``plaintext`` or ``sasl`` (SCRAM-SHA-256 with POWERFL_KAFKA_SASL_USER /
POWERFL_KAFKA_SASL_PASSWORD). PID may be ``-`` (no process to watch). Exit 0 when
all answer; 1 when one has not by the deadline or its process has died.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from dataclasses import dataclass

from kafka.admin import KafkaAdminClient

POLL_S = 0.5


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int
    pid: int | None
    security: str

    @classmethod
    def parse(cls, spec: str) -> Target:
        name, addr, pid, security = spec.split(",")
        host, port = addr.rsplit(":", 1)
        return cls(name, host, int(port), None if pid == "-" else int(pid), security)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _sasl_kwargs(security: str) -> dict[str, str]:
    if security != "sasl":
        return {}
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": os.environ.get("POWERFL_KAFKA_SASL_USER", "powerfl"),
        "sasl_plain_password": os.environ.get("POWERFL_KAFKA_SASL_PASSWORD", "powerfl-secret"),
    }


def answers(t: Target) -> str | None:
    """None when the broker answers DescribeCluster with itself; else why not."""
    try:
        socket.create_connection((t.host, t.port), timeout=2).close()
    except OSError as e:
        return f"port {t.port}: {e.strerror or e}"
    admin = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"{t.host}:{t.port}",
            client_id="powerfl-probe",
            request_timeout_ms=5000,
            bootstrap_timeout_ms=5000,
            **_sasl_kwargs(t.security),
        )
        brokers = admin.describe_cluster().get("brokers") or []
        return None if brokers else "no broker in cluster metadata yet"
    except Exception as e:  # noqa: BLE001 - any client error means "not ready yet"
        return f"{type(e).__name__}: {e}"
    finally:
        if admin is not None:
            admin.close()


def main(argv: list[str]) -> int:
    logging.getLogger("kafka").addHandler(logging.NullHandler())
    logging.getLogger("kafka").propagate = False
    deadline = time.monotonic() + float(argv[0])
    pending = [Target.parse(s) for s in argv[1:]]
    why: dict[str, str] = {}
    while True:
        for t in list(pending):
            if t.pid is not None and not _alive(t.pid):
                print(f"{t.name}: broker process {t.pid} exited", flush=True)
                return 1
            reason = answers(t)
            if reason is None:
                print(f"{t.name}: answering on {t.host}:{t.port}", flush=True)
                pending.remove(t)
            else:
                why[t.name] = reason
        if not pending:
            return 0
        if time.monotonic() >= deadline:
            for t in pending:
                print(f"{t.name}: not answering on {t.host}:{t.port} ({why[t.name]})", flush=True)
            return 1
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
