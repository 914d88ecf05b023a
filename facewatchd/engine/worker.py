"""A worker process of the pool: the models loaded once, then one file at a time, path
in, FaceReport out. Only the worker processes run this module's `worker_main` (and so
import dlib and the decoders); the main process only starts them."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Hashable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from ..config import Config
from .report import FaceReport

if TYPE_CHECKING:  # the main process never imports dlib
    from .faces import FaceEngine

READY = ("ready", None)


@dataclass(frozen=True)
class EngineSettings:
    model: str = "hog"
    upsample: int = 1
    max_side: int = 1600
    video_frames: int = 8
    fine_pass: str = "proposals"
    min_face: int = 40
    weak_threshold: float = -0.5

    @classmethod
    def of(cls, config: Config) -> EngineSettings:
        rec = config.recognition
        return cls(rec.model, rec.upsample, rec.max_side, rec.video_frames, rec.fine_pass,
                   rec.min_face, rec.weak_threshold)


@dataclass
class Job:
    """A file given to a worker: which, how often tried, since when."""

    key: Hashable
    path: str
    attempts: int = 0
    started: float = 0.0


def worker_main(conn: Connection, settings: EngineSettings) -> None:
    # The main process owns signals: a terminal's Ctrl-C reaches the whole group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from .faces import FaceEngine
    from .media import die_with_parent

    # Our parent is the forkserver, which ends when the main process does, even by kill -9.
    die_with_parent()
    engine = FaceEngine(**asdict(settings))
    try:
        _serve(conn, engine)
    except (BrokenPipeError, ConnectionResetError):
        return  # the main process is gone: nobody wants the answer


def _serve(conn: Connection, engine: FaceEngine) -> None:
    conn.send(READY)  # the time limit starts with the first file, not with loading models
    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if job is None:
            return
        key, path = job
        try:
            report = engine.analyse(path)
        except Exception as e:  # a bug must cost one file, not the worker
            report = FaceReport(path, "image", error=f"internal error: {type(e).__name__}: {e}")
        conn.send((key, report))


class Worker:
    """One worker process and the pipe to it; `job` is the file it has, if any."""

    def __init__(self, ctx: multiprocessing.context.ForkServerContext, settings: EngineSettings) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, settings),
                                   name="facewatchd-worker", daemon=True)
        self.process.start()
        child.close()
        self.job: Job | None = None
        self.ready = False  # models loaded

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(timeout=None if kill else 5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
