"""The daemon itself: how it is doing, scanning, reloading, and files an undo held."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ...errors import NotAllowedError, UsageError
from ...steps import Step
from .base import Context, handles


@handles("status")
def status(ctx: Context) -> dict[str, Any]:
    return ctx.service.status()


@handles("scan")
def scan(ctx: Context, path: str | None = None) -> dict[str, Any]:
    service = ctx.service
    if path is None:
        service.intake.scan_all("asked by facewatchctl")
        service.intake.retry_now()
        return {"scanning": [str(w.inbound) for w in service.config.watches]}
    folder = Path(os.path.normpath(path))
    watch = service.sorter.watch_for(folder)
    if watch is None or not folder.is_dir():
        raise NotAllowedError(f"{path} is not a folder in an inbound folder")
    service.intake.add_scan(str(folder), folder, watch.recursive)
    return {"scanning": [str(folder)]}


@handles("reload")
def reload(ctx: Context) -> Step:
    summary = yield ctx.service.request_reload()
    return dataclasses.asdict(summary)


@handles("held")
def held(ctx: Context) -> list[dict[str, Any]]:
    sorter, store = ctx.service.sorter, ctx.service.store
    return [{"path": str(path), "since": store.linked(sorter.held[str(path)][2]).updated}
            for path in sorter.held_files()]


@handles("release")
def release(ctx: Context, paths: list[str] | None = None, all: bool = False) -> dict[str, Any]:
    if all == bool(paths):
        raise UsageError("name the held files, or give --all, not both")
    chosen = ctx.service.sorter.held_files() if all else [Path(os.path.normpath(p)) for p in paths or ()]
    return {"results": [{"path": str(path), "ok": True} if ctx.service.intake.release(path)
                        else {"path": str(path), "ok": False, "error": "not held"} for path in chosen]}
