"""A face a person drew on a review item's photo (`review add-face`, and the page's
lightbox), encoded on the client's side: the daemon's loop never decodes, and its
workers analyse whole files. The daemon passes the item's file (review.file); the box
is encoded whether or not the detector finds a face there (FaceEngine.faces_at), and
the daemon gets the box and its encoding."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import config as config_module
from ..engine.faces import FaceEngine
from ..engine.report import Box, parse_box
from ..engine.worker import EngineSettings
from ..errors import FacewatchError, MediaError, UsageError
from .client import Client


@lru_cache(maxsize=1)
def _engine(settings: EngineSettings) -> FaceEngine:
    return FaceEngine(**vars(settings))  # its models: loaded once, at the first face drawn


def settings_of(config: Path) -> EngineSettings:
    """The engine as the daemon has it, where its configuration can be read."""
    try:
        return EngineSettings.of(config_module.load(config))
    except FacewatchError:
        return EngineSettings()


def encode(call_fd: Callable[[str, dict[str, Any]], tuple[Any, int | None]], item: int, box: Box,
           settings: EngineSettings | None = None) -> list[float]:
    """The encoding of `box` on item `item`'s photo, read through the file the daemon passes."""
    info, fd = call_fd("review.file", {"id": item})
    if fd is None:
        raise MediaError(f"item {item}: the daemon passed no file")
    try:
        if info.get("kind") != "image":
            raise UsageError(f"item {item} is a {info.get('kind')}: faces are drawn on photos")
        faces = _engine(settings or EngineSettings()).faces_at(f"/proc/self/fd/{fd}", [box])
    finally:
        os.close(fd)
    if not faces:
        raise MediaError(f"item {item}: nothing to encode in that box")
    return [float(v) for v in faces[0].encoding]


def add_face(client: Client, request: dict[str, Any], args: argparse.Namespace) -> Any:
    box = parse_box(request["box"])
    encoding = encode(client.call_fd, request["id"], box, settings_of(args.config))
    return client.call("review.add-face", {**request, "encoding": encoding})
