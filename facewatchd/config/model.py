"""The configuration's shape: one frozen dataclass per section, whose fields are the
allowed keys, their types and defaults (load.py checks a file against them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

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
    # Beyond this distance (dlib's), a face is not the person. 0.56, not dlib's usual 0.6:
    # the largest value with precision >= 0.99 on every family of held-out splits of the
    # in-the-wild photos (README, "How a face is recognised"; tests/eval/tune.py).
    tolerance: float = 0.56
    # At or below this a match is sure; between it and tolerance, `min_support` of the
    # person's references must be within support_tolerance and the next person
    # `min_margin` further, or the file goes to review as uncertain.
    sure_tolerance: float = 0.5
    min_support: int = 2
    min_margin: float = 0.05
    # ...where support is counted within this distance (a person's own photos agree with
    # two of their references within 0.6 far more often than a lookalike does).
    support_tolerance: float = 0.6
    # Faces smaller than this (px, as encoded) are matched only within sure_tolerance,
    # never in the band above it: their encodings say too little. 0: no such rule.
    min_band_face: float = 30.0
    # Learn from sure matches: a face matched within auto_distance, with the next person
    # at least auto_margin further, at least auto_min_face px and auto_min_sharpness sharp,
    # alone in its photo, and at least auto_variety from every reference the person has,
    # becomes an automatic reference of that person (at most auto_cap each). Automatic
    # references count only within sure_tolerance. `undo` disables them like taught ones.
    auto_reference: bool = False
    auto_distance: float = 0.45
    auto_margin: float = 0.10
    auto_min_face: float = 60.0
    auto_min_sharpness: float = 30.0
    auto_variety: float = 0.25
    auto_cap: int = 20
    model: Literal["hog", "cnn"] = "hog"
    # Detection runs on a copy whose longer side is at most this many pixels.
    max_side: int = 1600
    # A picture smaller than max_side is enlarged towards it, by at most 2**upsample, to
    # find smaller faces in it (it is never enlarged beyond max_side).
    upsample: int = 1
    # Faces down to `min_face` px at max_side (40: 2.5% of a photo's side, the CLI's
    # reach): "proposals" searches the whole photo for faces of 10% of its side and
    # more, and finely where BlazeFace proposes a smaller face (engine/proposals.py);
    # "always" searches every photo that finely (~3x the CPU of "never" on 12 MP
    # photos), "no_face" only photos where the 80 px search found no face, "never"
    # stops at 80 px (5% of the side). README, Performance.
    fine_pass: Literal["never", "no_face", "proposals", "always"] = "proposals"
    min_face: int = 40
    # In a photo where no face is found, the best detection scoring at least this (HOG's
    # threshold is 0) is taken as a weak face: turned or half-hidden faces. 0: never.
    weak_threshold: float = -0.5
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
    batch: int = 4
    max_tasks: int = 0
    # Dask runs a task that raised this many times more (a worker that dies is the
    # scheduler's `allowed-failures`); then its files stay in inbound.
    retries: int = 2
    # Seconds to reach the scheduler; once lost, tries back off up to reconnect_max.
    connect_timeout: float = 10.0
    reconnect_max: float = 60.0
    # With send_bytes: larger files are not sent; they are set aside in failed/.
    max_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class Config:
    path: Path
    daemon: DaemonConfig
    recognition: RecognitionConfig
    watches: tuple[WatchConfig, ...]
    persons: Mapping[str, PersonConfig]
    review: ReviewConfig = ReviewConfig()
    cluster: ClusterConfig | None = None  # absent: local worker processes

    def tolerance_for(self, person: str) -> float:
        override = self.persons.get(person)
        if override is not None and override.tolerance is not None:
            return override.tolerance
        return self.recognition.tolerance
