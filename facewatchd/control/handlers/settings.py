"""Settings at run time, pausing and statistics: what a person changes without editing
the configuration file. Who may is who may use the control socket at all (its group,
SO_PEERCRED; the review page's token): the same rule as for every other command."""

from __future__ import annotations

import logging
from typing import Any

from ... import config as config_module
from ...config.overrides import AT_START, listing, split, value_of
from ...errors import ConfigError, NotFoundError, UsageError
from ...files.items import valid_person_name
from ...steps import Step
from .base import Context, handles

log = logging.getLogger("facewatchd")

MAX_DAYS = 3660


@handles("settings")
def settings(ctx: Context) -> list[dict[str, Any]]:
    service = ctx.service
    known = [p["name"] for p in service.store.persons()]
    return listing(service.config, config_module.read(service.config.path), service.store.overrides(),
                   known)


@handles("set")
def set_(ctx: Context, key: str, value: str) -> Step:
    return _change(ctx, key, value_of(value), value)


@handles("unset")
def unset(ctx: Context, key: str) -> Step:
    split(key)
    if key not in ctx.service.store.overrides():
        raise NotFoundError(f"{key} was not changed at run time: it is the file's already")
    return _change(ctx, key, None, "the file's value")


@handles("pause")
def pause(ctx: Context) -> Step:
    return _change(ctx, "daemon.paused", True, "true")


@handles("resume")
def resume(ctx: Context) -> Step | dict[str, Any]:
    # Back to the file's value where that is to sort; else a change of its own.
    if config_module.load(ctx.service.config.path).daemon.paused:
        return _change(ctx, "daemon.paused", False, "false")
    if "daemon.paused" not in ctx.service.store.overrides():
        return _row(ctx, "daemon.paused")  # not paused: nothing to do
    return _change(ctx, "daemon.paused", None, "the file's value")


@handles("stats")
def stats(ctx: Context, days: int = 7) -> dict[str, Any]:
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be from 1 to {MAX_DAYS}")
    return {"days": ctx.service.store.daily(days)}


def _change(ctx: Context, key: str, value: Any, typed: str) -> Step:
    """Set `key` to `value` (None: back to the file's), if the configuration with it is
    one the file could be, and use it at once; refused with the file's own rule, with
    nothing changed, otherwise. Checked now, for the peer asking now."""
    parts = split(key)
    if key in AT_START:
        raise UsageError(f"{key} is read at start only: change it in the configuration file, then"
                         " restart facewatchd")
    if parts[0] == "persons":
        valid_person_name(parts[1])
    store, path = ctx.service.store, ctx.service.config.path
    overrides = {k: s["value"] for k, s in store.overrides().items() if k != key}
    if value is not None:
        overrides[key] = value
    try:
        config_module.load(path, overrides)
    except ConfigError as e:
        rule = str(e).removeprefix(f"{path}: ")
        raise UsageError(f"{key} = {typed} refused, nothing changed: {rule}") from None
    if value is None:
        store.unset_setting(key, ctx.peer.name)
    else:
        store.set_setting(key, value, ctx.peer.name)
    log.info("%s set %s to %s", ctx.peer.name, key, typed,
             extra={"FACEWATCH_SETTING": key, "FACEWATCH_ACTOR": ctx.peer.name})
    return _applied(ctx, key)


def _applied(ctx: Context, key: str) -> Step:
    yield ctx.service.request_reload("settings")
    return _row(ctx, key)


def _row(ctx: Context, key: str) -> dict[str, Any]:
    return next(row for row in settings(ctx) if row["key"] == key)
