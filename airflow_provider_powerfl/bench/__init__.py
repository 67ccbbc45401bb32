"""Benchmarks behind `powerfl bench NAME`; each module has add_arguments(parser) and run(args) -> dict."""

from __future__ import annotations

import os

from airflow_provider_powerfl.crypto.paillier import INSECURE_TEST_KEYS_ENV, MIN_KEY_BITS


def allow_small_keys(bits: int | None, bench: str) -> None:
    """Let this bench's processes, and the steps they start, use the keys below the floor its command line asked for."""
    if bits is not None and bits < MIN_KEY_BITS:
        os.environ[INSECURE_TEST_KEYS_ENV] = "1"
        print(f"powerfl bench {bench}: {bits}-bit Paillier keys, below the {MIN_KEY_BITS}-bit floor: a measurement, not a deployment")
