"""Where analysis runs, chosen here and nowhere else: the local worker pool (pool.py), or
with a [cluster] section the Dask one (cluster/). The daemon and --oneshot open theirs
with `new_pool` and use either the same way (WorkerPool); a reload asks `renew` what its
new settings need. Dask is imported only when a cluster is asked for.
"""

from __future__ import annotations

from ..config import Config
from .pool import Pool, WorkerPool
from .worker import EngineSettings


def settings(config: Config) -> tuple[EngineSettings, int, float]:
    """What a local pool is made with: a change of these needs a new pool."""
    return EngineSettings.of(config), config.daemon.workers, config.recognition.file_timeout


def new_pool(config: Config, *, wait: bool = False) -> WorkerPool:
    """The local pool, or with a [cluster] section the Dask one.

    `wait` (--oneshot): raise UnavailableError now if the scheduler cannot be reached or
    has no workers; the daemon instead starts and keeps trying, saying so in status.
    """
    engine, workers, timeout = settings(config)
    if config.cluster is None:
        return Pool(engine, workers, timeout)
    from .cluster import ClusterPool  # Dask is imported only when asked for

    pool = ClusterPool(engine, config.cluster, timeout, fail_fast=wait)
    if wait:
        try:
            pool.wait_connected()
        except BaseException:
            pool.close()
            raise
    return pool


def renew(pool: WorkerPool, old: Config, new: Config) -> WorkerPool | None:
    """A reloaded configuration: a new local pool to take `pool`'s place if its settings
    changed (`pool` finishing its files in the background), or None if `pool` goes on (a
    cluster pool takes them for its next tasks). Local stays local and a cluster a cluster,
    whatever [cluster] says now: that takes effect at the next start."""
    if settings(new) == settings(old):
        return None
    if isinstance(pool, Pool):
        return Pool(*settings(new))
    from .cluster import ClusterPool  # in use: Dask is loaded already

    assert isinstance(pool, ClusterPool)
    pool.reconfigure(EngineSettings.of(new), new.recognition.file_timeout)
    return None
