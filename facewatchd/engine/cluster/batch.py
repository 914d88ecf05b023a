"""The files of one Dask task ([cluster]): made ready by the daemon, and their reports
taken back as if the daemon had read the files itself.

- Keyed by content: a task's Dask key is a hash of its files' identities (the content
  hash when the daemon sends the bytes; path, inode, size and mtime otherwise), so the
  same files sent again join the task instead of running twice.
- Signatures: the sorter moves a file only if it still has the signature its report
  carries. A worker reading shared storage sees another device (and maybe other
  inodes), so its report gets the daemon's own device and inode with the size and mtime
  the worker saw while reading; with send_bytes, the signature of what the daemon read.

No Dask here: the dispatcher (dispatch.py) sends what this prepares.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ...config import ClusterConfig
from .. import kinds
from ..report import FaceReport, Signature
from ..worker import EngineSettings

TASK_BYTES = 64 * 1024 * 1024  # send_bytes: a task carries at most this much (or one file)


@dataclass
class Item:
    """A file submitted to the cluster pool."""

    uid: int
    path: str  # as the daemon sees it
    solo: bool = False  # its batch lost its workers: it runs alone, so a poison file is found

    @property
    def kind(self) -> str:
        return kinds.analysed_as(self.path)


@dataclass
class Batch:
    key: str  # the Dask key
    items: list[Item]
    files: list[tuple[str, bytes | None]]  # what the task carries: (path there, content if sent)
    signatures: list[Signature]  # the daemon's view of each file as it was sent
    hashes: list[str | None]  # send_bytes: the content hash of what was sent

    def report(self, i: int, report: FaceReport) -> FaceReport:
        """A worker's report of file `i`, as if the daemon had read the file itself."""
        report = replace(report, path=self.items[i].path)
        if report.signature is None:
            return report  # never opened there: it stays in inbound (the error says why)
        ours, sent = self.signatures[i], self.hashes[i]
        if sent is not None:  # send_bytes: what the daemon read is what counts
            if report.sha256 != sent:
                return replace(report, signature=None, error="the content changed on its way to the worker")
            return replace(report, signature=ours)
        # Shared storage: the daemon's identity of the file, the version the worker read.
        seen = report.signature
        return replace(report, signature=Signature(ours.device, ours.inode, seen.size, seen.mtime_ns))


@dataclass
class Prepared:
    batch: Batch | None = None  # None: no file could be sent
    rest: list[Item] = field(default_factory=list)  # send_bytes: beyond one task's worth of bytes


def prepare(items: list[Item], settings: EngineSettings, cluster: ClusterConfig,
            deliver: Callable[[int, FaceReport], None]) -> Prepared:
    """Look at (or read) each file, in a helper thread: a file that cannot be sent has its
    report delivered now; the rest make one batch."""
    prepared = Prepared()
    kept: list[Item] = []
    files: list[tuple[str, bytes | None]] = []
    signatures: list[Signature] = []
    hashes: list[str | None] = []
    identities: list[str] = []
    total = 0
    for n, item in enumerate(items):
        if cluster.send_bytes:
            if kept and total >= TASK_BYTES:  # enough for one message: the rest waits
                prepared.rest = items[n:]
                break
            read = _read(item, cluster.max_bytes)
            if isinstance(read, FaceReport):
                deliver(item.uid, read)
                continue
            signature, data, digest = read
            total += len(data)
            files.append((item.path, data))
            identities.append(digest)
            hashes.append(digest)
        else:
            looked = _look(item)
            if isinstance(looked, FaceReport):
                deliver(item.uid, looked)
                continue
            signature = looked
            files.append((map_path(item.path, cluster.path_map), None))
            identities.append(f"{item.path}\0{signature.device}:{signature.inode}:"
                              f"{signature.size}:{signature.mtime_ns}")
            hashes.append(None)
        kept.append(item)
        signatures.append(signature)
    if kept:
        key = "facewatchd-" + hashlib.sha256("\n".join([repr(settings), *identities]).encode(
            "utf-8", "surrogateescape")).hexdigest()[:40]
        prepared.batch = Batch(key, kept, files, signatures, hashes)
    return prepared


def _look(item: Item) -> Signature | FaceReport:
    """The daemon's view of a file a worker will read: its signature, or why not."""
    try:
        st = os.lstat(item.path)
    except OSError as e:
        return FaceReport(item.path, item.kind, error=f"cannot open: {e.strerror}")
    if not stat.S_ISREG(st.st_mode):
        return FaceReport(item.path, item.kind, error="not a regular file")
    return Signature.of(st)


def _read(item: Item, max_bytes: int) -> tuple[Signature, bytes, str] | FaceReport:
    """send_bytes: the file's signature, content and hash, read as a worker would."""
    try:
        # O_NOFOLLOW refuses a symlink; O_NONBLOCK keeps a FIFO from blocking the open.
        fd = os.open(item.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        return FaceReport(item.path, item.kind, error=f"cannot open: {e.strerror}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return FaceReport(item.path, item.kind, error="not a regular file")
        signature = Signature.of(st)
        digest = hashlib.sha256()
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
            if st.st_size <= max_bytes:
                chunks.append(chunk)
        if st.st_size > max_bytes:  # not sent: set aside in failed/, known by its hash
            return FaceReport(item.path, item.kind, sha256=digest.hexdigest(), signature=signature,
                              error=f"larger than [cluster] max_bytes ({max_bytes >> 20} MiB), "
                                    "not sent to the cluster")
        return signature, b"".join(chunks), digest.hexdigest()
    except OSError as e:
        return FaceReport(item.path, item.kind, error=f"cannot read: {e.strerror or e}")
    finally:
        os.close(fd)


def map_path(path: str, path_map: Mapping[str, str]) -> str:
    """`path` as the workers see it: the longest matching prefix (whole folders) replaced."""
    best: tuple[str, str] | None = None
    for ours, theirs in path_map.items():
        prefix = ours.rstrip("/")
        if (path == prefix or path.startswith(prefix + "/")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, theirs.rstrip("/"))
    return path if best is None else best[1] + path[len(best[0]):]
