"""Settings changed at run time (`facewatchctl set`, the review page), layered over the
configuration file as fail2ban's `.local` is over its `.conf`.

The file stays the base and is never rewritten (under systemd the daemon could not: the
system is read-only to it). A change is kept in the state database, by key, and merged
into what the file says before the one parser checks the whole (load.py): a value is
accepted or refused by exactly the rules a value in the file is, with the same message.

Keys are the file's, dotted: `recognition.tolerance`, `review.trash_days`,
`watch.1.review` (the first [[watch]] table), `persons.Anna.tolerance`.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from .model import ClusterConfig, Config, DaemonConfig, RecognitionConfig, ReviewConfig, XmpConfig

SECTIONS: dict[str, type] = {"daemon": DaemonConfig, "recognition": RecognitionConfig,
                             "review": ReviewConfig, "xmp": XmpConfig}
# What the running daemon cannot take without starting again: where its state and socket
# are, who may use it (the socket's group), and the cluster (the sandbox's network is
# opened for it at start).
AT_START = frozenset({"daemon.state_dir", "daemon.socket", "daemon.group"})
_WATCH_KEYS = {"inbound", "destination", "review", "recursive"}


def split(key: str) -> tuple[str, ...]:
    """A dotted key's parts: (section, key), ("watch", N, key) or ("persons", NAME, key).
    Raises UsageError for a key that is not a setting."""
    parts = key.split(".")
    if len(parts) == 2 and parts[0] in SECTIONS:
        if parts[1] not in {f.name for f in dataclasses.fields(SECTIONS[parts[0]])}:
            raise UsageError(f"{key}: [{parts[0]}] has no key {parts[1]!r}")
        return parts[0], parts[1]
    if len(parts) == 3 and parts[0] == "watch" and parts[1].isdigit() and parts[2] in _WATCH_KEYS:
        return tuple(parts)
    if len(parts) >= 3 and parts[0] == "persons" and parts[-1] == "tolerance":
        return "persons", ".".join(parts[1:-1]), "tolerance"  # a name may hold dots
    if parts[0] == "cluster":
        raise UsageError(f"{key}: [cluster] is read at start only: change it in the configuration"
                         " file, then restart")
    raise UsageError(f"{key}: not a setting (keys are as in the file: recognition.tolerance,"
                     " review.trash_days, watch.1.review, persons.NAME.tolerance; see"
                     " `facewatchctl settings`)")


def merged(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The file's tables with the overrides put in, each where the file would have it."""
    out = copy.deepcopy(dict(raw))
    for key, value in overrides.items():
        parts = split(key)
        if parts[0] == "watch":
            watches = out.get("watch")
            n = int(parts[1])
            if not isinstance(watches, list) or not 1 <= n <= len(watches):
                raise ConfigError(f"{key}: the configuration has no [[watch]] #{n}")
            watches[n - 1][parts[2]] = value
        elif parts[0] == "persons":
            out.setdefault("persons", {}).setdefault(parts[1], {})[parts[2]] = value
        else:
            out.setdefault(parts[0], {})[parts[1]] = value
    return out


def value_of(text: str) -> Any:
    """What a person typed as a value: a TOML value (0.58, true, "x"), or else the text
    itself (a path, a name)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def listing(config: Config, raw: Mapping[str, Any], overrides: Mapping[str, Mapping[str, Any]],
            persons: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every setting: its key, the value in use, and where that comes from: "default",
    "file", or "runtime" (with who set it and when, from `overrides`: key → {"value",
    "actor", "at"}); and whether it takes effect now or at the next start. `persons`:
    people known besides those the file names (their tolerance is a setting too)."""
    rows = []

    def row(key: str, value: Any, in_file: bool) -> None:
        set_at = overrides.get(key)
        rows.append({"key": key, "value": _plain(value),
                     "source": "runtime" if set_at else "file" if in_file else "default",
                     "actor": set_at["actor"] if set_at else None,
                     "at": set_at["at"] if set_at else None,
                     "live": key not in AT_START})

    for name, cls in SECTIONS.items():
        section = getattr(config, name)
        for f in dataclasses.fields(cls):
            row(f"{name}.{f.name}", getattr(section, f.name), f.name in raw.get(name, {}))
    for n, watch in enumerate(config.watches, 1):
        table = raw.get("watch", [])[n - 1] if n <= len(raw.get("watch", [])) else {}
        for key in ("inbound", "destination", "review", "recursive"):
            row(f"watch.{n}.{key}", getattr(watch, key), key in table)
    for person in sorted(set(config.persons) | set(persons)):
        tolerance = config.tolerance_for(person)
        row(f"persons.{person}.tolerance", tolerance,
            "tolerance" in raw.get("persons", {}).get(person, {}))
    if config.cluster is not None:
        for f in dataclasses.fields(ClusterConfig):
            rows.append({"key": f"cluster.{f.name}", "value": _plain(getattr(config.cluster, f.name)),
                         "source": "file" if f.name in raw.get("cluster", {}) else "default",
                         "actor": None, "at": None, "live": False})
    return rows


def _plain(value: Any) -> Any:
    """A value as JSON carries it."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value
