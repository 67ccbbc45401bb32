"""Benchmarks behind `powerfl bench NAME`; each module has add_arguments(parser) and run(args) -> dict.

A top-level package of the checkout, not of the wheel: the benchmarks use the checkout's scripts/,
spark_jobs/ and the data sets beside it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from airflow_provider_powerfl.crypto.paillier import INSECURE_TEST_KEYS_ENV, MIN_KEY_BITS

REPO = Path(__file__).resolve().parents[1]
KAFKA = REPO / "scripts" / "kafka"


def allow_small_keys(bits: int | None, bench: str) -> None:
    """Let this bench's processes, and the steps they start, use the keys below the floor its command line asked for."""
    if bits is not None and bits < MIN_KEY_BITS:
        os.environ[INSECURE_TEST_KEYS_ENV] = "1"
        print(
            f"powerfl bench {bench}: {bits}-bit Paillier keys, below the {MIN_KEY_BITS}-bit floor: a measurement, not a deployment"
        )


def brokers(*names: str) -> list[str]:
    """Bootstrap addresses of the checkout's named Kafka brokers (scripts/kafka), starting those that are down."""
    subprocess.run([str(KAFKA), "up", *names], check=True, capture_output=True, text=True, timeout=600)
    return subprocess.run([str(KAFKA), "addr", *names], check=True, capture_output=True, text=True).stdout.split()
