"""One daemon (real photos, real models) and one real `facewatchctl web` for the API
and security tests. The tests share them but not their files: each drops its own
photos into a subfolder of inbound and acts on those items only, so they pass in any
order. When the package's tests end, every byte that went in is still somewhere,
exactly once."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ...helpers import SETTLE, DaemonProcess, files_under, sha256, tree
from ...web_helpers import WebProcess

LEONARD = "bbt_leonard"


class Site:
    """The daemon, the web server, an HTTP client with the token, what went in."""

    def __init__(self, daemon: DaemonProcess, web: WebProcess, root: Path, data: Path) -> None:
        self.daemon, self.web, self.root, self.data, self.config = daemon, web, root, data, daemon.config
        self.http = httpx.Client(base_url=web.base, timeout=60)
        self.auth = web.auth
        self.dropped: Counter[str] = Counter()

    def drop(self, subfolder: str, photos: dict[str, str | bytes]) -> dict[str, dict[str, Any]]:
        """Copy photos (name → path in the data set, or raw bytes) into inbound/subfolder,
        wait until they are sorted, and return their review items by name."""
        folder = self.root / "inbound" / subfolder
        folder.mkdir(parents=True)
        processed = self.daemon.status()["processed"]
        for name, source in photos.items():
            target = folder / name
            if isinstance(source, bytes):
                target.write_bytes(source)
            else:
                shutil.copy2(self.data / source, target)
            self.dropped[sha256(target)] += 1
        self.daemon.wait_idle(processed + len(photos))
        return self.items(subfolder)

    def items(self, subfolder: str, **params: Any) -> dict[str, dict[str, Any]]:
        """The review page's items that arrived in inbound/subfolder, by their name then."""
        folder = self.root / "inbound" / subfolder
        return {Path(i["source"]).name: i for i in self.get("/api/review/list", **params)["items"]
                if Path(i["source"]).parent == folder}

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params, headers=self.auth)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(path, json=body, headers=self.auth)


@pytest.fixture(scope="package")
def site(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web")
    # Leonard, with two references and a tolerance of his own, makes "maybe" suggestions.
    # Support counted within his tolerance too, so one near reference is not enough.
    config = tree(root, data, daemon=SETTLE, support_tolerance=0.55,
                  extra=f"[persons.{LEONARD}]\ntolerance = 0.55\n")
    (root / "references" / LEONARD).mkdir()
    for name in ("leonard1.png", "leonard2.png"):
        shutil.copy2(data / "people" / LEONARD / name, root / "references" / LEONARD)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        with WebProcess(daemon.config) as web:
            site = Site(daemon, web, root, data)
            yield site
            site.http.close()
            assert web.stop() == 0
        if daemon.proc.poll() is None:
            assert daemon.stop() == 0
    found: Counter[str] = Counter()
    inodes = set()
    for path in files_under(root / "inbound", root / "sorted", root / "review"):
        st = path.stat()
        if (st.st_dev, st.st_ino) not in inodes:  # a hard link is one file under two names
            inodes.add((st.st_dev, st.st_ino))
            found[sha256(path)] += 1
    assert found == site.dropped  # nothing the page did lost or doubled a byte
