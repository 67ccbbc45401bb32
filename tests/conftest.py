"""Fixtures shared by the whole test suite.

Kafka: integration tests talk to real Apache Kafka brokers that ``scripts/kafka``
starts (see docs/kafka.md). They are never mocked and never skipped: if Java,
Maven or a broker fails, the fixture fails the test with the reason and the
broker log tail.

Several pytest sessions may share one checkout (and so one set of brokers). Each
session holds a lease file under ``.run/kafka/pytest-leases/``; brokers a session
started are stopped by the last session to leave, so nobody pulls a broker from
under another run. ``POWERFL_KAFKA_KEEP=1`` leaves them running for the next run.

Spark: one local SparkSession for the whole session (startup costs ~20 s on 2 cores), for
the integration and adversarial tests that run steps in this process.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["tests.support.server_fixtures"]  # hdfs, spark_standalone: servers the tests start themselves
# Tests use small Paillier keys for speed: this process's environment, inherited by the steps and Airflow
# processes the tests start, is the only switch that allows them (crypto.paillier.insecure_test_keys).
os.environ.setdefault("POWERFL_INSECURE_TEST_KEYS", "1")
if str(REPO) not in sys.path:  # the checkout's tests.support, bench and demo are not installed (spark_jobs is, in the wheel)
    sys.path.insert(0, str(REPO))

# shared/ sits beside the checkout (CI's clone too); POWERFL_DATASETS overrides.
_DATASET_DIRS = [Path(os.environ["POWERFL_DATASETS"])] if "POWERFL_DATASETS" in os.environ else []
_DATASET_DIRS += [REPO.parent / "shared" / "datasets", Path("/work/shared/datasets")]

SPARK_TEST_CONF = {
    "spark.master": "local[2]",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
}

KAFKA_SCRIPT = REPO / "scripts" / "kafka"
#: The brokers of the default two-organisation federation plus a third party.
KAFKA_BROKERS = ("guest", "host", "host2")
_LEASES = REPO / ".run" / "kafka" / "pytest-leases"
_STARTED = _LEASES / "started"  # names test sessions started, one a line


#: The fixtures of real brokers and of the Spark session: a test that asks for one is an integration test.
_INTEGRATION_FIXTURES = frozenset(
    {"kafka_brokers", "kafka_sasl_broker", "kafka_broker_restart", "spark", "hdfs", "spark_standalone"}
)
_INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"
_STARTED_AT = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``integration`` every test under tests/integration/ and every test using Kafka or Spark, so that
    ``-m "not integration"`` is exactly the unit suite (no broker, no JVM)."""
    for item in items:
        if item.path.is_relative_to(_INTEGRATION_DIR) or _INTEGRATION_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.integration)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED_AT] = time.monotonic()


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """The suite's wall time, collection and fixtures included (the budget is for the whole run)."""
    terminalreporter.write_line(f"suite wall time: {time.monotonic() - config.stash[_STARTED_AT]:.0f} s")


def _kafka(*args: str) -> subprocess.CompletedProcess[str]:
    # 600 s: the first `up` on a fresh machine also fetches the jars through Maven.
    return subprocess.run([str(KAFKA_SCRIPT), *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def _kafka_or_fail(*args: str) -> str:
    try:
        proc = _kafka(*args)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"scripts/kafka {' '.join(args)} could not run: {e}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(
            f"scripts/kafka {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    return proc.stdout


@contextmanager
def _leases_locked() -> Iterator[None]:
    _LEASES.mkdir(parents=True, exist_ok=True)
    with open(_LEASES / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _brokers_up(names: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """Start (or reuse) ``names`` under this session's lease; ``{name: "host:port"}``."""
    lease = _LEASES / str(os.getpid())
    with _leases_locked():
        lease.touch()
        new = [n for n in names if _kafka("status", n).returncode != 0]
        if new:
            with open(_STARTED, "a") as f:
                f.writelines(f"{n}\n" for n in new)
        _kafka_or_fail("up", *names)
    addrs = _kafka_or_fail("addr", *names).split()
    try:
        yield dict(zip(names, addrs, strict=True))
    finally:
        with _leases_locked():
            lease.unlink(missing_ok=True)
            others = [p for p in _LEASES.iterdir() if p.name.isdigit() and _pid_alive(int(p.name))]
            if not others and _STARTED.exists() and os.environ.get("POWERFL_KAFKA_KEEP") != "1":
                _kafka("down", *sorted(set(_STARTED.read_text().split())))
                _STARTED.unlink()


@pytest.fixture(scope="session")
def kafka_brokers() -> Iterator[dict[str, str]]:
    """``{"guest": "127.0.0.1:19092", "host": ..., "host2": ...}``, brokers up and answering.

    Reuses brokers already up (e.g. from ``make kafka-up``) and leaves those running.
    """
    with _brokers_up(KAFKA_BROKERS) as addrs:
        yield addrs


@pytest.fixture(scope="session")
def kafka_sasl_broker() -> Iterator[dict[str, str]]:
    """kafka-python client settings for the ``secure`` broker (SASL_PLAINTEXT, SCRAM-SHA-256).

    Its user is created when scripts/kafka formats it (POWERFL_KAFKA_SASL_USER/PASSWORD).
    """
    with _brokers_up(("secure",)) as addrs:
        yield {
            "bootstrap_servers": addrs["secure"],
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_plain_username": os.environ.get("POWERFL_KAFKA_SASL_USER", "powerfl"),
            "sasl_plain_password": os.environ.get("POWERFL_KAFKA_SASL_PASSWORD", "powerfl-secret"),
        }


@pytest.fixture
def kafka_broker_restart(kafka_brokers: dict[str, str]) -> Callable[[str], str]:
    """``restart(name) -> "host:port"``: stop broker ``name`` and start it again on its data.

    Restarting a shared broker disturbs every test using it; tests of restart
    behaviour that need no particular broker should restart ``scratch`` (a
    broker only they use; start it with ``restart("scratch")`` too).
    """

    def restart(name: str) -> str:
        _kafka_or_fail("restart", name)
        return _kafka_or_fail("addr", name).strip()

    return restart


@pytest.fixture(scope="session")
def spark():
    from spark_jobs.common.session import build_session

    session = build_session("powerfl-tests", SPARK_TEST_CONF)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def measured_enclave(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The enclave app measured once a session (its bytecode compiled, ~11,000 trusted files hashed) for every test
    that runs it: its measured manifest, the signer key beside it."""
    from airflow_provider_powerfl.runtimes.tee import enclave_checkout

    work = tmp_path_factory.mktemp("enclave")
    out = work / "measured.json"
    subprocess.run([sys.executable, "-m", "enclave.measure", "--signer-key", str(work / "signer.pem"), "--out", str(out),
                    "--io-dir", str(work / "io")], cwd=enclave_checkout(), check=True, timeout=900)  # fmt: skip
    return out


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The shared FATE and a9a data; a test fails (never skips) when it is missing."""
    for root in _DATASET_DIRS:
        if (root / "fate" / "breast_hetero_guest.csv").is_file():
            return root
    pytest.fail(f"shared datasets not found in any of {[str(d) for d in _DATASET_DIRS]}", pytrace=False)
