"""What the browser tests do to the dashboard: sign a browser in, open a party's views, read its charts.

The dashboard exposes ECharts as ``window.echarts``, so a chart's data is read from the instance ECharts
draws (``getInstanceByDom(...).getOption()``): the test asserts on what the chart plots, not on pixels.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support.parties import Party

REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 900}

CHART_OPTION = """name => {
  const element = document.querySelector(`[data-chart="${name}"] .echarts-for-react`);
  const chart = element && window.echarts.getInstanceByDom(element);
  if (!chart) return null;
  const option = chart.getOption();
  return {
    title: (option.title || []).map(t => t.text),
    series: option.series.map(s => ({name: s.name, type: s.type, data: s.data})),
    yAxis: (option.yAxis || []).map(a => a.data || null),
  };
}"""


def signed_in(browser: Browser, party: Party) -> BrowserContext:
    """A context holding `party`'s Airflow session cookie (``_token``, as Airflow's login sets it).

    One context per party: both parties listen on 127.0.0.1, and cookies do not tell ports apart.
    """
    context = browser.new_context(viewport=VIEWPORT)
    context.add_cookies([{"name": "_token", "value": party.token(), "url": party.url}])
    return context


def job_page(context: BrowserContext, party: Party, job_id: str, timeout: float = 30.0) -> Page:
    """`party`'s dashboard opened at the job's deep link, once the job page shows (a peer's run exists only
    once its listener accepted the invitation: until then the page says the job is not there yet)."""
    page = context.new_page()
    page.goto(f"{party.dashboard}#/jobs/{job_id}")
    page.get_by_test_id("job-page").wait_for(timeout=timeout * 1000)
    return page


def chart_option(page: Page, name: str) -> dict[str, Any] | None:
    """The titles, series and category axes the chart ``data-chart=name`` plots (None before it is drawn)."""
    return page.evaluate(CHART_OPTION, name)


def submit_job(party: Party, pipeline: dict[str, Any], parameters: dict[str, Any]) -> str:
    """The seed's two calls at `party`: push the pipeline (``file=@pipeline.yaml``), then submit the job
    (``parameters=@job_parameters.yaml``), both multipart as ``curl --form`` sends them; the new job id."""
    headers = party.headers()
    with httpx.Client(base_url=party.api, headers=headers, timeout=240) as http:
        pushed = http.post("/pipelines", files={"file": ("pipeline.yaml", yaml.safe_dump(pipeline, sort_keys=False))})
        assert pushed.status_code in (200, 201), pushed.text
        job = http.post(
            f"/pipelines/{pipeline['dag_id']}/jobs", files={"parameters": ("job_parameters.yaml", yaml.safe_dump(parameters))}
        )
        assert job.status_code == 201, job.text
    return job.json()["job_id"]


def flow_server(party: Party, path: str, **params: Any) -> dict[str, Any]:
    """``GET /flow-server/<path>`` at `party` as its admin (the numbers the dashboard is checked against)."""
    reply = httpx.get(f"{party.api}/{path}", params=params, headers=party.headers(), timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


class Screenshots:
    """Full-page screenshots named by view, under `root`; `publish` copies them into docs/screenshots/ when
    ``POWERFL_DOCS_SCREENSHOTS=1`` (so a normal run leaves the checkout unchanged)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.taken: dict[str, Path] = {}

    def take(self, page: Page, name: str) -> Path:
        path = self.root / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        self.taken[name] = path
        return path

    def publish(self) -> None:
        if os.environ.get("POWERFL_DOCS_SCREENSHOTS") != "1":
            return
        DOCS_SCREENSHOTS.mkdir(exist_ok=True)
        for name, path in self.taken.items():
            shutil.copyfile(path, DOCS_SCREENSHOTS / f"{name}.png")
