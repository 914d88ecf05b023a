"""The steps of long work: the vocabulary between those who write it (files, control)
and the loop that runs it (service/tasks.py).

Long work is a generator. A bare `yield` is a point where the loop may leave it and
come back (so is `yield Counted(done, total)`, which also says how far along it is, for
`status`); `yield Analyse(paths)` is resumed with the files' reports, in order;
`yield future` with the Future's value (or its error, raised where it waits). What
the generator returns is its result.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

from .engine.report import FaceReport


@dataclass(frozen=True)
class Analyse:
    """Yielded by a task: analyse these files; the task resumes with their reports."""

    paths: tuple[str, ...]


@dataclass(frozen=True)
class Counted:
    """Yielded by a task as a bare yield is: `done` of `total` done (files, say)."""

    done: int
    total: int


class Future:
    """A value the loop will have later (the end of a reload, say); tasks wait by
    yielding it."""

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self._callbacks: list[Callable[[], None]] = []

    def set(self, value: Any = None, error: BaseException | None = None) -> None:
        self.done, self.value, self.error = True, value, error
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def then(self, callback: Callable[[], None]) -> None:
        if self.done:
            callback()
        else:
            self._callbacks.append(callback)


Step = Generator[Analyse | Counted | Future | None, Any, Any]
Done = Callable[[Any, BaseException | None], None]  # (result, None) or (None, error)


def run_to_end(steps: Step, analyse: Callable[[list[str]], Iterable[FaceReport]]) -> Any:
    """Drive a task to its end on the spot (a one-shot run has no loop to share):
    `analyse(paths)` returns their reports in any order."""
    send: Any = None
    while True:
        try:
            asked = steps.send(send)
        except StopIteration as end:
            return end.value
        send = None
        if isinstance(asked, Future):
            raise RuntimeError("a task run to its end cannot wait for the loop")
        if isinstance(asked, Analyse):
            reports = {r.path: r for r in analyse(list(asked.paths))}
            send = [reports[p] for p in asked.paths]
