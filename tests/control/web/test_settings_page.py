"""The page's Settings and Dashboard views, the pause control and keeping into a folder,
in a real browser (Debian's chromium through Selenium) on a real daemon with real
photos, each checked against what facewatchctl says and where the files are.

The module has a daemon of its own (it pauses it and changes its settings); its tests
share it, the page and the browser, not their photos, so they pass in any order. With
FACEWATCHD_SCREENSHOTS set the screenshots are kept there (the docs' are made by
shots.py, on a month of history)."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from ...helpers import DATA, DaemonProcess, account, files_under, sha256, wait_until
from ...web_helpers import LEONARD, WebProcess, browser, browsing, close_browser, tree_with_a_lookalike
from .test_page import Page

# Each test's own photos (a content seen before would be a duplicate): both sure matches.
BIDEN, OBAMA = "people/Joe_Biden/biden2.jpg", "people/Barack_Obama/obama_small.jpg"
ME = pwd.getpwuid(os.getuid()).pw_name  # who the daemon says changed a setting: the page runs as us


@pytest.fixture(scope="module")
def page(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    root = tmp_path_factory.mktemp("settings-page")
    config = tree_with_a_lookalike(root, data)
    shots = Path(os.environ.get("FACEWATCHD_SCREENSHOTS", root / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    dropped: Counter[str] = Counter()
    with browsing(config) as (daemon, web, driver):
        yield Page(daemon, web, driver, root, shots, dropped)
    # Nothing the page did lost or doubled a byte.
    assert account([root / "inbound", root / "sorted", root / "review"]) == dropped


def settings(page: Page) -> dict[str, dict[str, Any]]:
    """What `facewatchctl settings --json` says, by key."""
    return {row["key"]: row for row in json.loads(page.daemon.ctl("--json", "settings").stdout)}


def field(page: Page, key: str, within: str = "#settings") -> Any:
    """The row of a setting, once the view shows it."""
    selector = f'{within} .setting[data-key="{key}"]'
    page.wait.until(lambda d: d.find_elements(page.By.CSS_SELECTOR, selector))
    return page.centre(page.driver.find_element(page.By.CSS_SELECTOR, selector))


def type_into(page: Page, row: Any, text: str, then: str) -> None:
    """Type `text` over the field's value, as a person does (select it all, type), then
    `then` (Enter, Tab): WebDriver's clear() would send the emptied field first."""
    from selenium.webdriver.common.keys import Keys

    box = row.find_element(page.By.CSS_SELECTOR, "input")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text, then)


def value_of(row: Any) -> str:
    return str(row.find_element("css selector", "input").get_attribute("value"))


def fits(page: Page) -> None:
    width = page.driver.execute_script("return [document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1], "wider than the screen"


def test_settings_show_what_the_cli_set_refuse_what_the_file_would_and_apply_the_rest(page: Page) -> None:
    from selenium.webdriver.common.keys import Keys

    page.daemon.ctl("set", "recognition.tolerance", "0.58")
    page.reload("settings")
    row = field(page, "recognition.tolerance")
    page.wait.until(lambda d: value_of(row) == "0.58")
    assert row.find_element(page.By.CSS_SELECTOR, ".source").text.startswith(f"set by {ME} at ")
    assert row.find_element(page.By.CSS_SELECTOR, ".reset").is_displayed()
    # Grouped as the file is, each field typed as its value is; what is read at start only cannot be changed.
    groups = page.driver.find_elements(page.By.CSS_SELECTOR, "#settings .settings-group")
    assert [g.get_attribute("data-group") for g in groups] == [
        "[daemon]", "[recognition]", "[review]", "[xmp]", "[[watch]] #1", "[persons.NAME]"]
    checkbox = field(page, "recognition.auto_reference").find_element(page.By.CSS_SELECTOR, "input")
    assert checkbox.get_attribute("type") == "checkbox"
    assert row.find_element(page.By.CSS_SELECTOR, "input").get_attribute("type") == "number"
    socket = field(page, "daemon.socket")
    assert not socket.find_element(page.By.CSS_SELECTOR, "input").is_enabled()
    assert "read at start only" in socket.text
    assert field(page, f"persons.{LEONARD}.tolerance").find_element(page.By.CSS_SELECTOR, ".source").text == "file"

    row = field(page, "recognition.tolerance")
    type_into(page, row, "7", Keys.ENTER)
    refusal = row.find_element(page.By.CSS_SELECTOR, ".refusal")
    page.wait.until(lambda d: refusal.is_displayed())
    assert refusal.text == ("recognition.tolerance = 7 refused, nothing changed:"
                            " [recognition] tolerance: must be between 0 and 1, got 7.0"), refusal.text
    assert value_of(row) == "0.58"  # put back
    assert settings(page)["recognition.tolerance"]["value"] == 0.58  # and nothing changed

    type_into(page, row, "0.57", Keys.TAB)
    page.toast_says("recognition.tolerance = 0.57: in use now")
    now = settings(page)["recognition.tolerance"]
    assert (now["value"], now["source"], now["actor"]) == (0.57, "runtime", ME)
    assert not refusal.is_displayed() and value_of(row) == "0.57"
    # Someone without a tolerance of their own follows [recognition]'s.
    page.wait.until(lambda d: value_of(field(page, "persons.Joe_Biden.tolerance")) == "0.57")
    page.driver.execute_script("window.scrollTo(0, 0)")
    page.shot("settings.png")
    page.driver.set_window_size(390, 844)
    try:
        page.driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.3)  # laid out again
        fits(page)
        page.shot("settings-phone.png")
    finally:
        page.driver.set_window_size(1280, 900)

    page.click(row.find_element(page.By.CSS_SELECTOR, ".reset"))
    page.toast_says("recognition.tolerance = 0.56: the file's value again")
    assert settings(page)["recognition.tolerance"]["source"] == "default"
    page.wait.until(lambda d: not row.find_element(page.By.CSS_SELECTOR, ".reset").is_displayed())
    assert value_of(row) == "0.56" and row.find_element(page.By.CSS_SELECTOR, ".source").text == "default"


def test_a_persons_tolerance_is_changed_on_their_card(page: Page) -> None:
    from selenium.webdriver.common.keys import Keys

    key = f"persons.{LEONARD}.tolerance"
    page.reload("people")
    row = field(page, key, within=f'#people .person[data-person="{LEONARD}"]')
    assert value_of(row) == "0.55"
    type_into(page, row, "0.5", Keys.ENTER)
    page.toast_says(f"{key} = 0.5: in use now")
    assert (settings(page)[key]["value"], settings(page)[key]["source"]) == (0.5, "runtime")
    page.click(row.find_element(page.By.CSS_SELECTOR, ".reset"))
    page.toast_says(f"{key} = 0.55: the file's value again")
    assert (settings(page)[key]["value"], settings(page)[key]["source"]) == (0.55, "file")


def status(page: Page) -> dict[str, Any]:
    return page.daemon.status()


def test_the_pause_control_pauses_and_resumes_and_shows_a_pause_made_elsewhere(page: Page) -> None:
    By = page.By
    inbound = page.root / "inbound" / "pause"
    inbound.mkdir()
    banner = page.driver.find_element(By.ID, "paused-banner")
    button = page.driver.find_element(By.ID, "pause")
    try:
        page.reload("queue")
        page.wait.until(lambda d: button.is_enabled())
        assert not banner.is_displayed() and button.get_attribute("aria-pressed") == "false"
        page.click(button)
        page.toast_says("Paused: new files wait in inbound.")
        assert status(page)["paused"] is True
        assert banner.is_displayed() and "Paused: new files wait in inbound" in banner.text
        assert button.get_attribute("aria-pressed") == "true" and button.text == "Resume sorting"
        processed = status(page)["processed"]
        shutil.copy2(DATA / BIDEN, inbound / "biden.jpg")
        page.dropped[sha256(inbound / "biden.jpg")] += 1
        wait_until(lambda: status(page)["queued"] == 1, 60, lambda: status(page))
        time.sleep(1.5)  # well past the 0.3 s settle: still waiting
        assert (inbound / "biden.jpg").is_file() and status(page)["processed"] == processed
        page.view("dashboard")  # the banner is in every view
        assert banner.is_displayed()
        page.shot("paused.png")
        page.view("queue")
        page.click(button)  # resume
        page.toast_says("Sorting again")
        wait_until((page.root / "sorted" / "Joe_Biden" / "pause" / "biden.jpg").is_file, 60, lambda: status(page))
        assert not files_under(inbound) and status(page)["paused"] is False
        page.wait.until(lambda d: not banner.is_displayed())
        # Paused elsewhere: the status the page polls (every 4 s) says so.
        page.daemon.ctl("pause")
        page.wait.until(lambda d: banner.is_displayed())
        assert button.get_attribute("aria-pressed") == "true"
        page.click(page.driver.find_element(By.ID, "banner-resume"))
        page.wait.until(lambda d: not banner.is_displayed())
        assert status(page)["paused"] is False
    finally:
        if status(page)["paused"]:
            page.daemon.ctl("resume")


def test_the_dashboard_draws_todays_bar_once_a_file_was_sorted(page: Page) -> None:
    By = page.By
    page.drop("dashboard", {"obama.jpg": OBAMA, "cat.jpg": "no_faces/cat.jpg"})
    today = page.api("/api/stats", days=30)["days"][-1]
    assert today["day"] == date.today().isoformat() and today["to_people"] >= 1 and today["to_review"] >= 1
    page.reload("dashboard")
    selector = f'#dashboard svg g.day[data-day="{today["day"]}"]'
    page.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"{selector} rect.bar.to_people"))
    bar = page.driver.find_element(By.CSS_SELECTOR, selector)
    assert len(page.driver.find_elements(By.CSS_SELECTOR, "#dashboard svg g.day")) == 30
    title = page.driver.execute_script("return arguments[0].querySelector('title').textContent", bar)
    assert f"{today['to_people']} to people, {today['to_review']} to review" in title
    heights = page.driver.execute_script(
        "return [...arguments[0].querySelectorAll('rect.bar')].map(r => r.getBBox().height)", bar)
    assert len(heights) >= 2 and min(heights) > 0  # to people and to review, stacked
    totals = page.driver.find_element(By.CSS_SELECTOR, "#dashboard .totals").text
    assert "To people" in totals and "Match rate" in totals
    people = page.driver.find_element(By.CSS_SELECTOR, "#dashboard .counts").text
    assert "Barack_Obama" in people
    # The same numbers as a table, for whoever cannot see the chart.
    page.click(page.driver.find_element(By.CSS_SELECTOR, "#dashboard details summary"))
    cells = page.driver.find_elements(By.CSS_SELECTOR, f'#dashboard tr[data-day="{today["day"]}"] td')
    assert [c.text for c in cells[:2]] == [str(today["to_people"]), str(today["to_review"])]
    page.click(page.driver.find_element(By.CSS_SELECTOR, "#dashboard details summary"))
    page.driver.execute_script("window.scrollTo(0, 0)")
    page.shot("dashboard.png")
    page.driver.set_window_size(390, 844)
    try:  # drawn again at the phone's width
        page.wait.until(lambda d: d.execute_script(
            "return document.querySelector('#dashboard svg').getAttribute('width')") == str(
            d.execute_script("return document.querySelector('#dashboard .chart-box').clientWidth")))
        fits(page)
        page.shot("dashboard-phone.png")
    finally:
        page.driver.set_window_size(1280, 900)


def test_keep_into_a_folder_moves_an_item_there_and_a_folder_outside_is_refused(page: Page) -> None:
    from selenium.webdriver.common.keys import Keys

    By = page.By
    mine = page.drop("folder", {"dogs.jpg": "no_faces/dogs.jpg", "cats.jpg": "no_faces/cats.jpg"})
    page.reload("queue")
    page.settled()

    def keep_in(item: int, folder: str) -> None:
        page.click(page.tile(item))
        assert page.driver.find_element(By.ID, "selected-count").text == "1 selected"
        page.driver.find_element(By.ID, "keep-to").click()
        box = page.driver.find_element(By.ID, "folder-input")
        page.wait.until(lambda d: box.is_displayed())
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(folder, Keys.ENTER)

    keep_in(mine["dogs.jpg"], str(page.root / "sorted" / "Pets"))
    wait_until((page.root / "sorted" / "Pets" / "folder" / "dogs.jpg").is_file, 60, "dogs.jpg kept in Pets")
    page.toast_says(f"Kept in {page.root / 'sorted' / 'Pets'}: 1 item")
    assert "dogs.jpg" not in page.ids("folder")
    keep_in(mine["cats.jpg"], "/etc")
    page.toast_says("1 not done")
    assert "not inside" in page.toast()  # the daemon's reason
    assert (page.root / "review" / "folder" / "cats.jpg").is_file() and "cats.jpg" in page.ids("folder")
    page.driver.find_element(By.ID, "clear").click()


def test_the_dashboard_draws_a_month_with_days_the_daemon_was_off(tmp_path: Path) -> None:
    """On the docs' month of history (shots.py): a bar a day, none on the days the daemon
    did not run and the queue's line broken there, the totals those of `stats`."""
    from .shots import DAYS, OFF, month_of_history

    config = month_of_history(tmp_path)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        stats = json.loads(daemon.ctl("--json", "stats", "--days", str(DAYS)).stdout)["days"]
        with WebProcess(config) as web:
            driver = browser()
            try:
                page = Page(daemon, web, driver, tmp_path, tmp_path, Counter())
                driver.get(web.url + "#dashboard")
                page.wait.until(lambda d: len(d.find_elements(page.By.CSS_SELECTOR, "#dashboard svg g.day")) == DAYS)
                drawn = driver.execute_script(
                    "return [...document.querySelectorAll('#dashboard svg g.day')]"
                    ".map(g => [g.dataset.day, g.querySelectorAll('rect.bar').length])")
                assert [day for day, _ in drawn] == [d["day"] for d in stats]
                off = {(date.today() - timedelta(days=ago)).isoformat() for ago in OFF}
                assert {day for day, bars in drawn if not bars} >= off
                assert len(driver.find_elements(page.By.CSS_SELECTOR, "#dashboard .queue-line")) == 2
                handled = sum(d[k] for d in stats for k in ("to_people", "to_review", "duplicates", "failed"))
                total = driver.find_element(page.By.CSS_SELECTOR, "#dashboard .totals .total dd").text
                assert total == f"{handled:,}" and handled > 200
            finally:
                close_browser(driver)
            assert web.stop() == 0
        assert daemon.stop() == 0
