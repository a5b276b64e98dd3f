"""The dashboard in a real headless browser (Debian's chromium + chromium-driver,
driven by Selenium) over a real worker process that applied a stream on the real
broker and redis-server: the figures on the page are the worker's, exactly.

Skips, saying why, only where no browser is installed (``WITH_BROWSER=1
scripts/setup`` installs one). Screenshots go to the test's tmp dir, and to
``$INTERESTS_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streams.devtools.embedded import EmbeddedServices, free_port, start_worker
from streams.settings import Settings
from tests.streams.worker.test_metrics_endpoint import scrape
from tests.support.harness import events_applied, isolated_settings, produce, wait_until
from tests.support.mixed_stream import mixed_stream

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _browser() -> object:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no chromium/chromedriver: WITH_BROWSER=1 scripts/setup installs Debian's")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,2000")
    return webdriver.Chrome(service=Service(DRIVER), options=options)


@pytest.fixture
def dashboard(
    services: EmbeddedServices, tmp_path: Path
) -> Iterator[tuple[Settings, str, dict[str, int], int]]:
    """A worker that applied a mixed stream, and the dashboard over it."""
    settings = isolated_settings(services, metrics_port=free_port(), dashboard_port=free_port())
    stream = mixed_stream(valid=300, users=6, malformed_every=25, seed=11)
    # Event times of now (the stream's own are of 2023), so freshness is a real figure.
    now = time.time()
    messages = [
        (key, _dated(value, now - 30 + n * 0.05)) for n, (key, value) in enumerate(stream.messages)
    ]
    # Two parts, the second sent once the first is applied: live quality scores an event
    # against the list shown before it, and a worker that takes the whole stream in one
    # batch has shown no list yet.
    half = len(messages) // 2
    malformed = {raw for raw, _ in stream.malformed}
    first = Counter(k.decode() for k, v in messages[:half] if v not in malformed)
    produce(settings, messages[:half])  # type: ignore[arg-type]
    per_user = dict(stream.valid_per_user)
    worker = start_worker(settings, tmp_path / "worker.log")
    page = None
    try:
        wait_until(
            lambda: events_applied(settings, sorted(first)) == dict(first),
            timeout=90,
            what="the first part to be applied",
        )
        produce(settings, messages[half:])  # type: ignore[arg-type]
        wait_until(
            lambda: events_applied(settings, sorted(per_user)) == per_user,
            timeout=90,
            what="every valid event to be applied",
        )
        wait_until(
            lambda: (
                scrape(settings.metrics_port).get(
                    ("interests_freshness_recommendation_seconds_count", ())
                )
                == sum(per_user.values())
            ),
            timeout=30,
            what="the last batch to reach the metrics",
        )
        with (tmp_path / "dashboard.log").open("ab") as log:
            page = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streams.cli.main",
                    "dashboard",
                    "--category-pattern",
                    r"^(c\d+)-",
                ],
                env={**os.environ, **settings.as_env()},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{settings.dashboard_port}/"

        def serving() -> bool:
            try:
                with urllib.request.urlopen(base + "healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_until(serving, timeout=30, what="the dashboard to serve")
        yield settings, base, per_user, len(stream.malformed)
    finally:
        if page is not None:
            page.terminate()
            page.wait(timeout=10)
        worker.stop()


def _dated(value: bytes | None, ts: float) -> bytes | None:
    """A valid event's JSON with ``ts`` as its time; anything else as it is."""
    try:
        body = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return value
    if isinstance(body, dict) and isinstance(body.get("ts"), float) and body["ts"] > 1e9:
        body["ts"] = ts
        return orjson.dumps(body)
    return value


def _save(driver: object, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert driver.save_screenshot(str(path)), name  # type: ignore[attr-defined]
    assert path.stat().st_size > 10_000
    if target := os.environ.get("INTERESTS_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)


def test_the_dashboard_shows_the_workers_figures_in_a_browser(
    dashboard: tuple[Settings, str, dict[str, int], int], tmp_path: Path
) -> None:
    settings, base, per_user, dead = dashboard
    from selenium.webdriver.common.by import By

    driver = _browser()
    try:
        driver.get(base)  # type: ignore[attr-defined]
        text = lambda css: driver.find_element(By.CSS_SELECTOR, css).text  # type: ignore[attr-defined]  # noqa: E731
        assert text("h1") == "interest-evolution"
        assert text("#events-applied") == f"{sum(per_user.values()):,}"
        assert 0 < int(text("#events-total").replace(",", "")) <= sum(per_user.values())
        assert text("#dead-letters") == f"{dead:,}"
        assert text("#dlq-invalid_event") == f"{dead:,}"
        assert text("#users") == str(len(per_user))
        assert text("#model-version") == "online"
        for cell in ("#freshness-state-p50", "#freshness-recommendation-p99"):
            shown = text(cell)  # events are at most ~30 s old when applied
            assert shown.endswith(("ms", " s")) and not shown.startswith(">"), (cell, shown)
        targets = driver.find_elements(By.CSS_SELECTOR, "tr.target")  # type: ignore[attr-defined]
        assert len(targets) == 1 and " up " in f" {targets[0].text} "
        assert f"{sum(per_user.values()):,}" in targets[0].text and "online" in targets[0].text
        live = driver.find_element(By.ID, "live-online")  # type: ignore[attr-defined]
        scored = float(live.find_element(By.CLASS_NAME, "live-scored").text.replace(",", ""))
        assert 0 < scored <= sum(per_user.values())
        links = driver.find_elements(By.CSS_SELECTOR, "tr.user-row a")  # type: ignore[attr-defined]
        assert sorted(a.text for a in links) == sorted(per_user)
        _save(driver, tmp_path, "dashboard-overview.png")

        def throughput_shown() -> bool:  # from the second background scrape on
            driver.refresh()  # type: ignore[attr-defined]
            return text("#throughput") != "–"

        wait_until(throughput_shown, timeout=30, what="events/s on the page")
        assert float(text("#throughput").replace(",", "")) >= 0.0
        links = driver.find_elements(By.CSS_SELECTOR, "tr.user-row a")  # type: ignore[attr-defined]

        user = links[0].text
        links[0].click()
        assert text("h1") == f"user {user}"
        assert text("#user-events") == str(per_user[user])
        recs = driver.find_elements(By.CSS_SELECTOR, "tr.rec")  # type: ignore[attr-defined]
        assert len(recs) == settings.top_k
        chart = driver.find_element(By.CSS_SELECTOR, "svg.trail")  # type: ignore[attr-defined]
        assert chart.size["width"] > 500
        # The worker wrote this user's trail: at least the point of their first batch,
        # and its category bands name the synthetic categories.
        assert "points" in chart.text and chart.find_elements(By.TAG_NAME, "polygon")
        _save(driver, tmp_path, "dashboard-user.png")
    finally:
        driver.quit()  # type: ignore[attr-defined]


def test_off_loopback_needs_a_token(services: EmbeddedServices) -> None:
    from streams.cli.main import main

    settings = isolated_settings(services, dashboard_host="0.0.0.0")
    assert main(["dashboard"], settings) == 2
