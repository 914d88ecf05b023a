"""The configuration: one TOML file parsed once into frozen dataclasses.

Every section is a dataclass whose fields are the allowed keys; the field's type is
the key's type and its default makes the key optional. Validation is driven by
those declarations, so a new key is one line here and the error messages follow.
A problem is reported as one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from .errors import ConfigError

DEFAULT_PATH = Path("/etc/facewatchd/facewatchd.toml")
PERSON_PLACEHOLDER = "{person}"


def _default_workers() -> int:
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class DaemonConfig:
    state_dir: Path = Path("/var/lib/facewatchd")
    socket: Path = Path("/run/facewatchd/facewatchd.sock")
    workers: int = field(default_factory=_default_workers)
    # Members of this group may use facewatchctl, besides root and the daemon's user
    # (default: the daemon's own group).
    group: str | None = None
    # A new file is sorted once it has not changed for this many seconds.
    settle: float = 2.0
    # Seconds between full rescans of the inbound folders (0: only at start and on overflow).
    rescan_interval: float = 3600.0
    # Files held between being seen and being analysed; more wait in inbound for a rescan.
    queue_limit: int = 10000
    # On SIGTERM, seconds to let files being analysed finish before abandoning them.
    stop_timeout: float = 30.0
    # A file that could not be moved (full disk, read-only folder) is tried again after
    # this many seconds, then twice as long each time up to 15 minutes; only the move is
    # retried while the file is unchanged, it is not analysed again.
    retry_after: float = 30.0


@dataclass(frozen=True)
class RecognitionConfig:
    references: Path
    # Beyond this distance (dlib's), a face is not the person.
    tolerance: float = 0.6
    # At or below this a match is sure; between it and tolerance, `min_support` of the
    # person's references must be within tolerance and the next person `min_margin`
    # further, or the file goes to review as uncertain.
    sure_tolerance: float = 0.5
    min_support: int = 2
    min_margin: float = 0.05
    model: Literal["hog", "cnn"] = "hog"
    # Detection runs on a copy whose longer side is at most this many pixels.
    max_side: int = 1600
    # At most this many times the detector doubles a picture smaller than max_side, to
    # find smaller faces in it (a picture is never doubled beyond max_side).
    upsample: int = 1
    video_frames: int = 8
    multi_person: Literal["all", "first", "review"] = "all"
    # A file whose analysis takes longer than this is set aside in failed/.
    file_timeout: float = 300.0


@dataclass(frozen=True)
class ReviewConfig:
    # Deleted review items wait this many days in the review folder's trash/.
    trash_days: float = 30.0
    # Unknown faces closer than this (dlib distance) are neighbours for clustering.
    cluster_distance: float = 0.5
    # A cluster needs this many faces, each with that many neighbours (DBSCAN's min_samples).
    cluster_min_size: int = 3


@dataclass(frozen=True)
class WatchConfig:
    inbound: Path
    destination: Path  # may contain {person}
    review: Path
    recursive: bool = True

    def destination_for(self, person: str) -> Path:
        """The folder for `person`: `destination` with {person} filled in."""
        return Path(str(self.destination).replace(PERSON_PLACEHOLDER, person))

    @property
    def destination_root(self) -> Path:
        """The folder that holds every person's folder (the destination without {person})."""
        before, found, _ = str(self.destination).partition(PERSON_PLACEHOLDER)
        return Path(os.path.dirname(before)) if found else self.destination


@dataclass(frozen=True)
class PersonConfig:
    tolerance: float | None = None


@dataclass(frozen=True)
class Config:
    path: Path
    daemon: DaemonConfig
    recognition: RecognitionConfig
    watches: tuple[WatchConfig, ...]
    persons: Mapping[str, PersonConfig]
    review: ReviewConfig = ReviewConfig()

    def tolerance_for(self, person: str) -> float:
        override = self.persons.get(person)
        if override is not None and override.tolerance is not None:
            return override.tolerance
        return self.recognition.tolerance


def load(path: Path) -> Config:
    """Read and validate the file at `path`; raise ConfigError with one line."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    return _Parser(path).config(raw)


class _Parser:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.resolve().parent

    def fail(self, where: str, message: str) -> typing.NoReturn:
        raise ConfigError(f"{self.path}: {where}: {message}")

    def config(self, raw: dict[str, Any]) -> Config:
        self.check_keys(raw, {"daemon", "recognition", "review", "watch", "persons"}, "top level")
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
        config = Config(self.path, daemon, recognition, watches, types.MappingProxyType(persons),
                        review)
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
        for where, tolerance in [("[recognition] tolerance", rec.tolerance),
                                 ("[recognition] sure_tolerance", rec.sure_tolerance),
                                 ("[recognition] min_margin", rec.min_margin)] + [
            (f"[persons.{name}] tolerance", p.tolerance)
            for name, p in config.persons.items()
            if p.tolerance is not None
        ]:
            if not 0.0 <= tolerance <= 1.0:
                self.fail(where, f"must be between 0 and 1, got {tolerance}")
        for where, number, low in [
            ("[daemon] workers", config.daemon.workers, 1),
            ("[recognition] max_side", rec.max_side, 160),
            ("[recognition] upsample", rec.upsample, 0),
            ("[recognition] video_frames", rec.video_frames, 1),
            ("[recognition] min_support", rec.min_support, 1),
            ("[daemon] queue_limit", config.daemon.queue_limit, 10),
            ("[review] cluster_min_size", config.review.cluster_min_size, 2),
        ]:
            if number < low:
                self.fail(where, f"must be at least {low}, got {number}")
        for where, seconds in [("[recognition] file_timeout", rec.file_timeout),
                               ("[daemon] stop_timeout", config.daemon.stop_timeout),
                               ("[daemon] retry_after", config.daemon.retry_after)]:
            if seconds <= 0:
                self.fail(where, "must be a positive number of seconds")
        if not 0.0 < config.review.cluster_distance <= 1.0:
            self.fail("[review] cluster_distance", "must be above 0 and at most 1")
        for where, seconds in [("[review] trash_days", config.review.trash_days),
                               ("[daemon] settle", config.daemon.settle),
                               ("[daemon] rescan_interval", config.daemon.rescan_interval)]:
            if seconds < 0:
                self.fail(where, "must not be negative")
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

    def require_dir(self, path: Path, where: str) -> None:
        if not path.is_dir():
            self.fail(where, f"no such folder: {path}")


def _real(path: Path) -> Path:
    """The folder with symlinks resolved, so two names for one folder compare equal."""
    return Path(os.path.realpath(path))


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
