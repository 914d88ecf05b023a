"""The review page in a real browser (Debian's chromium, through Selenium and Debian's
chromedriver) on a real daemon with real photos: a person clearing a queue by looking
and clicking. Screenshots are checked by their pixels (the face boxes' colours,
photographs' many colours), not only the DOM; with FACEWATCHD_SCREENSHOTS set they
are kept there too.

The tests share the daemon, the page and the browser, not their items: each acts on
photos no other test touches, so they pass in any order. When the module ends, every
byte that went in is still somewhere, exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from facewatchd.control.client import Client, socket_path

from ...helpers import DATA, ROOT, DaemonProcess, files_under, sha256, wait_until
from ...web_helpers import (
    KNOWN_GREEN,
    LEONARD,
    MAYBE_MAGENTA,
    UNKNOWN_ORANGE,
    WebProcess,
    browser,
    close_browser,
    colour_count,
    distinct_colours,
    tree_with_a_lookalike,
)

SIMM, ROSE, PENNY, RAJ = "John_Simm", "Rose_Leslie", "bbt_penny", "bbt_raj"
# What each test acts on, by the name it arrives as (all dropped at the start).
PHOTOS = {
    "simm": {p: f"people/{SIMM}/{p}" for p in ("000288_00470387.jpg", "000297_00470170.jpg",
                                                 "000300_00470148.jpg", "000304_00470122.jpg",
                                                 "000305_00470162.jpg")},
    "rose": {"rose_1.jpg": f"people/{ROSE}/img1.jpg", "rose_2.jpg": f"people/{ROSE}/img2.jpg"},
    "bin": {"cat.jpg": "no_faces/cat.jpg"},
    "lightbox": {"pair.jpg": "groups/voc_2009_004587.jpg"},
    "maybe": {"leonard5.png": f"people/{LEONARD}/leonard5.png"},
    "other": {"lady.jpg": "groups/lady.jpg", "broken.jpg": b"\xff\xd8\xff\xe0 this is not a picture"},
}


class Page:
    def __init__(self, daemon: DaemonProcess, web: WebProcess, driver: Any, root: Path, shots: Path,
                 dropped: Counter[str]) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.daemon, self.web, self.driver, self.root, self.shots = daemon, web, driver, root, shots
        self.dropped = dropped  # every file that went in, by content: none may be lost
        self.By, self.wait = By, WebDriverWait(driver, 60)

    def drop(self, folder: str, photos: dict[str, str]) -> dict[str, int]:
        """Copy photos of the data set into inbound/folder of the running daemon, wait
        until they are sorted, and return their review items by name."""
        (self.root / "inbound" / folder).mkdir(exist_ok=True)
        processed = self.daemon.status()["processed"]
        for name, source in photos.items():
            target = self.root / "inbound" / folder / name
            shutil.copy2(DATA / source, target)
            self.dropped[sha256(target)] += 1
        self.daemon.wait_idle(processed + len(photos))
        return {name: item for name, item in self.ids(folder).items() if name in photos}

    def reload(self, view: str) -> None:
        """Show a view as the daemon has it now: opening a view loads it again."""
        for shown in ("people" if view != "people" else "queue", view):
            self.view(shown)
            # Loaded, or a test would find the view's old elements before they are replaced.
            self.wait.until(lambda d: d.execute_script("return document.body.dataset.loading") == "no")

    def api(self, path: str, **params: Any) -> Any:
        return httpx.get(self.web.base + path, params=params, headers=self.web.auth, timeout=60).json()

    def ids(self, folder: str) -> dict[str, int]:
        """The review items that arrived in inbound/folder, by name."""
        return {Path(i["source"]).name: i["id"] for i in self.api("/api/review/list")["items"]
                if Path(i["source"]).parent.name == folder}

    def shot(self, name: str) -> bytes:
        png: bytes = self.driver.get_screenshot_as_png()
        (self.shots / name).write_bytes(png)
        return png

    def view(self, name: str) -> None:
        """Open a view, seen from its top (a test before may have scrolled the page)."""
        link = self.driver.find_element(self.By.CSS_SELECTOR, f'a[data-view="{name}"]')
        link.click()
        # The page goes there on the hashchange that follows: until then the old view is
        # the one shown (and loaded).
        self.wait.until(lambda d: link.get_attribute("aria-current") == "page")
        self.driver.execute_script("window.scrollTo(0, 0)")

    def settled(self, selector: str = "#grid .tile") -> list[Any]:
        """Wait for the page to be loaded and every picture in `selector` decoded."""
        self.wait.until(lambda d: d.execute_script("return document.body.dataset.loading") == "no")
        self.wait.until(lambda d: d.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' img')]"
            ".every(i => i.complete && i.naturalWidth > 0)", selector))
        return list(self.driver.find_elements(self.By.CSS_SELECTOR, selector))

    def tile(self, item: int) -> Any:
        return self.driver.find_element(self.By.CSS_SELECTOR, f'#grid .tile[data-id="{item}"]')

    def centre(self, element: Any) -> Any:
        """The element scrolled to the middle of the window, as a person would before
        clicking: WebDriver scrolls only an element out of view, so a tile half under
        the fixed action bar would have the bar take the click."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        return element

    def click(self, element: Any) -> None:
        self.centre(element).click()

    def key(self, keys: str) -> None:
        self.driver.find_element(self.By.TAG_NAME, "body").send_keys(keys)

    def toast(self) -> str:
        return str(self.driver.find_element(self.By.ID, "toast").text)

    def toast_says(self, text: str) -> None:
        """Wait for the toast to say `text`; else fail with what it said last."""
        from selenium.common.exceptions import TimeoutException

        try:
            self.wait.until(lambda d: text in self.toast())
        except TimeoutException:
            last = self.driver.execute_script("return document.getElementById('toast').textContent")
            raise AssertionError(f"the toast said {last!r}, not {text!r}") from None


@pytest.fixture(scope="module")
def page(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    root = tmp_path_factory.mktemp("page")
    config = tree_with_a_lookalike(root, data)
    for folder, photos in PHOTOS.items():
        (root / "inbound" / folder).mkdir()
        for name, source in photos.items():
            target = root / "inbound" / folder / name
            if isinstance(source, bytes):
                target.write_bytes(source)
            else:
                shutil.copy2(data / source, target)
    dropped = Counter(sha256(p) for p in files_under(root / "inbound"))
    shots = Path(os.environ.get("FACEWATCHD_SCREENSHOTS", root / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        daemon.wait_idle(sum(dropped.values()))
        with WebProcess(config) as web:
            driver = browser()
            try:
                driver.get(web.url)
                yield Page(daemon, web, driver, root, shots, dropped)
            finally:
                close_browser(driver)
            assert web.stop() == 0
        assert daemon.stop() == 0
    found: Counter[str] = Counter()
    inodes = set()
    for path in files_under(root / "inbound", root / "sorted", root / "review"):
        st = path.stat()
        if (st.st_dev, st.st_ino) not in inodes:
            inodes.add((st.st_dev, st.st_ino))
            found[sha256(path)] += 1
    assert found == dropped  # nothing the page did lost or doubled a byte


def test_the_grid_shows_the_queues_thumbnails_with_face_boxes(page: Page) -> None:
    page.view("queue")
    tiles = page.settled()
    listed = page.api("/api/review/list")
    assert len(tiles) == listed["total"]
    # The header's count comes with the status, polled every 4 s.
    wait_until(lambda: page.driver.find_element(page.By.ID, "count-review").text == str(listed["total"]),
               10, why="the header's count")
    png = page.shot("queue-desktop.png")
    assert distinct_colours(png) > 5000  # photographs, not empty frames or broken images
    assert colour_count(png, UNKNOWN_ORANGE) > 1000, "no unknown-face boxes drawn"
    loaded = page.driver.execute_script(
        "return [...document.querySelectorAll('#grid .tile img')].map(i => i.naturalWidth)")
    assert len(loaded) == sum(1 for i in listed["items"] if i["thumbnail"]) and min(loaded) >= 100
    broken = page.tile(page.ids("other")["broken.jpg"])
    assert "no picture" in broken.text and "failed" in broken.text


def test_on_a_phone_sized_screen_it_fits(page: Page) -> None:
    page.view("queue")
    page.driver.set_window_size(390, 844)
    try:
        page.settled()
        width = page.driver.execute_script("return [document.documentElement.scrollWidth, innerWidth]")
        assert width[0] <= width[1], "wider than the screen"
        columns = page.driver.execute_script(
            "return getComputedStyle(document.getElementById('grid')).gridTemplateColumns.split(' ').length")
        assert columns == 2
        png = page.shot("queue-phone.png")
        assert distinct_colours(png) > 3000 and colour_count(png, UNKNOWN_ORANGE) > 300
    finally:
        page.driver.set_window_size(1280, 900)


def test_a_maybe_group_heads_the_grid_and_is_confirmed(page: Page) -> None:
    page.view("queue")
    page.settled()
    leonard = page.ids("maybe")["leonard5.png"]
    first = page.driver.find_element(page.By.CSS_SELECTOR, "#grid > *")
    assert first.get_attribute("class") == "group" and first.text.startswith("maybe ")  # suggestions first
    group = page.driver.find_element(page.By.CSS_SELECTOR, f'#grid .group[data-person="{LEONARD}"]')
    assert group.text.startswith(f"maybe {LEONARD}") and "1 item" in group.text
    assert page.driver.execute_script("return arguments[0].nextElementSibling.dataset.id", group) == str(leonard)
    png = page.shot("maybe.png")
    assert colour_count(png, MAYBE_MAGENTA) > 150, "no 'maybe' face box drawn"
    page.click(group.find_element(page.By.CSS_SELECTOR, ".confirm-group"))
    page.wait.until(lambda d: d.find_element(page.By.ID, "group-dialog").get_attribute("open") is not None)
    page.click(page.driver.find_element(page.By.ID, "group-ok"))  # as ticked (test_teaching_page: unticked)
    wait_until((page.root / "sorted" / LEONARD / "maybe" / "leonard5.png").is_file, 60, "filed under Leonard")
    page.wait.until(lambda d: f"Added as references of {LEONARD}: 1 item" in page.toast())
    page.settled()
    assert not page.driver.find_elements(page.By.CSS_SELECTOR, f'#grid .tile[data-id="{leonard}"]')
    assert not page.driver.find_elements(page.By.CSS_SELECTOR, f'#grid .group[data-person="{LEONARD}"]')


def test_the_lightbox_opens_with_numbered_boxes_and_the_why_in_words(page: Page) -> None:
    from selenium.webdriver.common.keys import Keys

    driver, By = page.driver, page.By
    page.view("queue")
    page.settled()
    pair = page.ids("lightbox")["pair.jpg"]
    page.click(page.tile(pair).find_element(By.CSS_SELECTOR, ".open"))
    page.wait.until(lambda d: d.find_element(By.ID, "lightbox").get_attribute("open") is not None)
    page.wait.until(lambda d: "none of the 2 faces" in d.find_element(By.ID, "lb-rule").text)
    page.settled("#lb-stage")
    assert driver.find_element(By.ID, "lb-title").text.startswith(f"#{pair}")
    faces = driver.find_elements(By.CSS_SELECTOR, "#lb-faces li")
    assert len(faces) == 2 and "beyond the tolerance" in faces[0].text
    assert [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#lb-stage .face span")] == ["1", "2"]
    png = page.shot("lightbox.png")
    natural = driver.execute_script("return document.querySelector('#lb-stage img').naturalWidth")
    with Image.open(page.root / "review" / "lightbox" / "pair.jpg") as original:
        assert natural == original.width  # the file itself, not its thumbnail
    assert colour_count(png, UNKNOWN_ORANGE) > 800 and distinct_colours(png) > 5000
    page.key(Keys.ARROW_RIGHT)
    page.wait.until(lambda d: not d.find_element(By.ID, "lb-title").text.startswith(f"#{pair}"))
    page.key(Keys.ARROW_LEFT)
    page.wait.until(lambda d: d.find_element(By.ID, "lb-title").text.startswith(f"#{pair}"))
    page.key(Keys.ESCAPE)
    page.wait.until(lambda d: d.find_element(By.ID, "lightbox").get_attribute("open") is None)


def test_a_batch_keep_moves_the_files(page: Page) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver, By = page.driver, page.By
    page.view("queue")
    page.settled()
    ids = page.ids("rose")
    first, second = page.tile(ids["rose_1.jpg"]), page.tile(ids["rose_2.jpg"])
    # Shift-click selects the range between; then plain clicks pick exactly these two.
    page.click(first)
    page.centre(second)
    ActionChains(driver).key_down(Keys.SHIFT).click(second).key_up(Keys.SHIFT).perform()
    tiles = page.settled()
    between = abs(tiles.index(first) - tiles.index(second)) + 1
    assert driver.find_element(By.ID, "selected-count").text == f"{between} selected"
    driver.find_element(By.ID, "clear").click()
    page.click(first)
    page.click(second)
    assert driver.find_element(By.ID, "selected-count").text == "2 selected"
    assert first.get_attribute("aria-selected") == "true"
    page.shot("selected.png")
    name = driver.find_element(By.ID, "person-name")
    name.send_keys(ROSE)
    driver.find_element(By.ID, "keep").click()
    # Nobody is called that yet: the page asks before it makes someone new.
    page.wait.until(lambda d: d.switch_to.alert)
    assert f"Nobody is called {ROSE} yet" in driver.switch_to.alert.text
    driver.switch_to.alert.accept()
    for photo in ("rose_1.jpg", "rose_2.jpg"):
        wait_until((page.root / "sorted" / ROSE / "rose" / photo).is_file, 60, f"{photo} kept")
    page.wait.until(lambda d: f"Kept as {ROSE}: 2 items" in page.toast())
    assert not page.ids("rose")
    name.clear()


def test_delete_then_restore_round_trips(page: Page) -> None:
    from selenium.webdriver.common.keys import Keys

    driver, By = page.driver, page.By
    page.view("queue")
    page.settled()
    cat = page.ids("bin")["cat.jpg"]
    page.click(page.tile(cat))
    page.key(Keys.DELETE)
    wait_until((page.root / "review" / "trash" / "bin" / "cat.jpg").is_file, 60, "cat.jpg in the trash")
    page.view("trash")
    trashed = page.settled("#trash-grid .tile")
    assert [t.get_attribute("data-id") for t in trashed] == [str(cat)]
    assert distinct_colours(page.shot("trash.png")) > 2000  # its thumbnail is there
    page.click(trashed[0])
    driver.find_element(By.ID, "restore").click()
    wait_until((page.root / "review" / "bin" / "cat.jpg").is_file, 60, "cat.jpg back in review")
    page.wait.until(lambda d: d.find_element(By.ID, "trash-empty").is_displayed())
    page.view("queue")
    page.settled()
    assert page.ids("bin")["cat.jpg"] == cat  # the same item again


def test_naming_a_cluster_empties_it_and_undo_brings_it_back(page: Page) -> None:
    driver, By = page.driver, page.By
    page.view("clusters")
    page.settled("#clusters .crop")
    simm = set(page.ids("simm").values())
    (card,) = [c for c in driver.find_elements(By.CSS_SELECTOR, "#clusters .cluster")
               if {int(f.text.split()[0][1:]) for f in c.find_elements(By.CSS_SELECTOR, "figcaption")} <= simm]
    crops = card.find_elements(By.CSS_SELECTOR, ".crop")
    assert len(crops) == 5
    png = page.shot("clusters.png")
    assert distinct_colours(png) > 3000
    page.click(card.find_elements(By.CSS_SELECTOR, ".out-button")[-1])  # one face taken out
    assert "1 taken out" in card.text
    card.find_element(By.CSS_SELECTOR, "input").send_keys(SIMM)
    page.click(card.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    page.wait.until(lambda d: f"Cluster named {SIMM}" in page.toast())
    page.settled("#clusters .crop")
    assert not page.ids("simm")
    # The one taken out is filed too: it matches the four others' faces.
    assert len(list((page.root / "sorted" / SIMM / "simm").iterdir())) == 5
    assert len(page.api("/api/references", person=SIMM)) == 4
    page.wait.until(lambda d: d.find_element(By.ID, "undo").is_enabled())
    page.key("u")  # undo: back in review, and his references disabled
    wait_until(lambda: len(page.ids("simm")) == 5, 60, "undone")
    assert SIMM not in page.api("/api/status")["references"]


def test_people_shows_references_and_a_bad_one_can_be_disabled(page: Page) -> None:
    driver, By = page.driver, page.By
    page.view("people")
    crops = page.settled("#people .crop")
    assert len(crops) >= 7
    leonard = driver.find_element(By.CSS_SELECTOR, f'#people .person[data-person="{LEONARD}"]')
    # His own tolerance, from the file, in a field (test_settings_page changes one).
    tolerance = leonard.find_element(By.CSS_SELECTOR, f'.setting[data-key="persons.{LEONARD}.tolerance"]')
    assert tolerance.find_element(By.CSS_SELECTOR, "input").get_attribute("value") == "0.55"
    assert tolerance.find_element(By.CSS_SELECTOR, ".source").text == "file"
    png = page.shot("people.png")
    assert colour_count(png, KNOWN_GREEN) > 1500 and distinct_colours(png) > 3000
    biden = driver.find_element(By.CSS_SELECTOR, '#people .person[data-person="Joe_Biden"]')
    (ref,) = biden.find_elements(By.CSS_SELECTOR, ".crop")
    ref_id = int(ref.get_attribute("data-ref"))

    def active() -> bool:
        return bool(next(r for r in page.api("/api/references") if r["id"] == ref_id)["active"])

    page.click(ref.find_element(By.CSS_SELECTOR, "button"))
    wait_until(lambda: not active(), 60, "the reference disabled")
    page.settled("#people .crop")
    biden = driver.find_element(By.CSS_SELECTOR, '#people .person[data-person="Joe_Biden"]')
    assert "disabled" in biden.find_element(By.CSS_SELECTOR, ".crop").get_attribute("class")
    page.click(biden.find_element(By.CSS_SELECTOR, ".crop button"))  # and enabled again
    wait_until(active, 60, "the reference enabled again")


CAFE = os.fsdecode(b"Caf\xe9.jpg")  # from an old camera card or a Windows share: Latin-1, not UTF-8
SHOWN = "Caf\\xe9.jpg"  # as the page shows it: the byte that is not UTF-8, escaped


def test_a_name_that_is_not_utf8_is_listed_shown_and_served(page: Page, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    driver, By = page.driver, page.By
    folder = page.root / "inbound" / "names"
    folder.mkdir()
    dropped = folder / CAFE
    processed = page.daemon.status()["processed"]
    shutil.copy2(DATA / "no_faces" / "pilatus_mountain.jpg", dropped)
    page.dropped[sha256(dropped)] += 1
    page.daemon.wait_idle(processed + 1)
    in_review = page.root / "review" / "names" / CAFE
    assert os.fsencode(in_review).endswith(b"/names/Caf\xe9.jpg") and in_review.is_file()
    # The control socket answers with the name as it is.
    client = Client(socket_path(page.daemon.config))
    try:
        (item,) = [i for i in client.call("review.list", {})["items"] if Path(i["source"]).parent == folder]
    finally:
        client.close()
    assert os.fsencode(item["path"]) == os.fsencode(in_review) and item["reason"] == "no_face"
    # facewatchctl prints it as the bytes it is, and as JSON escapes that come back as it.
    ctl = [sys.executable, "-m", "facewatchd.control.ctl", "--config", str(page.daemon.config)]
    listed = subprocess.run([*ctl, "review", "list"], capture_output=True, cwd=ROOT, timeout=60)
    assert listed.returncode == 0 and os.fsencode(in_review) in listed.stdout, listed.stderr
    as_json = subprocess.run([*ctl, "--json", "review", "list"], capture_output=True, cwd=ROOT, timeout=60)
    assert as_json.returncode == 0 and as_json.stdout.isascii()
    assert os.fsencode(in_review) in {os.fsencode(i["path"]) for i in json.loads(as_json.stdout)}
    sheet = tmp_path / "sheet.html"
    made = subprocess.run([*ctl, "review", "sheet", str(sheet)], capture_output=True, cwd=ROOT, timeout=60)
    assert made.returncode == 0 and SHOWN in sheet.read_text(encoding="utf-8"), made.stderr
    # The page lists the whole queue with it, and shows it readably.
    before = len(os.listdir(f"/proc/{page.web.proc.pid}/fd"))
    page.reload("queue")
    page.settled()
    tile = page.tile(item["id"])
    assert tile.get_attribute("title") == SHOWN
    page.click(tile.find_element(By.CSS_SELECTOR, ".open"))
    page.wait.until(lambda d: d.find_element(By.ID, "lightbox").get_attribute("open") is not None)
    page.wait.until(lambda d: d.find_element(By.ID, "lb-title").text.startswith(f"#{item['id']}"))
    page.settled("#lb-stage")
    assert driver.find_element(By.ID, "lb-path").text == f"{page.root}/review/names/{SHOWN}"
    natural = driver.execute_script("return document.querySelector('#lb-stage img').naturalWidth")
    with Image.open(in_review) as original:
        assert natural == original.width  # the file itself
    page.wait.until(lambda d: "found as" in d.find_element(By.ID, "lb-rule").text)
    assert f"found as {folder}/{SHOWN}" in driver.find_element(By.ID, "lb-rule").text
    page.key(Keys.ESCAPE)
    # Served as it is, again and again, and the server keeps no descriptor open.
    for _ in range(10):
        image = httpx.get(f"{page.web.base}/api/review/{item['id']}/image", headers=page.web.auth, timeout=60)
        assert image.status_code == 200 and image.content == in_review.read_bytes()
    time.sleep(0.5)  # the connections closed
    assert len(os.listdir(f"/proc/{page.web.proc.pid}/fd")) < before + 5


def cluster_card(page: Page, items: set[int]) -> Any:
    """The card of the cluster whose faces are all of these items."""
    (card,) = [c for c in page.driver.find_elements(page.By.CSS_SELECTOR, "#clusters .cluster")
               if {int(f.text.split()[0][1:]) for f in c.find_elements(page.By.CSS_SELECTOR, "figcaption")} <= items]
    return card


def test_naming_a_cluster_that_grew_since_it_was_shown_teaches_nothing(page: Page) -> None:
    """The cluster is grouped again when the name arrives: a photo that came in since
    joined it, so the faces are not those shown, and nothing is taught."""
    first = page.drop("penny", {f"penny{n}.png": f"people/{PENNY}/penny{n}.png" for n in (1, 2, 3, 4)})
    page.reload("clusters")
    page.settled("#clusters .crop")
    card = cluster_card(page, set(first.values()))
    shown = len(card.find_elements(page.By.CSS_SELECTOR, ".crop"))
    later = page.drop("penny-later", {"penny5.png": f"people/{PENNY}/penny5.png"})
    clusters = page.api("/api/clusters")["items"]
    assert any(later["penny5.png"] in c["items"] and len(c["faces"]) == shown + 1 for c in clusters)
    card.find_element(page.By.CSS_SELECTOR, "input").send_keys("Penny")
    page.click(card.find_element(page.By.CSS_SELECTOR, "button[type=submit]"))
    page.toast_says("has changed since it was shown")
    assert "Penny" not in page.api("/api/status")["references"]  # nothing taught
    assert len(page.ids("penny")) == 4 and len(page.ids("penny-later")) == 1  # nothing moved
    page.settled("#clusters .crop")  # shown again, as it is now: with the new face
    card = cluster_card(page, set(first.values()) | set(later.values()))
    assert len(card.find_elements(page.By.CSS_SELECTOR, ".crop")) == shown + 1
    card.find_element(page.By.CSS_SELECTOR, "input").send_keys("Penny")
    page.click(card.find_element(page.By.CSS_SELECTOR, "button[type=submit]"))
    page.toast_says("Cluster named Penny")
    assert len(page.api("/api/references", person="Penny")) == shown + 1


def test_undo_walks_back_this_pages_last_action_not_what_others_did_since(page: Page) -> None:
    driver, By = page.driver, page.By
    mine = page.drop("undo", {"a.jpg": "no_faces/cats.jpg", "b.jpg": "no_faces/cats_2.jpg",
                              "c.jpg": "no_faces/dogs.jpg"})
    page.reload("queue")
    page.settled()
    page.click(page.tile(mine["a.jpg"]))
    name = driver.find_element(By.ID, "person-name")
    name.clear()
    name.send_keys("Pets")
    driver.find_element(By.ID, "keep").click()
    page.wait.until(lambda d: d.switch_to.alert)  # someone new: asked once
    driver.switch_to.alert.accept()
    wait_until((page.root / "sorted" / "Pets" / "undo" / "a.jpg").is_file, 60, "a.jpg kept")
    page.toast_says("Kept as Pets: 1 item")
    name.clear()
    # Meanwhile another tab and a facewatchctl user act on the queue too.
    other = httpx.post(page.web.base + "/api/review/keep", headers=page.web.auth, timeout=60,
                       json={"ids": [mine["b.jpg"]], "to": str(page.root / "sorted")}).json()
    assert other["results"][0]["ok"]
    page.daemon.ctl("review", "keep", str(mine["c.jpg"]), "--to", str(page.root / "sorted"))
    page.click(driver.find_element(By.ID, "undo"))
    page.toast_says("Undone (Kept as Pets): 1 item")
    assert (page.root / "review" / "undo" / "a.jpg").is_file()
    assert (page.root / "sorted" / "undo" / "b.jpg").is_file() and (page.root / "sorted" / "undo" / "c.jpg").is_file()
    assert page.ids("undo") == {"a.jpg": mine["a.jpg"]}  # back as the same item; theirs stay


def test_ignoring_a_cluster_offers_no_undo(page: Page) -> None:
    """Ignoring hides a cluster and moves nothing: there is nothing for Undo to walk back,
    so none is offered."""
    driver, By = page.driver, page.By
    raj = page.drop("raj", {f"raj{n}.png": f"people/{RAJ}/raj{n}.png" for n in (1, 2, 3)})
    page.reload("clusters")
    page.settled("#clusters .crop")
    card = cluster_card(page, set(raj.values()))
    undo = driver.find_element(By.ID, "undo")
    before = (undo.is_enabled(), undo.get_attribute("title"))
    page.click(card.find_element(By.XPATH, ".//button[text()='Ignore']"))
    page.toast_says("Cluster ignored")
    assert not driver.find_elements(By.CSS_SELECTOR, "#toast button")
    assert (undo.is_enabled(), undo.get_attribute("title")) == before
    page.settled("#clusters .crop")
    assert not [c for c in page.api("/api/clusters")["items"] if set(c["items"]) & set(raj.values())]
