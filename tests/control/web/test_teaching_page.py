"""Teaching from the review page in a real browser (Debian's chromium through Selenium)
on a real daemon and a real `facewatchctl web`: a "maybe" group checked face by face
before it is taught, a person renamed from the People view, a face the detector
missed drawn in the lightbox, "not this person" from the lightbox and from a person's
gallery, and a merge. Each test has a daemon, a page and a browser of its own (the
order is random)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageOps

from ...helpers import DaemonProcess, wait_until
from ...web_helpers import LEONARD, WebProcess, browsing, tree_with_a_lookalike

DRAWN = (800, 500, 40, 76)  # where small_face puts the face: LEFT, TOP, WIDTH, HEIGHT
OLD_NAME, NEW_NAME = "Kit_Harington", "Jon_Snow"


class Page:
    def __init__(self, daemon: DaemonProcess, web: WebProcess, driver: Any, root: Path) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.daemon, self.web, self.driver, self.root = daemon, web, driver, root
        self.By, self.wait = By, WebDriverWait(driver, 60)

    def api(self, path: str, **params: Any) -> Any:
        return httpx.get(self.web.base + path, params=params, headers=self.web.auth, timeout=60).json()

    def ids(self, folder: str) -> dict[str, int]:
        return {Path(i["source"]).name: i["id"] for i in self.api("/api/review/list")["items"]
                if Path(i["source"]).parent.name == folder}

    def drop(self, folder: str, photos: dict[str, Path]) -> dict[str, int]:
        (self.root / "inbound" / folder).mkdir(exist_ok=True)
        processed = self.daemon.status()["processed"]
        for name, source in photos.items():
            shutil.copy2(source, self.root / "inbound" / folder / name)
        self.daemon.wait_idle(processed + len(photos))
        return {name: item for name, item in self.ids(folder).items() if name in photos}

    def view(self, name: str) -> None:
        """Open a view as the daemon has it now (leaving it first loads it again)."""
        other = "people" if name != "people" else "queue"
        for view in (other, name):
            self.open(view)
            self.loaded()
        self.driver.execute_script("window.scrollTo(0, 0)")

    def open(self, view: str) -> None:
        link = self.driver.find_element(self.By.CSS_SELECTOR, f'a[data-view="{view}"]')
        link.click()
        # The page goes there on the hashchange that follows: until then the old view is
        # the one shown (and loaded).
        self.wait.until(lambda d: link.get_attribute("aria-current") == "page")

    def loaded(self) -> None:
        self.wait.until(lambda d: d.execute_script("return document.body.dataset.loading") == "no")

    def images_loaded(self, selector: str) -> list[Any]:
        self.wait.until(lambda d: d.execute_script(
            "const all = [...document.querySelectorAll(arguments[0])];"
            "return all.length > 0 && all.every(i => i.complete && i.naturalWidth > 0)", selector))
        return list(self.driver.find_elements(self.By.CSS_SELECTOR, selector))

    def click(self, element: Any) -> None:
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def toast_says(self, text: str) -> None:
        from selenium.common.exceptions import TimeoutException

        try:
            self.wait.until(lambda d: text in d.find_element(self.By.ID, "toast").text)
        except TimeoutException:
            last = self.driver.execute_script("return document.getElementById('toast').textContent")
            raise AssertionError(f"the toast said {last!r}, not {text!r}") from None

    def open_dialog(self, id_: str) -> Any:
        self.wait.until(lambda d: d.find_element(self.By.ID, id_).get_attribute("open") is not None)
        return self.driver.find_element(self.By.ID, id_)

    def name(self, name: str, ok: bool = True) -> None:
        """Answer the name dialog."""
        dialog = self.open_dialog("name-dialog")
        field = dialog.find_element(self.By.ID, "name-input")
        field.clear()
        field.send_keys(name)
        self.click(dialog.find_element(self.By.ID, "name-ok" if ok else "name-cancel"))


@pytest.fixture
def page(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    root = tmp_path_factory.mktemp("teaching")
    config = tree_with_a_lookalike(root, data)
    with browsing(config) as (daemon, web, driver):
        yield Page(daemon, web, driver, root)


def test_a_group_is_checked_face_by_face_and_only_the_ticked_ones_are_taught(
        page: Page, data: Path, tmp_path: Path) -> None:
    # Leonard's lookalike three times: as it is, saved again (other bytes, the same
    # pixels) and framed in grey (other bytes, the same face).
    leonard5 = data / "people" / LEONARD / "leonard5.png"
    photos = {"leonard5.png": leonard5, "copy.png": tmp_path / "copy.png", "framed.png": tmp_path / "framed.png"}
    Image.open(leonard5).save(photos["copy.png"], compress_level=1)
    ImageOps.expand(Image.open(leonard5).convert("RGB"), border=24, fill=(128, 128, 128)).save(photos["framed.png"])
    items = page.drop("group", photos)
    assert len(items) == 3
    listed = {i["id"]: i for i in page.api("/api/review/list")["items"]}
    for item in items.values():
        assert listed[item]["suggestion"]["person"] == LEONARD, listed[item]
    before = {r["id"] for r in page.api("/api/references", person=LEONARD)}

    page.view("queue")
    group = page.driver.find_element(page.By.CSS_SELECTOR, f'#grid .group[data-person="{LEONARD}"]')
    assert "3 items" in group.text
    page.click(group.find_element(page.By.CSS_SELECTOR, ".confirm-group"))
    dialog = page.open_dialog("group-dialog")
    assert page.driver.find_element(page.By.ID, "group-person").text == LEONARD
    # Each face's crop beside the reference it is nearest to, both decoded.
    faces = page.images_loaded('#group-rows img[src*="/faces/"]')
    refs = page.images_loaded('#group-rows img[src^="/api/references/"]')
    assert len(faces) == 3 and len(refs) == 3
    for row in dialog.find_elements(page.By.CSS_SELECTOR, ".group-row"):
        reference = listed[int(row.get_attribute("data-id"))]["suggestion"]["reference"]
        assert row.find_element(page.By.CSS_SELECTOR, ".reference img").get_attribute("src").endswith(
            f"/api/references/{reference}/crop")
    boxes = dialog.find_elements(page.By.CSS_SELECTOR, 'input[name="teach"]')
    assert all(b.is_selected() for b in boxes)  # ticked by default
    unticked = items["framed.png"]
    page.click(dialog.find_element(page.By.CSS_SELECTOR, f'.group-row[data-id="{unticked}"] input[name="teach"]'))
    said = items["copy.png"]
    page.click(dialog.find_element(page.By.CSS_SELECTOR, f'.group-row[data-id="{said}"] .not-person'))
    page.wait.until(lambda d: "not " + LEONARD in d.find_element(
        page.By.CSS_SELECTOR, f'.group-row[data-id="{said}"] .said').text)
    (negative,) = page.api("/api/negatives", person=LEONARD)
    assert Path(negative["path"]).name == "copy.png"
    page.click(page.driver.find_element(page.By.ID, "group-ok"))

    page.toast_says(f"Added as references of {LEONARD}: 1 item")
    wait_until((page.root / "sorted" / LEONARD / "group" / "leonard5.png").is_file, 60, "filed under Leonard")
    added = [r for r in page.api("/api/references", person=LEONARD) if r["id"] not in before]
    assert len(added) == 1 and Path(added[0]["path"]).name == "leonard5.png", added  # the ticked one alone
    assert set(page.ids("group")) == {"framed.png", "copy.png"}


def test_a_person_is_renamed_from_the_people_view(page: Page) -> None:
    assert OLD_NAME in {p["name"] for p in page.api("/api/persons")}
    page.view("people")
    card = page.driver.find_element(page.By.CSS_SELECTOR, f'#people .person[data-person="{OLD_NAME}"]')
    page.click(card.find_element(page.By.CSS_SELECTOR, "button.rename"))
    page.name(NEW_NAME)
    page.toast_says(f"{OLD_NAME} is now called {NEW_NAME}")
    names = {p["name"] for p in page.api("/api/persons")}
    assert NEW_NAME in names and OLD_NAME not in names
    page.loaded()
    page.wait.until(lambda d: d.find_elements(page.By.CSS_SELECTOR, f'#people .person[data-person="{NEW_NAME}"]'))


def test_a_face_drawn_in_the_lightbox_files_the_item(page: Page, data: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    # A face too small for the detector on a large grey photo.
    small = tmp_path / "small.jpg"
    canvas = Image.new("RGB", (1600, 1200), (128, 128, 128))
    face = Image.open(data / "people" / "Barack_Obama" / "obama2.jpg").convert("RGB")
    canvas.paste(face.resize(DRAWN[2:]), DRAWN[:2])
    canvas.save(small, quality=92)
    item = page.drop("drawn", {"small.jpg": small})["small.jpg"]
    before = len(page.api("/api/references", person="Barack_Obama"))

    page.view("queue")
    tile = page.driver.find_element(page.By.CSS_SELECTOR, f'#grid .tile[data-id="{item}"]')
    page.click(tile.find_element(page.By.CSS_SELECTOR, ".open"))
    page.open_dialog("lightbox")
    page.wait.until(lambda d: d.find_element(page.By.ID, "lb-title").text.startswith(f"#{item}"))
    page.images_loaded("#lb-stage img")
    page.click(page.driver.find_element(page.By.CSS_SELECTOR, "#lb-actions .draw-face"))
    pic = page.driver.find_element(page.By.CSS_SELECTOR, "#lb-stage .pic")
    width, height = pic.size["width"], pic.size["height"]
    scale = width / 1600
    assert abs(height / 1200 - scale) < 0.01  # shown whole, as the photo's shape
    # Drag from a little outside the face's corner to a little beyond the other: in
    # the page's pixels, from the element's centre (Selenium's offsets).
    left, top = (DRAWN[0] - 4) * scale - width / 2, (DRAWN[1] - 4) * scale - height / 2
    right, bottom = (DRAWN[0] + DRAWN[2] + 4) * scale - width / 2, (DRAWN[1] + DRAWN[3] + 4) * scale - height / 2
    (ActionChains(page.driver).move_to_element_with_offset(pic, int(left), int(top)).click_and_hold()
     .move_to_element_with_offset(pic, int((left + right) / 2), int((top + bottom) / 2))
     .move_to_element_with_offset(pic, int(right), int(bottom)).release().perform())
    assert page.driver.find_elements(page.By.CSS_SELECTOR, "#lb-stage .drawn")
    page.name("Barack_Obama")

    page.toast_says("Drawn face filed as Barack_Obama: 1 item")
    wait_until((page.root / "sorted" / "Barack_Obama" / "drawn" / "small.jpg").is_file, 60, "filed under Obama")
    refs = page.api("/api/references", person="Barack_Obama")
    assert len(refs) == before + 1
    (drawn,) = [r for r in refs if r["origin"] == "drawn"]
    top_, right_, bottom_, left_ = drawn["box"]  # about the face, whatever the display's rounding
    assert abs(left_ - DRAWN[0]) < 15 and abs(top_ - DRAWN[1]) < 15
    assert abs(right_ - DRAWN[0] - DRAWN[2]) < 15 and abs(bottom_ - DRAWN[1] - DRAWN[3]) < 15
    assert item not in page.ids("drawn").values()


def test_not_the_person_from_the_lightbox(page: Page, data: Path) -> None:
    item = page.drop("lightbox", {"leonard5.png": data / "people" / LEONARD / "leonard5.png"})["leonard5.png"]
    page.view("queue")
    tile = page.driver.find_element(page.By.CSS_SELECTOR, f'#grid .tile[data-id="{item}"]')
    page.click(tile.find_element(page.By.CSS_SELECTOR, ".open"))
    page.open_dialog("lightbox")
    page.wait.until(lambda d: d.find_element(page.By.ID, "lb-title").text.startswith(f"#{item}"))
    button = page.driver.find_element(page.By.CSS_SELECTOR, "#lb-actions .not-person")
    assert button.text == f"Not {LEONARD}"
    page.click(button)

    page.toast_says(f"#{item} is not {LEONARD}")
    (negative,) = page.api("/api/negatives", person=LEONARD)
    assert Path(negative["path"]).name == "leonard5.png" and negative["active"]
    listed = {i["id"]: i for i in page.api("/api/review/list")["items"]}
    assert listed[item]["suggestion"] is None  # never offered as Leonard again


def test_a_filed_photo_is_not_the_person_from_their_gallery(page: Page, data: Path) -> None:
    page.drop("gallery", {"biden2.jpg": data / "people" / "Joe_Biden" / "biden2.jpg"})
    filed = page.root / "sorted" / "Joe_Biden" / "gallery" / "biden2.jpg"
    assert filed.is_file()
    page.view("people")
    card = page.driver.find_element(page.By.CSS_SELECTOR, '#people .person[data-person="Joe_Biden"]')
    page.click(card.find_element(page.By.CSS_SELECTOR, "button.photos"))
    dialog = page.open_dialog("gallery-dialog")
    page.wait.until(lambda d: "1 photo filed under Joe_Biden" in d.find_element(page.By.ID, "gallery-count").text)
    (thumbnail,) = page.images_loaded("#gallery-items img")
    assert thumbnail.get_attribute("alt") == "biden2.jpg"
    assert dialog.find_elements(page.By.CSS_SELECTOR, "#gallery-items .face.known")  # the face taken for him
    page.click(dialog.find_element(page.By.CSS_SELECTOR, "button.not-person"))

    page.toast_says("Not Joe_Biden: biden2.jpg is back in review")
    assert not filed.exists()
    assert "biden2.jpg" in page.ids("gallery")
    assert len(page.api("/api/negatives", person="Joe_Biden")) == 1
    page.wait.until(lambda d: "No photos filed under Joe_Biden" in d.find_element(page.By.ID, "gallery-count").text)
    page.click(dialog.find_element(page.By.CSS_SELECTOR, 'button[value="close"]'))


def test_a_person_is_merged_into_another_from_the_people_view(page: Page) -> None:
    persons = {p["name"]: p for p in page.api("/api/persons")}
    expected = persons[OLD_NAME]["references"] + persons["Joe_Biden"]["references"]
    page.view("people")
    card = page.driver.find_element(page.By.CSS_SELECTOR, f'#people .person[data-person="{OLD_NAME}"]')
    page.click(card.find_element(page.By.CSS_SELECTOR, "button.merge"))
    page.name(OLD_NAME)  # not into themselves: the dialog says so and stays open
    page.wait.until(lambda d: "someone other than" in d.find_element(page.By.ID, "name-error").text)
    page.name("Nobody_Here")  # only into someone known
    page.wait.until(lambda d: "Nobody is called" in d.find_element(page.By.ID, "name-error").text)
    page.name("Joe_Biden")

    page.toast_says(f"{OLD_NAME} merged into Joe_Biden")
    persons = {p["name"]: p for p in page.api("/api/persons")}
    assert OLD_NAME not in persons and persons["Joe_Biden"]["references"] == expected
    assert not (page.root / "references" / OLD_NAME).exists()


def test_the_status_line_gives_the_rate_and_the_time_left_while_a_backlog_drains(page: Page, data: Path) -> None:
    face = Image.open(data / "people" / "Barack_Obama" / "obama2.jpg").convert("RGB")
    inbound = page.root / "inbound" / "backlog"
    inbound.mkdir()
    # Distinct photos, each to be analysed, kept coming while the page polls (every 4
    # s) until it shows the rate: a fixed number would drain before the first poll on a
    # fast enough machine.
    start = page.daemon.status()["processed"]
    made, seen = 0, set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        text = page.driver.find_element(page.By.ID, "status").text
        seen.add(text)
        if "files/s" in text and " left" in text:
            break
        if made < 600 and made - (page.daemon.status()["processed"] - start) < 40:
            for i in range(made, made + 20):
                canvas = Image.new("RGB", (1300, 900), (i % 256, 120, 200))
                canvas.paste(face, (100 + 3 * (i % 200), 60 + i // 200))
                canvas.save(inbound / f"p{i:03d}.jpg", quality=90)
            made += 20
        time.sleep(0.3)
    else:
        raise AssertionError(f"no rate and time left shown: {seen}")
    while page.daemon.status()["processed"] - start < made and time.monotonic() < deadline:
        time.sleep(0.3)  # drained, for the tests after this one
