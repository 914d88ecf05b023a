"""One daemon (real photos, real models) and one real `facewatchctl web` for the API
and security tests. The tests share them but not their files: each drops its own
photos into a subfolder of inbound and acts on those items only, so they pass in any
order. When the package's tests end, every byte that went in is still somewhere,
exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ...helpers import DaemonProcess, Dropper
from ...web_helpers import WebProcess, tree_with_a_lookalike


class Site(Dropper):
    """The daemon, the web server, an HTTP client with the token, what went in."""

    def __init__(self, daemon: DaemonProcess, web: WebProcess, root: Path, data: Path) -> None:
        super().__init__(daemon, root, data)
        self.web, self.config = web, daemon.config
        self.http = httpx.Client(base_url=web.base, timeout=60)
        self.auth = web.auth

    def drop(self, subfolder: str, photos: dict[str, str | bytes], *, fresh: bool = True) -> dict[str, dict[str, Any]]:  # type: ignore[override]
        """Drop photos as Dropper does, and return their review items by name."""
        super().drop(subfolder, photos, fresh=fresh)
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
    config = tree_with_a_lookalike(root, data)
    with DaemonProcess(config) as daemon:
        daemon.ready()
        with WebProcess(daemon.config) as web:
            site = Site(daemon, web, root, data)
            yield site
            site.http.close()
            assert web.stop() == 0
        if daemon.proc.poll() is None:
            assert daemon.stop() == 0
    site.nothing_lost()  # whatever the page did
