"""Helpers for the review page's tests: `facewatchctl web` as a process, Debian's
chromium through Selenium, screenshots' pixels, and a big queue made quickly."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .helpers import ROOT, SETTLE, DaemonProcess, need, tree, write_config

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
UNKNOWN_ORANGE = (255, 128, 0)  # the page's unknown face boxes (as the contact sheet's)
MAYBE_MAGENTA = (255, 0, 255)
KNOWN_GREEN = (0, 192, 0)
LEONARD = "bbt_leonard"


def tree_with_a_lookalike(root: Path, data: Path) -> Path:
    """tree() plus Leonard, whose two references and tolerance of his own make "maybe"
    suggestions: leonard5 is 0.54 from one and 0.57 from the other, within his 0.55 with
    the support of both, and missed only because its face is smaller than min_band_face
    (set above every face here): a suggestion the page offers in one click."""
    config = tree(root, data, daemon=SETTLE, min_band_face=5000,
                  extra=f"[persons.{LEONARD}]\ntolerance = 0.55\n")
    (root / "references" / LEONARD).mkdir()
    for name in ("leonard1.png", "leonard2.png"):
        shutil.copy2(data / "people" / LEONARD / name, root / "references" / LEONARD)
    return config


def web_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "facewatchd.control.ctl", "--config", str(config), "web", *args]


class WebProcess:
    """`facewatchctl web` as a subprocess; its first line on stdout is the address."""

    def __init__(self, config: Path, *args: str, listen: str = "127.0.0.1:0") -> None:
        self.proc = subprocess.Popen(web_command(config, "--listen", listen, *args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.stdout, self.stderr = self.proc.stdout, self.proc.stderr
        self.url = self.stdout.readline().strip()
        if not self.url:
            self.proc.wait(10)
            raise AssertionError(f"facewatchctl web printed no address: {self.stderr.read()}")
        self.base, _, self.token = self.url.partition("/?token=")
        self.auth = {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(15)
        finally:
            self.stdout.close()
            self.stderr.close()

    def __enter__(self) -> WebProcess:
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.stop()


def browser(width: int = 1280, height: int = 900) -> Any:
    """Debian's chromium, headless, driven by Debian's chromedriver (nothing downloaded)."""
    need(Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(),
         "Debian's chromium and chromium-driver are not installed (scripts/bootstrap --test)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="facewatchd-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except BaseException:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    driver.profile = profile
    return driver


def close_browser(driver: Any) -> None:
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.profile, ignore_errors=True)


@contextmanager
def browsing(config: Path) -> Iterator[tuple[DaemonProcess, WebProcess, Any]]:
    """A daemon, `facewatchctl web` and a browser on its page; both must stop cleanly."""
    with DaemonProcess(config) as daemon:
        daemon.ready()
        with WebProcess(config) as web:
            driver = browser()
            try:
                driver.get(web.url)
                yield daemon, web, driver
            finally:
                close_browser(driver)
            assert web.stop() == 0
        assert daemon.stop() == 0


def _rgb(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def colour_count(png: bytes, rgb: tuple[int, int, int], tolerance: int = 30) -> int:
    """Pixels of a screenshot within `tolerance` of `rgb` on every channel."""
    return int((np.abs(_rgb(png) - np.array(rgb)).max(axis=2) <= tolerance).sum())


def distinct_colours(png: bytes) -> int:
    """Photographs have thousands; empty frames and broken images a few."""
    return len(Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 22) or [])


def big_queue(root: Path, count: int, seed: int = 7) -> Path:
    """A configuration and state with `count` items in review, made without analysing
    anything: tiny distinct JPEGs, each with one synthetic face (an encoding and a
    thumbnail), handed to the real Sorter as a worker's report would be. One in ten is
    0.55 from two references of "Near_Person", a 20 px face: uncertain for its size only,
    the page's "maybe Near_Person" group. About 1 ms an item plus its move."""
    from facewatchd import config as config_module
    from facewatchd.engine.report import Face, FaceReport
    from facewatchd.files import route
    from facewatchd.files.sorter import Sorter
    from facewatchd.state import Store

    path = write_config(root, daemon="settle = 0.3\nrescan_interval = 0\n")
    config = config_module.load(path)
    rng = np.random.default_rng(seed)
    anchor = rng.normal(size=128)
    anchor /= np.linalg.norm(anchor)
    thumbnail = _thumbnail()
    with Store(config.daemon.state_dir) as store:
        for encoding in (anchor, anchor.copy(), rng.normal(size=128)):
            store.add_reference("Near_Person", "review", str(root / "nowhere.jpg"), "0" * 64,
                                (10, 60, 60, 10), encoding)
        sorter = Sorter(config, store)
        for i in range(count):
            photo = root / "inbound" / f"{i // 1000:02d}" / f"img{i:05d}.jpg"
            photo.parent.mkdir(exist_ok=True)
            photo.write_bytes(thumbnail + i.to_bytes(4, "big"))  # distinct contents
            encoding = rng.normal(size=128)
            if i % 10 == 0:
                noise = rng.normal(size=128)
                noise -= noise @ anchor * anchor
                encoding = anchor + noise * (0.55 / np.linalg.norm(noise))
            found = route.identify(photo)
            assert found is not None
            signature, digest = found
            sorter.handle(FaceReport(str(photo), "image", digest, signature, size=(320, 240),
                                     # small: missed only for its size (min_band_face)
                                     faces=(Face((60, 200, 180, 120), encoding, 1.0, side=20.0),),
                                     thumbnail=thumbnail))
    return path


def _thumbnail() -> bytes:
    image = Image.new("RGB", (320, 240), (40, 90, 140))
    ImageDraw.Draw(image).ellipse((125, 60, 195, 180), fill=(230, 190, 160))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()
