"""Analysis on a Dask cluster ([cluster]): the local pool's interface (WorkerPool) for
archives one machine cannot do in good time. engine/pools.py chooses it, and only when
the configuration has a [cluster] section: Dask is imported here, in this package and
nowhere else (import-linter holds that; tests/test_imports.py that a daemon without
[cluster] never loads it).

- pool.py: ClusterPool, what the daemon's main thread uses; it never touches the network.
- thread.py: the cluster thread, an asyncio loop of its own, and the way the main thread
  reaches it.
- connection.py: the Dask client and the scheduler: connecting, losing it, trying again
  with backoff, and the Health that status shows.
- dispatch.py: the files waiting, batches sent, their time limits, and one method for
  each way a task can end.
- batch.py: what a task carries and its key, and its reports made the daemon's own.
- worker.py: what runs on the Dask workers: the task, and the plugin that loads the models.
"""

from .pool import ClusterPool

__all__ = ["ClusterPool"]
