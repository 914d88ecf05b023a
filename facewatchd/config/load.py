"""Reading the configuration file: TOML → the dataclasses of model.py, checked.

Validation is driven by the dataclasses' declarations (a new key is one field there,
and its error messages follow), then what the values mean together is checked:
folders that must exist, numbers in range, and layouts that would make the daemon
sort its own folders. A problem is reported as one line naming the file and the key.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import os
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError
from .model import (
    PERSON_PLACEHOLDER,
    ClusterConfig,
    Config,
    DaemonConfig,
    PersonConfig,
    RecognitionConfig,
    ReviewConfig,
    WatchConfig,
    XmpConfig,
    range_of,
)
from .overrides import merged


def load(path: Path, overrides: collections.abc.Mapping[str, Any] | None = None) -> Config:
    """Read and validate the file at `path`, with the settings changed at run time
    (overrides.py: dotted key → value) put in; raise ConfigError with one line."""
    path = Path(path)
    raw = read(path)
    return _Parser(path).config(merged(raw, overrides) if overrides else raw)


def layered(path: Path, overrides: collections.abc.Mapping[str, Any],
            warn: collections.abc.Callable[[str], None]) -> Config:
    """The file with the settings changed at run time that it still takes: one it no
    longer does (its [[watch]] table gone from the file, say) is left out, and said."""
    config = load(path)  # a bad file is refused as without them
    kept: dict[str, Any] = {}
    for key, value in overrides.items():
        try:
            config = load(path, {**kept, key: value})
        except ConfigError as e:
            warn(f"the setting {key} = {value!r} changed at run time is not used now: {e}")
            continue
        kept[key] = value
    return config


def read(path: Path) -> dict[str, Any]:
    """The file's tables as they are, unchecked; ConfigError if it cannot be read."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


class _Parser:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.resolve().parent

    def fail(self, where: str, message: str) -> typing.NoReturn:
        raise ConfigError(f"{self.path}: {where}: {message}")

    def config(self, raw: dict[str, Any]) -> Config:
        self.check_keys(raw, {"daemon", "recognition", "review", "watch", "persons", "cluster", "xmp"},
                        "top level")
        daemon = self.section(DaemonConfig, raw.get("daemon", {}), "[daemon]")
        if "recognition" not in raw:
            self.fail("[recognition]", "missing section (it names the references folder)")
        recognition = self.section(RecognitionConfig, raw["recognition"], "[recognition]")
        watch_tables = raw.get("watch")
        if not isinstance(watch_tables, list) or not watch_tables:
            self.fail("[[watch]]", "at least one [[watch]] table is required")
        watches = tuple(
            self.section(WatchConfig, table, f"[[watch]] #{i}")
            for i, table in enumerate(watch_tables, 1)
        )
        persons_raw = raw.get("persons", {})
        if not isinstance(persons_raw, dict):
            self.fail("[persons]", "must be a table of [persons.NAME] tables")
        persons = {
            name: self.section(PersonConfig, table, f"[persons.{name}]")
            for name, table in persons_raw.items()
        }
        review = self.section(ReviewConfig, raw.get("review", {}), "[review]")
        cluster = self.section(ClusterConfig, raw["cluster"], "[cluster]") if "cluster" in raw else None
        xmp = self.section(XmpConfig, raw.get("xmp", {}), "[xmp]")
        config = Config(self.path, daemon, recognition, watches, types.MappingProxyType(persons),
                        review, cluster, xmp)
        self.check_meaning(config)
        return config

    def check_keys(self, table: Any, allowed: set[str], where: str) -> None:
        if not isinstance(table, dict):
            self.fail(where, "must be a table")
        for key in table:
            if key not in allowed:
                self.fail(f"{where} {key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def section(self, cls: type, table: Any, where: str) -> Any:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        self.check_keys(table, set(fields), where)
        hints = typing.get_type_hints(cls)
        values = {}
        for name, f in fields.items():
            if name in table:
                values[name] = self.value(hints[name], table[name], f"{where} {name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.fail(f"{where} {name}", "missing required key")
        return cls(**values)

    def value(self, hint: Any, value: Any, where: str) -> Any:
        origin = typing.get_origin(hint)
        if origin is Literal:
            choices = typing.get_args(hint)
            if value not in choices:
                self.fail(where, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
            return value
        if origin in (typing.Union, types.UnionType):  # only `X | None` is used
            (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) is collections.abc.Mapping:  # only Mapping[str, str] is used
            if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                self.fail(where, f"must be a table of strings, got {value!r}")
            return types.MappingProxyType(dict(value))
        if hint is Path:
            if not isinstance(value, str) or not value:
                self.fail(where, f"must be a path (a non-empty string), got {value!r}")
            return self.base / Path(value).expanduser()
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        # bool is a subclass of int: `workers = true` must not pass as 1.
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            self.fail(where, f"must be {_TYPE_NAMES[hint]}, got {value!r}")
        return value

    def check_meaning(self, config: Config) -> None:
        rec = config.recognition
        sections: list[tuple[str, Any]] = [
            ("[daemon]", config.daemon), ("[recognition]", rec), ("[review]", config.review),
            *((f"[persons.{name}]", p) for name, p in config.persons.items())]
        if config.cluster is not None:
            sections.append(("[cluster]", config.cluster))
        for where, section in sections:
            self.check_ranges(section, where)
        if rec.auto_reference and rec.auto_distance > rec.sure_tolerance:
            self.fail("[recognition] auto_distance", "must be within sure_tolerance: only sure "
                      "matches may teach")
        if config.cluster is not None:
            self.check_cluster(config.cluster)
        if rec.sure_tolerance > rec.tolerance:
            self.fail("[recognition] sure_tolerance",
                      f"{rec.sure_tolerance} is above [recognition] tolerance {rec.tolerance}; "
                      "a sure match cannot be looser than any match")
        self.require_dir(rec.references, "[recognition] references")
        self.require_dir(config.daemon.state_dir.parent, "[daemon] state_dir (its parent)")
        for i, watch in enumerate(config.watches, 1):
            where = f"[[watch]] #{i}"
            self.require_dir(watch.inbound, f"{where} inbound")
            # The folder above the first per-person part must exist: "/srv/photos/{person}"
            # and "/srv/photos/p-{person}" need /srv/photos, "/srv/sorted" needs /srv.
            before_person = str(watch.destination).split(PERSON_PLACEHOLDER)[0]
            self.require_dir(Path(os.path.dirname(before_person)), f"{where} destination (its parent)")
            self.require_dir(watch.review.parent, f"{where} review (its parent)")
        self.check_layout(config)

    def check_layout(self, config: Config) -> None:
        """Refuse every overlap that would make the daemon sort its own folders: what it
        writes (destinations, review folders) or reads as truth (references) inside an
        inbound folder it watches, or an inbound folder inside one of those."""
        kept: list[tuple[str, Path]] = [("[recognition] references", config.recognition.references)]
        for i, watch in enumerate(config.watches, 1):
            kept += [(f"[[watch]] #{i} destination", watch.destination_root),
                     (f"[[watch]] #{i} review", watch.review)]
        for i, watch in enumerate(config.watches, 1):
            inbound, key = _real(watch.inbound), f"[[watch]] #{i} inbound"
            for name, folder in kept:
                folder = _real(folder)
                if folder == inbound or (watch.recursive and folder.is_relative_to(inbound)):
                    self.fail(name, f"is inside {key} ({watch.inbound}); its files would be "
                                    "sorted again")
                if inbound.is_relative_to(folder):
                    self.fail(key, f"is inside {name} ({folder}); the daemon would sort "
                                   "its own files")
            for j, other in enumerate(config.watches, 1):
                if j != i and other.recursive and inbound.is_relative_to(_real(other.inbound)):
                    self.fail(key, f"is inside [[watch]] #{j} inbound ({other.inbound}); "
                                   "two watches would take the same files")

    def check_ranges(self, section: Any, where: str) -> None:
        """Every number of a section within the range its field declares (model.py)."""
        for f in dataclasses.fields(section):
            value, allowed = getattr(section, f.name), range_of(f)
            if allowed is not None and value is not None and (why := allowed.refusal(value)):
                self.fail(f"{where} {f.name}", why)

    def check_cluster(self, cluster: ClusterConfig) -> None:
        if not _SCHEDULER.fullmatch(cluster.scheduler):
            self.fail("[cluster] scheduler",
                      f'must be "tcp://HOST:PORT" (a Dask scheduler), got {cluster.scheduler!r}')
        for ours, theirs in cluster.path_map.items():
            for path in (ours, theirs):
                if not os.path.isabs(path):
                    self.fail(f"[cluster] path_map {ours!r}", f"{path!r} is not an absolute path")

    def require_dir(self, path: Path, where: str) -> None:
        if not path.is_dir():
            self.fail(where, f"no such folder: {path}")


def _real(path: Path) -> Path:
    """The folder with symlinks resolved, so two names for one folder compare equal."""
    return Path(os.path.realpath(path))


# Plain TCP only: Dask's tls:// needs certificates this configuration cannot name yet.
_SCHEDULER = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}")
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
