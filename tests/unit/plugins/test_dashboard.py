"""The dashboard app gives nothing to a request without Airflow's token (the signed-in path: tests/browser)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_powerfl.plugins.dashboard import app as dashboard


@pytest.fixture(scope="module")
def client() -> TestClient:
    root = FastAPI()
    root.mount("/powerfl", dashboard)
    return TestClient(root)


def test_the_page_without_a_token_is_the_way_to_airflows_login(client: TestClient) -> None:
    reply = client.get("/powerfl/")
    assert reply.status_code == 401
    assert "../api/v2/auth/login" in reply.text
    assert 'searchParams.set("next", window.location.href)' in reply.text  # the deep link's hash comes back
    assert "assets/" not in reply.text


def test_assets_without_a_token_are_refused(client: TestClient) -> None:
    assert client.get("/powerfl/assets/index.js").status_code == 401


def test_the_bare_prefix_redirects_to_the_page(client: TestClient) -> None:
    reply = client.get("/powerfl", follow_redirects=False)
    assert reply.status_code == 307
    assert reply.headers["location"].endswith("/powerfl/")
