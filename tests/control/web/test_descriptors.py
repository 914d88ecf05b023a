"""The descriptors the daemon passes to the review page's server: each is closed once
its answer is sent, and also when making that answer fails (here with a daemon
stand-in whose answer is not what the page expects, in the server's own process, where
its descriptors can be counted)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, cast

import anyio
import httpx

from facewatchd.control.web.app import create_app
from facewatchd.control.web.link import DaemonLink

TOKEN = "t" * 32


class Passing:
    """A DaemonLink that passes a new file with each answer, `info` being the answer."""

    def __init__(self, info: dict[str, Any], folder: Path) -> None:
        self.info, self.folder = info, folder
        self.passed: list[tuple[int, tuple[int, int]]] = []  # fd, and what it was (device, inode)

    def call_fd(self, cmd: str, args: dict[str, Any]) -> tuple[Any, int | None]:
        fd, path = tempfile.mkstemp(dir=self.folder)
        os.write(fd, b"x")
        os.lseek(fd, 0, os.SEEK_SET)  # as the daemon passes it: from the start
        st = os.fstat(fd)
        self.passed.append((fd, (st.st_dev, st.st_ino)))
        return self.info, fd


def still_open(fd: int, was: tuple[int, int]) -> bool:
    """Whether `fd` is still the file passed (not closed, nor reused for another)."""
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == was


def get(link: Passing, path: str) -> httpx.Response:
    """GET `path` of the page's application served over `link`, in this process."""
    app = create_app(cast(DaemonLink, link), token=TOKEN, listen_host="127.0.0.1", port=8765, allowed_hosts=[])

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://127.0.0.1:8765",
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            response = await client.get(path)
            await response.aread()
            return response

    return anyio.run(fetch)


def test_a_passed_descriptor_is_closed_when_its_answer_cannot_be_made(tmp_path: Path) -> None:
    link = Passing({"id": 1, "name": None, "size": 1, "kind": "image"}, tmp_path)  # a name that is no name
    assert get(link, "/api/review/1/image").status_code == 500
    ((fd, was),) = link.passed
    assert not still_open(fd, was)


def test_a_passed_descriptor_is_closed_once_sent(tmp_path: Path) -> None:
    link = Passing({"id": 1, "name": os.fsdecode(b"Caf\xe9.jpg"), "size": 1, "kind": "image"}, tmp_path)
    response = get(link, "/api/review/1/image")
    assert response.status_code == 200 and response.content == b"x"
    assert "Caf%5Cxe9.jpg" in response.headers["content-disposition"]  # shown as Caf\xe9.jpg
    ((fd, was),) = link.passed
    assert not still_open(fd, was)
