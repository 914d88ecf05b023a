"""The docs' screenshots of the Settings and Dashboard views and of the paused header,
through a real daemon, `facewatchctl web` and Debian's chromium, on a month of made-up
history (a fresh daemon's dashboard has one day):

    .venv/bin/python -m tests.control.web.shots docs/

The history is made as web_helpers.big_queue makes a queue: synthetic faces handed to
the real Sorter as a worker's report would be (no analysis), people's review actions
through the real ReviewQueue, then each day's ledger rows moved back to that day.
"""

from __future__ import annotations

import argparse
import io
import logging
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ...helpers import DaemonProcess, write_config
from ...web_helpers import WebProcess, browser, close_browser

PEOPLE = {"Anna": 5, "Ben": 3, "Chloe": 2, "Dev": 1.5, "Emma": 1}  # how often each is photographed
DAYS = 30
OFF = {9, 10}  # days ago the daemon did not run: no files, no queue size


def month_of_history(root: Path, seed: int = 24) -> Path:
    """A configuration and state with DAYS days of sorting behind them."""
    from facewatchd import config as config_module
    from facewatchd.engine.report import Face, FaceReport
    from facewatchd.files import route
    from facewatchd.files.review import ReviewQueue
    from facewatchd.files.sorter import Sorter
    from facewatchd.state import Store
    from facewatchd.vocabulary import Origin, Outcome

    logging.getLogger("facewatchd").setLevel(logging.ERROR)  # each failed file is a warning
    path = write_config(root, daemon="settle = 0.3\nrescan_interval = 0\n",
                        extra="[persons.Ben]\ntolerance = 0.52\n")
    config = config_module.load(path)
    rng = np.random.default_rng(seed)
    anchors = {}
    with Store(config.daemon.state_dir) as store:
        for person in PEOPLE:
            anchor = rng.normal(size=128)
            anchors[person] = anchor / np.linalg.norm(anchor)
            store.add_reference(person, Origin.REVIEW, str(root / "nowhere.jpg"), "0" * 64,
                                (10, 60, 60, 10), anchors[person])
        names, weights = list(PEOPLE), np.array(list(PEOPLE.values())) / sum(PEOPLE.values())
        made: list[bytes] = []  # contents sorted so far: a duplicate is one of them again
        in_review = (Outcome.REVIEW, Outcome.DUPLICATE, Outcome.FAILED)
        n = 0
        for ago in range(DAYS - 1, -1, -1):
            day = date.today() - timedelta(days=ago)
            started = time.time()
            sorter = Sorter(config, store)
            if ago not in OFF:
                count = int(rng.poisson(30 if day.weekday() >= 5 else 12))
                for _ in range(count):
                    n += 1
                    photo = root / "inbound" / day.isoformat() / f"IMG_{n:04d}.jpg"
                    photo.parent.mkdir(parents=True, exist_ok=True)
                    kind = rng.choice(["person", "no_face", "unknown", "uncertain", "duplicate", "failed"],
                                      p=[0.66, 0.12, 0.1, 0.04, 0.06, 0.02])
                    content = made[int(rng.integers(len(made)))] if kind == "duplicate" and made else (
                        _jpeg(rng) + n.to_bytes(4, "big"))
                    photo.write_bytes(content)
                    found = route.identify(photo)
                    assert found is not None
                    signature, digest = found
                    faces: tuple[Face, ...] = ()
                    if kind in ("person", "uncertain", "duplicate"):
                        noise = rng.normal(size=128)
                        noise *= (0.3 if kind != "uncertain" else 0.53) / np.linalg.norm(noise)
                        faces = (Face((60, 200, 180, 120), anchors[rng.choice(names, p=weights)] + noise, 1.0),)
                    elif kind == "unknown":
                        faces = (Face((60, 200, 180, 120), rng.normal(size=128), 1.0),)
                    handled = sorter.handle(FaceReport(
                        str(photo), "image", digest, signature, size=(320, 240), faces=faces,
                        error="cannot identify image file" if kind == "failed" else None,
                        thumbnail=b"" if kind == "failed" else content[:-4]))
                    if handled.outcome == Outcome.SORTED:
                        made.append(content)
                # Someone clears part of the queue now and then.
                if day.weekday() in (2, 6):
                    queue = ReviewQueue(sorter)
                    for item in queue.items()[: int(rng.integers(3, 12))]:
                        if item.reason == "unknown_face":
                            queue.keep(item, person=str(rng.choice(names)))
                        else:
                            queue.delete(item)
            with store.transaction():  # what was done just now, done on that day
                store.db.execute("UPDATE files SET created = created - ? WHERE created >= ?",
                                 (ago * 86400, started))
                if ago not in OFF:
                    store.db.execute("INSERT OR REPLACE INTO queue_sizes (day, size) VALUES (?, ?)",
                                     (day.isoformat(), store.count_current(in_review)))
    return path


def _jpeg(rng: np.random.Generator) -> bytes:
    """A small photo-like picture: a face-coloured oval on a random background."""
    image = Image.new("RGB", (320, 240), tuple(int(c) for c in rng.integers(30, 200, 3)))
    ImageDraw.Draw(image).ellipse((125, 60, 195, 180), fill=(230, 190, 160))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def shoot(out: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory(prefix="facewatchd-shots-") as folder:
        config = month_of_history(Path(folder))
        with DaemonProcess(config) as daemon:
            daemon.ready()
            daemon.ctl("set", "review.trash_days", "14")
            daemon.ctl("set", "persons.Chloe.tolerance", "0.5")
            with WebProcess(config) as web:
                driver = browser()
                wait = WebDriverWait(driver, 60)
                loaded = lambda d: d.execute_script("return document.body.dataset.loading") == "no"  # noqa: E731

                def save(name: str, png: bytes | None = None) -> None:
                    (out / name).write_bytes(png or driver.get_screenshot_as_png())
                    print(out / name)

                def at(view: str, selector: str) -> None:
                    driver.find_element(By.CSS_SELECTOR, f'a[data-view="{view}"]').click()
                    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, selector))
                    wait.until(loaded)
                    driver.execute_script("window.scrollTo(0, 0)")
                    time.sleep(0.5)

                try:
                    driver.get(web.url)
                    wait.until(lambda d: d.find_element(By.ID, "pause").is_enabled())
                    at("dashboard", "#dashboard svg g.day")
                    save("dashboard.png")
                    # The Settings view with a refusal beside its field, as the daemon said it.
                    driver.set_window_size(1280, 1250)
                    at("settings", '.setting[data-key="recognition.tolerance"]')
                    row = driver.find_element(By.CSS_SELECTOR, '.setting[data-key="recognition.tolerance"]')
                    box = row.find_element(By.CSS_SELECTOR, "input")
                    box.click()
                    box.send_keys(Keys.CONTROL, "a")
                    box.send_keys("7", Keys.ENTER)
                    wait.until(lambda d: row.find_element(By.CSS_SELECTOR, ".refusal").is_displayed())
                    driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
                    time.sleep(0.3)
                    save("settings.png")
                    driver.set_window_size(390, 844)
                    time.sleep(0.3)
                    driver.execute_script(  # [recognition] just below the sticky header
                        "const top = arguments[0].closest('section').getBoundingClientRect().top;"
                        "window.scrollBy(0, top - document.querySelector('header.top').offsetHeight - 8)", row)
                    time.sleep(0.5)
                    save("settings-phone.png")
                    driver.set_window_size(390, 1100)  # the totals and the whole chart
                    at("dashboard", "#dashboard svg g.day")
                    wait.until(lambda d: d.execute_script(
                        "return document.querySelector('#dashboard svg').getAttribute('width') < 400"))
                    save("dashboard-phone.png")
                    driver.set_window_size(1280, 900)
                    at("queue", "#grid .tile")
                    driver.find_element(By.ID, "pause").click()
                    wait.until(lambda d: d.find_element(By.ID, "paused-banner").is_displayed())
                    driver.execute_script("document.getElementById('toast').hidden = true")
                    time.sleep(0.3)
                    bottom = driver.execute_script(
                        "return document.querySelector('header.top').getBoundingClientRect().bottom")
                    save("paused.png", _cropped(driver.get_screenshot_as_png(), int(bottom) + 12))
                    driver.find_element(By.ID, "pause").click()
                    wait.until(lambda d: not d.find_element(By.ID, "paused-banner").is_displayed())
                finally:
                    close_browser(driver)
                web.stop()
            daemon.stop()


def _cropped(png: bytes, height: int) -> bytes:
    out = io.BytesIO()
    with Image.open(io.BytesIO(png)) as image:  # headless: one device pixel a CSS pixel
        image.crop((0, 0, image.width, height)).save(out, "PNG")
    return out.getvalue()


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write the PNGs into (docs/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if shutil.which("chromium") is None:
        raise SystemExit("shots: Debian's chromium is not installed (scripts/bootstrap --test)")
    shoot(args.out)


if __name__ == "__main__":
    main()
