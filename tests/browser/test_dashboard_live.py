"""The task dashboard in Debian's Chromium against two parties' real Airflow (docs/dashboard.md).

One two-party fixture for the module (each party's Airflow with the plugin, the shared Kafka brokers, Spark
steps): a job submitted with the seed's two multipart calls, the dashboard open at both parties while it
runs, its charts checked against the API's own numbers, the login and the deep link, a stop clicked at the
host and seen at the guest, and a host's failure shown at the guest with its reason. Every view is
screenshotted under the module's output directory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.pages import Screenshots, chart_option, flow_server, job_page, signed_in, submit_job
from tests.support.parties import TwoParties, two_parties, until

JOB_TIMEOUT = 480.0  # a whole job on a loaded 2-core machine (under pytest-timeout's 600 s, so ours names what it waited for)
MS = 1000
# the followed job's training: every epoch (tol 0) at 1024 bits, about a second an epoch on the loaded machine
# (at the tests' 512 bits an epoch took 0.2 s): long enough for the pages to see its progress move
LIVE_TRAINING = {"max_iter": 10, "tol": 0.0, "key_length": 1024}


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory, kafka_brokers: dict[str, str]) -> Iterator[TwoParties]:
    with two_parties(tmp_path_factory.mktemp("dashboard"), kafka_brokers) as started:
        yield started


@pytest.fixture(scope="module")
def job(parties: TwoParties) -> str:
    """The job the dashboard follows (align, train, predict, summary at both parties); its training runs all its
    epochs (tol 0) for the live progress to move under the pages' eyes."""
    return submit_job(parties.guest, parties.pipeline(), parties.job_parameters(train=LIVE_TRAINING))


@pytest.fixture(scope="module")
def failing(parties: TwoParties) -> str:
    """A job whose host input does not exist, submitted beside `job` (it fails within its first step)."""
    missing = parties.root / "data" / "host_missing.csv"
    return submit_job(parties.guest, parties.pipeline(), parties.job_parameters(host_input=str(missing)))


@pytest.fixture(scope="module")
def contexts(browser: Browser, parties: TwoParties) -> Iterator[dict[str, BrowserContext]]:
    made = {party.role: signed_in(browser, party) for party in parties.parties}
    yield made
    for context in made.values():
        context.close()


@pytest.fixture(autouse=True)
def close_pages(contexts: dict[str, BrowserContext]) -> Iterator[None]:
    """Each test's pages closed after it, passed or not: a page left open keeps polling its party."""
    yield
    for context in contexts.values():
        for page in context.pages:
            page.close()


def live_progress(page: Page, party_id: str, step: str = "train") -> dict[str, str] | None:
    """The live progress a step's cell of `party_id` shows now (its data attributes), or None."""
    return page.evaluate(
        """([party, step]) => { const el = document.querySelector(
             `[data-step="${step}"] td[data-party="${party}"] [data-testid=live-progress]`);
             return el ? {...el.dataset, text: el.innerText} : null }""",
        [party_id, step],
    )


class ProgressSeen:
    """Every distinct live progress of the train step each page showed, its own party's and the peer's."""

    def __init__(self, pages: dict[str, Page], own: dict[str, str], screenshots: Screenshots) -> None:
        self.pages, self.own, self.screenshots = pages, own, screenshots
        self.seen: dict[tuple[str, str], list[dict[str, str]]] = {}

    def look(self) -> None:
        for role, page in self.pages.items():
            for party_id in self.own.values():
                now = live_progress(page, party_id)
                readings = self.seen.setdefault((role, party_id), [])
                if now is None or (readings and readings[-1]["fraction"] == now["fraction"]):
                    continue
                readings.append(now)
                if party_id == self.own[role] and len(readings) == 2:  # moved under the page's eyes
                    self.screenshots.take(page, f"job-training-{role}")

    def check(self) -> None:
        peer = {"guest": self.own["host"], "host": self.own["guest"]}
        guest = self.seen.get(("guest", self.own["guest"]), [])
        assert len(guest) >= 2, f"the guest's training progress did not move on its page: {guest}"
        fractions = [float(r["fraction"]) for r in guest]
        assert fractions == sorted(fractions) and fractions[-1] > fractions[0], fractions
        assert {(r["unit"], r["of"]) for r in guest} == {("epoch", str(LIVE_TRAINING["max_iter"]))}
        assert any(r["loss"] and int(r["done"]) >= 1 for r in guest), f"no loss at the guest after an epoch: {guest}"
        assert all("ETA" in r["text"] for r in guest)
        assert self.seen.get(("host", self.own["host"])), "the host's own progress never showed at the host"
        peers = [r for role in self.pages for r in self.seen.get((role, peer[role]), [])]
        assert peers, f"no party showed its peer's progress: {self.seen}"
        assert all(r["loss"] == "" for r in peers), "a peer's progress carries a loss"


def grid_states(page: Page) -> dict[str, str]:
    """``{"<party>/<step>": state}`` as the steps x parties grid shows it now."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-step] td[data-party]')].map(td =>
             [`${td.dataset.party}/${td.parentElement.dataset.step}`, td.querySelector('.badge')?.dataset.state ?? null]))"""
    )


@pytest.mark.usefixtures("failing")  # submitted beside the job: it has failed by the time its own test looks
@pytest.mark.timeout(1200)  # the two Airflows' start and the whole job: over 600 s at load 35
def test_the_running_job_is_live_at_both_parties(
    parties: TwoParties, contexts: dict[str, BrowserContext], job: str, screenshots: Screenshots
) -> None:
    listing = contexts["guest"].new_page()
    listing.goto(parties.guest.dashboard)
    row = listing.locator(f'tr[data-job="{job}"]')
    expect(row).to_be_visible(timeout=30 * MS)
    pages = {party.role: job_page(contexts[party.role], party, job, timeout=JOB_TIMEOUT) for party in parties.parties}
    for page in pages.values():
        for party in parties.parties:  # both parties' columns, each party's own marked "here"
            expect(page.locator(f'[data-testid=steps-grid] thead th[data-party="{party.party_id}"]')).to_be_visible()
    seen = {role: [grid_states(page)] for role, page in pages.items()}
    own = {party.role: party.party_id for party in parties.parties}
    progress = ProgressSeen(pages, own, screenshots)

    def done() -> bool:  # the pages change without a reload, the peer's column too, until both show success
        progress.look()
        for role, page in pages.items():
            now, state = grid_states(page), page.get_by_test_id("job-page").get_attribute("data-job-state")
            if state == "failed":
                raise AssertionError(f"the job failed at the {role}: {page.get_by_test_id('party-errors').all_inner_texts()}")
            if now != seen[role][-1]:
                seen[role].append(now)
                if state == "running" and (
                    now.get(f"{own[role]}/train") == "running" or f"job-running-{role}" not in screenshots.taken
                ):
                    screenshots.take(page, f"job-running-{role}")  # the training step running, if a change showed it
        return all(page.get_by_test_id("job-page").get_attribute("data-job-state") == "success" for page in pages.values())

    until(done, 2 * JOB_TIMEOUT, lambda: f"both job pages to follow the job to its success: {seen}", poll=1.0)
    progress.check()
    peer = {"guest": parties.host.party_id, "host": parties.guest.party_id}
    for role, states in seen.items():
        assert len(states) >= 3, f"the {role}'s page changed {len(states) - 1} times"
        assert len({s.get(f"{peer[role]}/align") for s in states}) > 1, f"the peer's align never moved at the {role}"
    for role, page in pages.items():
        expect(page.locator('[data-step="predict"] td .badge[data-state="success"]')).to_have_count(2)  # both parties
        screenshots.take(page, f"job-done-{role}")
    expect(row.locator("td").nth(2).locator(".badge")).to_have_attribute("data-state", "success")  # the list, unreloaded


def test_the_job_list_filters_by_state_and_role(
    parties: TwoParties, contexts: dict[str, BrowserContext], job: str, screenshots: Screenshots
) -> None:
    page = contexts["guest"].new_page()
    page.goto(parties.guest.dashboard)
    row = page.locator(f'tr[data-job="{job}"]')
    expect(row).to_be_visible()
    for party in parties.parties:
        expect(row.locator(f'.party-state[data-party="{party.party_id}"]')).to_contain_text(party.role)
    screenshots.take(page, "job-list")
    page.select_option("select[name=state]", "failed")
    expect(row).to_have_count(0)
    page.select_option("select[name=state]", "success")
    expect(row).to_be_visible()
    page.select_option("select[name=role]", "host")  # the guest has no job as host
    expect(row).to_have_count(0)


def test_the_metrics_are_charts_of_the_reports_numbers(
    parties: TwoParties, contexts: dict[str, BrowserContext], job: str, screenshots: Screenshots
) -> None:
    report = flow_server(parties.guest, f"jobs/{job}/metrics")
    page = job_page(contexts["guest"], parties.guest, job)
    page.locator("button[data-tab=metrics]").click()
    roc = until(lambda: chart_option(page, "roc"), 30, "the ROC chart", poll=0.5)
    assert report["metrics"]["auc"] > 0.9
    assert repr(report["metrics"]["auc"]) in roc["title"][0]  # every digit the API sent
    for name, (x, y) in {"roc": ("fpr", "tpr"), "pr": ("recall", "precision"), "lift": ("population", "lift"),
                         "gain": ("population", "gain"), "loss": ("epoch", "loss")}.items():  # fmt: skip
        points = [[p[x], p[y]] for p in report["curves"][name]]
        assert points, f"the API has no {name} curve"
        assert until(lambda n=name: chart_option(page, n), 10, name, poll=0.5)["series"][0]["data"] == points, name
    ks = chart_option(page, "ks")
    assert ks["series"][2]["data"] == [[p["population"], p["gap"]] for p in report["curves"]["ks"]]
    assert repr(report["metrics"]["ks"]) in ks["title"][0]
    expect(page.locator('[data-testid="scalars-Metrics"] tr[data-metric=auc] td')).to_have_text(repr(report["metrics"]["auc"]))
    _check_importance(page, report)
    screenshots.take(page, "metrics")
    _check_confusion_at(page, parties, job, 0.3)
    page.get_by_test_id("confusion").scroll_into_view_if_needed()
    screenshots.take(page, "metrics-confusion")


def _check_importance(page: Page, report: dict[str, Any]) -> None:
    """Each party's features by name, with the API's importances (no chart when the report has none)."""
    if report["feature_importance"] is None:
        assert chart_option(page, "importance") is None
        return
    option = until(lambda: chart_option(page, "importance"), 10, "the feature importance chart", poll=0.5)
    labels = option["yAxis"][0]
    plotted = {labels[i]: v for series in option["series"] for i, v in enumerate(series["data"]) if v is not None}
    by_party = report["feature_importance"]["by_party"]
    expected = {f"{f['feature']} ({party})": f["importance"] for party, features in by_party.items() for f in features}
    assert by_party.get(report["party_id"]), "no own features"
    assert plotted == expected


def _check_confusion_at(page: Page, parties: TwoParties, job: str, threshold: float) -> None:
    """The slider asks the API for the confusion at `threshold`, and the heatmap shows its counts."""
    page.locator("input[name=threshold]").fill(str(threshold))
    expect(page.get_by_test_id("threshold")).to_have_text(f"{threshold:.2f}")
    c = flow_server(parties.guest, f"jobs/{job}/metrics", threshold=threshold)["confusion"]
    cells = [[0, 1, c["tp"]], [1, 1, c["fn"]], [0, 0, c["fp"]], [1, 0, c["tn"]]]
    wanted = f"Confusion at threshold {threshold!r}"

    def shown() -> bool:
        option = chart_option(page, "confusion")
        return bool(option) and option["title"][0] == wanted and option["series"][0]["data"] == cells

    until(shown, 15, lambda: f"the confusion at {threshold} ({cells}): {chart_option(page, 'confusion')}", poll=0.5)
    assert c["tp"] + c["fn"] > 0 and c["tn"] + c["fp"] > 0


def test_models_and_logs_with_a_level_filter(
    parties: TwoParties, contexts: dict[str, BrowserContext], job: str, screenshots: Screenshots
) -> None:
    models = flow_server(parties.guest, f"jobs/{job}/models")["models"]
    assert models
    page = job_page(contexts["guest"], parties.guest, job)
    page.locator("button[data-tab=models]").click()
    for model in models:
        expect(page.locator(f'tr[data-model="{model["model_id"]}"]')).to_contain_text(model["task_id"])
    with page.expect_download() as saved:  # the Download button: this party's model version as .tar.gz
        page.locator("[data-testid=model-download]").first.click()
    assert saved.value.suggested_filename == f"{job}-{parties.guest.party_id}-train-v{models[0]['version']}.tar.gz"
    screenshots.take(page, "models")
    preview = flow_server(parties.guest, f"jobs/{job}/data", step="align")
    page.locator("button[data-tab=data]").click()  # the guest's own aligned data: its columns, its first 100 rows
    table = page.locator("[data-testid=aligned-table]")
    expect(table.locator("tbody tr")).to_have_count(len(preview["rows"]), timeout=20 * MS)
    assert table.locator("thead th").all_inner_texts() == preview["columns"] and "label" in preview["columns"]
    assert table.locator("tbody tr").first.locator("td").first.inner_text() == str(preview["rows"][0][0])
    screenshots.take(page, "aligned-data")
    page.locator("button[data-tab=logs]").click()
    page.select_option("select[name=log-step]", "train")
    lines = page.locator("[data-testid=logs] pre.log > div")
    expect(lines.first).to_be_visible(timeout=20 * MS)
    logged = flow_server(parties.guest, f"jobs/{job}/logs", step="train")["lines"]
    assert any("train" in line["event"] or "epoch" in line["event"] for line in logged)
    screenshots.take(page, "logs")
    page.select_option("select[name=log-level]", "warning")
    kept = {(line["level"] or "").lower() for line in logged} & {"warning", "error", "critical"}
    expect(lines).to_have_count(sum((line["level"] or "info").lower() in kept for line in logged))


def test_the_dashboard_asks_for_a_login_and_comes_back_to_the_deep_link(
    parties: TwoParties, browser: Browser, job: str, screenshots: Screenshots
) -> None:
    guest = parties.guest
    assert httpx.get(guest.dashboard).status_code == 401
    assert httpx.get(f"{guest.api}/jobs").status_code == 401
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{guest.dashboard}#/jobs/{job}")
    page.wait_for_url("**/auth/login**")
    screenshots.take(page, "login")
    page.locator("input[name=username]").fill(guest.username)
    page.locator("input[name=password]").fill(guest.password)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"**/powerfl/#/jobs/{job}")
    expect(page.get_by_test_id("job-id")).to_have_text(job)
    context.close()


@pytest.fixture(scope="module")
def stopped(parties: TwoParties) -> str:
    """A job to stop at the host while its first step runs (many epochs: it would run long)."""
    return submit_job(parties.guest, parties.pipeline(), parties.job_parameters(train={"max_iter": 30}))


def test_a_stop_clicked_at_the_host_shows_at_the_guest(
    parties: TwoParties, contexts: dict[str, BrowserContext], stopped: str, screenshots: Screenshots
) -> None:
    job = stopped
    guest = job_page(contexts["guest"], parties.guest, job)
    host = job_page(contexts["host"], parties.host, job, timeout=JOB_TIMEOUT)  # once the host accepted the job
    host_align = host.locator(f'[data-step="align"] td[data-party="{parties.host.party_id}"] .badge')
    expect(host_align).to_have_attribute("data-state", "running", timeout=JOB_TIMEOUT * MS)
    host.locator("button[data-action=stop]").click()
    screenshots.take(host, "stop-confirm")
    host.get_by_test_id("confirm").click()
    clicked = time.monotonic()
    expect(host.get_by_test_id("action-outcome")).to_contain_text("stop")
    seen = guest.locator(f'[data-testid=party-errors] .party-error[data-party="{parties.host.party_id}"]')
    expect(seen).to_be_visible(timeout=60 * MS)
    print(f"the host's stop showed at the guest {time.monotonic() - clicked:.1f} s after the click")
    expect(guest.get_by_test_id("job-page")).to_have_attribute("data-job-state", "failed", timeout=120 * MS)
    screenshots.take(host, "stopped-host")
    screenshots.take(guest, "stopped-seen-at-guest")


def test_a_failure_at_the_host_shows_at_the_guest_with_its_reason(
    parties: TwoParties, contexts: dict[str, BrowserContext], failing: str, screenshots: Screenshots
) -> None:
    job = failing
    page = job_page(contexts["guest"], parties.guest, job)
    error = page.locator(f'[data-testid=party-errors] .party-error[data-party="{parties.host.party_id}"]')
    expect(error).to_be_visible(timeout=JOB_TIMEOUT * MS)
    expect(error.locator(".reason")).to_contain_text("host_missing.csv")
    expect(page.get_by_test_id("job-page")).to_have_attribute("data-job-state", "failed", timeout=120 * MS)
    screenshots.take(page, "host-failure-seen-at-guest")
    shown = flow_server(parties.guest, f"jobs/{job}")
    assert shown["progress"] < 1.0, f"a failed job reads {shown['progress']:.0%} done"  # only the steps that finished
