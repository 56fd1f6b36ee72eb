"""The web UI and the report in a real headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium): pages render without a console error, charts draw, filters and links work, hostile strings show
as text and never run. Screenshots of every page, light and dark, go to tests/artifacts/ui/ (or
$DEMON_UI_SCREENSHOTS) for a person to look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from monitor.app.cli import main
from tests import ui_support
from tests.daemon_support import start_daemon, wait_for

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SHOTS = Path(os.environ.get("DEMON_UI_SCREENSHOTS", Path(__file__).parent / "artifacts" / "ui"))
WIDTH, HEIGHT = 1366, 900  # a laptop screen


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM and DRIVER):  # a missing browser fails the tests, as a missing Prometheus does
        raise RuntimeError("chromium or chromedriver not installed: apt-get install chromium chromium-driver "
                           "(or run .ci/run)")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WIDTH},{HEIGHT}", "--lang=en-US"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    driver.set_page_load_timeout(120)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """Console errors since the last call (and CSP violations, which Chromium logs as errors)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def scheme(driver: Any, name: str) -> None:
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": name}]})


def open_page(driver: Any, url: str) -> None:
    driver.get(url)
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete", what=f"{url} loaded")


def charts_drawn(driver: Any) -> int:
    """Charts of the visible page drawn by uPlot, each with a canvas of non-zero size."""
    return int(driver.execute_script(
        "return Array.from(document.querySelectorAll('.plot')).filter(p => p.offsetParent !== null"
        " && p.uplot && p.querySelector('canvas') && p.querySelector('canvas').width > 0).length"))


def visible_plots(driver: Any) -> int:
    return int(driver.execute_script(
        "return Array.from(document.querySelectorAll('.plot')).filter(p => p.offsetParent !== null).length"))


def screenshot(driver: Any, name: str) -> None:
    """The whole page, light and dark."""
    for mode in ("light", "dark"):
        scheme(driver, mode)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(WIDTH, min(max(height, HEIGHT), 6000))
        driver.save_screenshot(str(SHOTS / f"{name}-{mode}.png"))
        driver.set_window_size(WIDTH, HEIGHT)
    scheme(driver, "light")
    print(f"screenshots: {SHOTS}/{name}-{{light,dark}}.png")


def assert_not_pwned(driver: Any) -> None:
    assert driver.execute_script("return typeof window.__pwned") == "undefined"
    text = driver.find_element(By.TAG_NAME, "body").text
    assert ui_support.SECRET_EMAIL not in text


def visible_rows(driver: Any) -> list[str]:
    return [row.get_attribute("data-outcome") for row in
            driver.find_elements(By.CSS_SELECTOR, "#datasets tbody tr") if row.is_displayed()]


def check_overview(driver: Any) -> None:
    """Filters and search narrow the datasets table; the hostile owner shows as text."""
    assert len(visible_rows(driver)) == 3
    Select(driver.find_element(By.ID, "f-outcome")).select_by_value("fail")
    wait_for(lambda: 0 < len(visible_rows(driver)) < 3 and set(visible_rows(driver)) == {"fail"}, timeout=30,
             what="the outcome filter")
    Select(driver.find_element(By.ID, "f-outcome")).select_by_value("")
    Select(driver.find_element(By.ID, "f-tag")).select_by_value(ui_support.EMOJI)
    wait_for(lambda: len(visible_rows(driver)) == 1, timeout=30, what="the tag filter")
    Select(driver.find_element(By.ID, "f-tag")).select_by_value("")
    search = driver.find_element(By.ID, "search")
    search.send_keys("team-bi")
    wait_for(lambda: len(visible_rows(driver)) == 1, timeout=30, what="the search box")
    search.clear()
    search.send_keys("no such dataset")
    wait_for(lambda: driver.find_element(By.ID, "no-match").is_displayed(), timeout=30, what="no match")
    search.clear()
    search.send_keys(" ")  # clear() fires no input event
    wait_for(lambda: len(visible_rows(driver)) == 3, timeout=30, what="the filters reset")
    assert ui_support.IMG in driver.find_element(By.ID, "datasets").text


def check_dataset(driver: Any) -> None:
    """Charts draw, hostile strings are text, the runbook is no link, pii values are absent."""
    wait_for(lambda: visible_plots(driver) >= 4 and charts_drawn(driver) == visible_plots(driver),
             timeout=60, what="every chart of the dataset page drawn")
    body = driver.find_element(By.TAG_NAME, "body").text
    assert ui_support.SCRIPT in body and ui_support.IMG in body and ui_support.EMOJI in body
    assert ui_support.LINK in body
    assert not driver.find_elements(By.CSS_SELECTOR, "a[href^='javascript']")
    assert driver.find_elements(By.CSS_SELECTOR, "table.sample td")  # failing rows, shown
    assert_not_pwned(driver)


def test_the_live_ui_in_chromium(tmp_path: Path, browser: Any) -> None:
    config = ui_support.build(tmp_path, auth=ui_support.TOKEN)
    ui_support.seed(config)
    daemon = start_daemon(config)
    try:
        wait_for(lambda: daemon.get("/readyz").status == 200, what="the first run of every dataset")
        base = daemon.base_url
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                                {"headers": {"Authorization": f"Bearer {ui_support.TOKEN}"}})
        console_errors(browser)
        open_page(browser, base + "/")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Data health"
        check_overview(browser)
        screenshot(browser, "live-overview")
        browser.find_element(By.LINK_TEXT, "orders").click()
        wait_for(lambda: browser.current_url.endswith("/datasets/orders"), timeout=60, what="dataset link")
        check_dataset(browser)
        screenshot(browser, "live-dataset")
        browser.find_element(By.LINK_TEXT, "customers").click()  # its upstream
        wait_for(lambda: browser.current_url.endswith("/datasets/customers"), timeout=60,
                 what="the upstream link")
        browser.find_element(By.PARTIAL_LINK_TEXT, "Incidents").click()
        wait_for(lambda: browser.current_url.endswith("/incidents"), timeout=60, what="incidents link")
        table = browser.find_element(By.CSS_SELECTOR, "table.incidents").text
        assert "acked" in table and "oncall" in table and ui_support.SCRIPT in table
        browser.find_element(By.XPATH, "//table[@class='incidents']//summary[text()='All context']").click()
        assert ui_support.LINK in browser.find_element(By.CSS_SELECTOR, "dl.context").text
        assert_not_pwned(browser)
        screenshot(browser, "live-incidents")
        browser.find_element(By.LINK_TEXT, "Lineage").click()
        wait_for(lambda: browser.current_url.endswith("/lineage"), timeout=60, what="lineage link")
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.lineage g.node")) == 3
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.lineage path.edge")) == 2
        screenshot(browser, "live-lineage")
        assert console_errors(browser) == []
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
        open_page(browser, base + "/")
        assert "authentication required" in browser.find_element(By.TAG_NAME, "body").text
        console_errors(browser)  # the 401 is logged, as it should be
    finally:
        daemon.kill()


def test_the_report_in_chromium(tmp_path: Path, browser: Any) -> None:
    config = ui_support.build(tmp_path)
    ui_support.seed(config)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "-c", str(config), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    console_errors(browser)
    open_page(browser, out.as_uri())
    assert browser.find_element(By.CSS_SELECTOR, "#overview").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, "#incidents").is_displayed()
    check_overview(browser)
    screenshot(browser, "report-overview")
    browser.find_element(By.CSS_SELECTOR, "#datasets a.ds[href='#ds-orders']").click()
    wait_for(lambda: browser.find_element(By.ID, "ds-orders").is_displayed(), timeout=60, what="report link")
    assert not browser.find_element(By.ID, "overview").is_displayed()
    check_dataset(browser)
    screenshot(browser, "report-dataset")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Incidents").click()
    wait_for(lambda: browser.find_element(By.ID, "incidents").is_displayed(), timeout=60, what="incidents")
    screenshot(browser, "report-incidents")
    browser.find_element(By.LINK_TEXT, "Lineage").click()
    wait_for(lambda: browser.find_element(By.ID, "lineage").is_displayed(), timeout=60, what="lineage")
    screenshot(browser, "report-lineage")
    browser.get("about:blank")  # a shared link to a dataset, opened afresh, draws its charts
    open_page(browser, f"{out.as_uri()}#ds-orders")
    wait_for(lambda: charts_drawn(browser) == visible_plots(browser) > 0, timeout=60, what="charts at a link")
    assert_not_pwned(browser)
    assert console_errors(browser) == []
