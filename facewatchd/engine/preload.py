"""What the pool's forkserver imports before it forks a worker: the engine's code and
its dlib models (faces.shared_models), so that a worker, the first or a replacement,
starts with them loaded instead of loading its own (~0.4 CPU s each)."""

from .faces import shared_models

shared_models()
