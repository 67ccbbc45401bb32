"""One local SparkSession for the whole test session (startup costs ~20 s on 2 cores)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # spark_jobs is a top-level directory, not an installed package
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


@pytest.fixture(scope="session")
def spark():
    from spark_jobs.common.session import build_session

    session = build_session("powerfl-tests", SPARK_TEST_CONF)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The shared FATE and a9a data; a test fails (never skips) when it is missing."""
    for root in _DATASET_DIRS:
        if (root / "fate" / "breast_hetero_guest.csv").is_file():
            return root
    pytest.fail(f"shared datasets not found in any of {[str(d) for d in _DATASET_DIRS]}", pytrace=False)
