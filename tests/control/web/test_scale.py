"""5,000 items in the queue: the API pages quickly, the page stays responsive while it
pages, "select all" takes every item, and a 500-item "maybe" group is confirmed in
chunks. The items are made without analysing anything (web_helpers.big_queue); the
daemon, the web server and the browser are real.

The group test files 500 items; the others expect the queue with or without them, so
they pass in any order."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ...helpers import DaemonProcess
from ...web_helpers import MAYBE_MAGENTA, WebProcess, big_queue, browser, close_browser, colour_count

COUNT, NEAR = 5000, 500  # items, and those "maybe Near_Person"


class Big:
    def __init__(self, web: WebProcess, driver: Any, root: Path) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.web, self.driver, self.root = web, driver, root
        self.By, self.wait = By, WebDriverWait(driver, 120)

    def page_info(self) -> str:
        return str(self.driver.find_element(self.By.ID, "page-info").text)

    def total(self) -> int:
        """How many items the queue has now: all, or all but the group once confirmed."""
        total: int = httpx.get(self.web.base + "/api/review/list", params={"limit": 1},
                               headers=self.web.auth, timeout=60).json()["total"]
        assert total in (COUNT, COUNT - NEAR)
        return total


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Big]:
    # On a tmpfs when there is one: 5,000 journaled moves fsync their folders.
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="facewatchd-big-", dir=shm)) if shm.is_dir() else \
        tmp_path_factory.mktemp("big")
    try:
        with DaemonProcess(big_queue(root, COUNT)) as daemon:
            daemon.ready()
            with WebProcess(daemon.config) as web:
                driver = browser()
                try:
                    yield Big(web, driver, root)
                finally:
                    close_browser(driver)
                assert web.stop() == 0
            assert daemon.stop() == 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_api_pages_through_5000_items_quickly(big: Big) -> None:
    def page(**params: Any) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        answer = httpx.get(big.web.base + "/api/review/list", params={"limit": 100, "order": "suggested", **params},
                           headers=big.web.auth, timeout=60).json()
        return answer, time.monotonic() - started

    first, cold = page()
    total = first["total"]
    assert total == len(first["ids"]) == big.total()
    if total == COUNT:  # the group not confirmed yet
        (group,) = first["groups"]
        assert (group["person"], group["count"]) == ("Near_Person", NEAR)
        assert all(i["suggestion"]["person"] == "Near_Person" for i in first["items"])
    last, warm = page(offset=total - 100)
    assert len(last["items"]) == 100 and last["items"][-1]["id"] == first["ids"][-1]
    assert cold < 10 and warm < 1.0, (cold, warm)  # decided once, then remembered


def test_the_page_shows_5000_items_a_page_at_a_time_without_freezing(big: Big) -> None:
    driver, By = big.driver, big.By
    total = big.total()
    started = time.monotonic()
    driver.get(big.web.url)
    big.wait.until(lambda d: d.execute_script("return document.body.dataset.loading") == "no"
                   and len(d.find_elements(By.CSS_SELECTOR, "#grid .tile")) == 100)
    assert time.monotonic() - started < 15
    pages = -(-total // 100)
    assert big.page_info().startswith(f"1–100 of {total:,} items · page 1 of {pages}")
    big.wait.until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#grid .tile img')].slice(0, 12)"
        ".every(i => i.complete && i.naturalWidth)"))
    if total == COUNT:
        group = driver.find_element(By.CSS_SELECTOR, "#grid .group")
        assert "maybe Near_Person" in group.text and f"{NEAR} items" in group.text
        assert colour_count(driver.get_screenshot_as_png(), MAYBE_MAGENTA) > 1000
    for number in range(2, 7):  # PageDown, five times: each page in well under two seconds
        started = time.monotonic()
        driver.find_element(By.TAG_NAME, "body").send_keys("\ue00f")  # PageDown
        big.wait.until(lambda d, n=number: f"page {n} of {pages}" in big.page_info())
        assert time.monotonic() - started < 2.0
        started = time.monotonic()  # the main thread is free: a script runs at once
        assert driver.execute_script("return document.querySelectorAll('#grid .tile').length") == 100
        assert time.monotonic() - started < 0.5
    driver.find_element(By.ID, "select-all").click()
    assert driver.find_element(By.ID, "selected-count").text == f"{total:,} selected"
    driver.find_element(By.ID, "clear").click()


def test_a_group_of_500_is_confirmed_in_chunks(big: Big) -> None:
    driver, By = big.driver, big.By
    driver.get(big.web.url)
    big.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#grid .group .confirm-group"))
    driver.find_element(By.CSS_SELECTOR, "#grid .group .confirm-group").click()
    big.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#group-rows input[name="teach"]:checked')) == NEAR)
    driver.find_element(By.ID, "group-ok").click()
    big.wait.until(lambda d: f"Added as references of Near_Person: {NEAR} items" in
                   d.find_element(By.ID, "toast").text)
    big.wait.until(lambda d: big.page_info().startswith(f"1–100 of {COUNT - NEAR:,} items"))
    assert len(list((big.root / "sorted" / "Near_Person").rglob("*.jpg"))) == NEAR
