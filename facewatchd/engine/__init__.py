"""The worker side: what a file is (kinds), decoding it (media), finding and encoding its
faces (faces, the only import of dlib), the plain data a worker returns (report), and
the pool of worker processes that runs it (pool, each process a worker); the same on a
Dask cluster ([cluster] only: cluster/), and the one choice between the two (pools).
Pure: a file's bytes in, a FaceReport out; nothing here moves a file or knows the
database."""
