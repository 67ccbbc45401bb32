"""Fixtures of the chart tests: the pinned helm, the parties' environment files, both parties rendered."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.chart.render import GUEST, HOST, REPO, EnvFiles, Manifest, deploy


@pytest.fixture(scope="session")
def helm() -> Path:
    """The pinned helm; built from the Go module proxy the first time (a few minutes), then reused."""
    done = subprocess.run([REPO / "scripts" / "helm"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"scripts/helm failed:\n{done.stdout}{done.stderr}"
    return REPO / ".cache" / "bin" / "helm"


@pytest.fixture(scope="session")
def env_files(tmp_path_factory: pytest.TempPathFactory) -> EnvFiles:
    return EnvFiles(tmp_path_factory.mktemp("parties"))


@pytest.fixture(scope="session")
def rendered(helm: Path, env_files: EnvFiles) -> dict[str, Manifest]:
    """Each party's manifests from ``deploy.sh setup <its env file> --dry-run`` (the guest's file uses ``export``)."""
    out = {}
    for party in (GUEST, HOST):
        path = env_files.write(f"powerfl-{party.id}.sh", env_files.seed(party), export=party is GUEST)
        out[party.id] = Manifest.parse(deploy(helm, "setup", path, "--dry-run").stdout)
    return out
