"""The configuration's shape: one frozen dataclass per section, whose fields are the
allowed keys, their types, defaults and ranges (load.py checks a file against them).
The one place each is said: etc/facewatchd.toml and docs/configuration.md show them,
and tests/test_config.py holds both to this file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

DEFAULT_PATH = Path("/etc/facewatchd/facewatchd.toml")
PERSON_PLACEHOLDER = "{person}"


def _default_workers() -> int:
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class Range:
    """The values a number may take: at least `low` (above it, with `above`), at most
    `high`; None: no bound."""

    low: float | None = None
    high: float | None = None
    above: bool = False
    unit: str = ""  # what a number of them is ("seconds"), for the message

    def refusal(self, value: float) -> str | None:
        """Why `value` is out of range, or None when it is in."""
        low, high = self.low, self.high
        if (low is None or value > low or (value == low and not self.above)) and (
                high is None or value <= high):
            return None
        if high is None and low == 0 and self.above and self.unit:
            return f"must be a positive number of {self.unit}"
        if high is None and low == 0:
            return "must not be negative"
        if low is None:
            return f"must be at most {high:g}, got {value}"
        bound = f"above {low:g}" if self.above else f"at least {low:g}"
        if high is None:
            return f"must be {bound}, got {value}"
        if self.above:
            return f"must be {bound} and at most {high:g}, got {value}"
        return f"must be between {low:g} and {high:g}, got {value}"


def ranged(default: Any, low: float | None = None, high: float | None = None, *,
           above: bool = False, unit: str = "") -> Any:
    """A key with a default and the range its values must be in."""
    range_ = {"range": Range(low, high, above, unit)}
    if callable(default):
        return field(default_factory=default, metadata=range_)
    return field(default=default, metadata=range_)


def range_of(f: Any) -> Range | None:
    """The range of a dataclass field made by `ranged`."""
    found: Range | None = f.metadata.get("range")
    return found


DISTANCE = (0.0, 1.0)  # dlib's face distances that make sense as a setting


@dataclass(frozen=True)
class DaemonConfig:
    state_dir: Path = Path("/var/lib/facewatchd")
    socket: Path = Path("/run/facewatchd/facewatchd.sock")
    workers: int = ranged(_default_workers, 1)
    # Members of this group may use facewatchctl, besides root and the daemon's user
    # (default: the daemon's own group).
    group: str | None = None
    # A new file is sorted once it has not changed for this many seconds.
    settle: float = ranged(2.0, 0)
    # Seconds between full rescans of the inbound folders (0: only at start and on overflow).
    rescan_interval: float = ranged(3600.0, 0)
    # Files held between being seen and being analysed; more wait in inbound for a rescan.
    queue_limit: int = ranged(10000, 10)
    # On SIGTERM, seconds to let files being analysed finish before abandoning them.
    stop_timeout: float = ranged(30.0, 0, above=True, unit="seconds")
    # A file that could not be moved (full disk, read-only folder) is tried again after
    # this many seconds, then twice as long each time up to 15 minutes; only the move is
    # retried while the file is unchanged, it is not analysed again.
    retry_after: float = ranged(30.0, 0, above=True, unit="seconds")
    # Sorting stopped: new files wait in inbound, unread, until this is false again
    # (`facewatchctl pause` and `resume` set it at run time); review actions still work.
    paused: bool = False


@dataclass(frozen=True)
class RecognitionConfig:
    references: Path
    # Beyond this distance (dlib's), a face is not the person. 0.56, not dlib's usual 0.6:
    # the largest value with precision >= 0.99 on every family of held-out splits of the
    # in-the-wild photos (docs/recognition.md; tests/eval/tune.py).
    tolerance: float = ranged(0.56, *DISTANCE)
    # At or below this a match is sure; between it and tolerance, `min_support` of the
    # person's references must be within support_tolerance and the next person
    # `min_margin` further, or the file goes to review as uncertain.
    sure_tolerance: float = ranged(0.5, *DISTANCE)
    min_support: int = ranged(2, 1)
    min_margin: float = ranged(0.05, *DISTANCE)
    # ...where support is counted within this distance (a person's own photos agree with
    # two of their references within 0.6 far more often than a lookalike does).
    support_tolerance: float = ranged(0.6, *DISTANCE)
    # Faces smaller than this (px, as encoded) are matched only within sure_tolerance,
    # never in the band above it: their encodings say too little. 0: no such rule.
    min_band_face: float = ranged(30.0, 0)
    # Learn from sure matches: a face matched within auto_distance, with the next person
    # at least auto_margin further, at least auto_min_face px and auto_min_sharpness sharp,
    # alone in its photo, and at least auto_variety from every reference the person has,
    # becomes an automatic reference of that person (at most auto_cap each). Automatic
    # references count only within sure_tolerance. `undo` disables them like taught ones.
    auto_reference: bool = False
    auto_distance: float = ranged(0.45, *DISTANCE)
    auto_margin: float = ranged(0.10, *DISTANCE)
    auto_min_face: float = ranged(60.0, 0)
    auto_min_sharpness: float = ranged(30.0, 0)
    auto_variety: float = ranged(0.25, *DISTANCE)
    auto_cap: int = ranged(20, 0)
    model: Literal["hog", "cnn"] = "hog"
    # Detection runs on a copy whose longer side is at most this many pixels.
    max_side: int = ranged(1600, 160)
    # A picture smaller than max_side is enlarged towards it, by at most 2**upsample, to
    # find smaller faces in it (it is never enlarged beyond max_side).
    upsample: int = ranged(1, 0)
    # Faces down to `min_face` px at max_side (40: 2.5% of a photo's side, the CLI's
    # reach): "proposals" searches the whole photo for faces of 10% of its side and
    # more, and finely where BlazeFace proposes a smaller face (engine/proposals.py);
    # "always" searches every photo that finely, "no_face" only photos where the 80 px
    # search found no face, "never" stops at 80 px (5% of the side). docs/performance.md.
    fine_pass: Literal["never", "no_face", "proposals", "always"] = "proposals"
    min_face: int = ranged(40, 20, 80)  # the first pass finds 80 px faces
    # In a photo where no face is found, the best detection scoring at least this (HOG's
    # threshold is 0) is taken as a weak face: turned or half-hidden faces. 0: never.
    weak_threshold: float = ranged(-0.5, -2.0, 0.0)
    video_frames: int = ranged(8, 1)
    multi_person: Literal["all", "first", "review"] = "all"
    # A file whose analysis takes longer than this is set aside in failed/.
    file_timeout: float = ranged(300.0, 0, above=True, unit="seconds")


@dataclass(frozen=True)
class ReviewConfig:
    # Deleted review items wait this many days in the review folder's trash/.
    trash_days: float = ranged(30.0, 0)
    # Unknown faces closer than this (dlib distance) are neighbours for clustering.
    cluster_distance: float = ranged(0.5, 0.0, 1.0, above=True)
    # A cluster needs this many faces, each with that many neighbours (DBSCAN's min_samples).
    cluster_min_size: int = ranged(3, 2)


@dataclass(frozen=True)
class XmpConfig:
    # Write who is in each file filed under a person into its XMP sidecar (MWG face
    # regions and the person as a keyword), for digiKam, Immich, PhotoPrism, Lightroom;
    # never into the photo itself (files/xmp.py).
    write: bool = False


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
    tolerance: float | None = ranged(None, *DISTANCE)


@dataclass(frozen=True)
class ClusterConfig:
    """`[cluster]`: analysis on a Dask cluster instead of local worker processes."""

    # The Dask scheduler, "tcp://HOST:PORT" (`dask scheduler` listens on 8786).
    scheduler: str
    # false: workers open the files themselves, on shared storage, at the path the
    # daemon sees (rewritten by path_map); true: the daemon sends each file's bytes.
    send_bytes: bool = False
    # Folders as the daemon sees them -> as the workers mount them.
    path_map: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Files per Dask task, and tasks outstanding at once (0: twice the workers' threads).
    batch: int = ranged(4, 1)
    max_tasks: int = ranged(0, 0)
    # Dask runs a task that raised this many times more (a worker that dies is the
    # scheduler's `allowed-failures`); then its files stay in inbound.
    retries: int = ranged(2, 0)
    # Seconds to reach the scheduler; once lost, tries back off up to reconnect_max.
    connect_timeout: float = ranged(10.0, 0, above=True, unit="seconds")
    reconnect_max: float = ranged(60.0, 0, above=True, unit="seconds")
    # With send_bytes: larger files are not sent; they are set aside in failed/.
    max_bytes: int = ranged(256 * 1024 * 1024, 1)


@dataclass(frozen=True)
class Config:
    path: Path
    daemon: DaemonConfig
    recognition: RecognitionConfig
    watches: tuple[WatchConfig, ...]
    persons: Mapping[str, PersonConfig]
    review: ReviewConfig = ReviewConfig()
    cluster: ClusterConfig | None = None  # absent: local worker processes
    xmp: XmpConfig = XmpConfig()

    def tolerance_for(self, person: str) -> float:
        override = self.persons.get(person)
        if override is not None and override.tolerance is not None:
            return override.tolerance
        return self.recognition.tolerance
