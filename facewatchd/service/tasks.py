"""Work the main loop does a slice at a time: batch commands, re-checks, enrollment, purges.

A task is a generator. Each bare `yield` marks a point where the loop may leave it
to do other things (serve the sockets, sort a file, ping the watchdog) and come
back later: a task yields after each file it moves or hashes, so no amount of work
keeps the loop away for longer than one file takes. A task that needs files
analysed yields `Analyse(paths)` and is resumed with their reports, in the same
order, once all are back; meanwhile the others run. At most `slots` analyses of all
tasks together are in the pool at once, so clients and enrollments share the
workers with the inbound files instead of filling their backlog.

Bounded: the pools give every file back within its time limit while they have workers;
when they have had none for a while (a lost Dask scheduler: `unavailable` says why), a
task waiting for analyses has UnavailableError raised where it waits, so a control
command answers instead of waiting for ever. Its files stay in the pool and come back
later, unwanted. A `patient` task waits anyway (the references at start: READY waits
for them).

What a generator returns is handed to its `done` callback; so is an exception it
raises, which ends that task only.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..engine.report import FaceReport
from ..errors import FacewatchError, UnavailableError
from ..steps import Analyse, Counted, Done, Future, Step

log = logging.getLogger("facewatchd.tasks")

Submit = Callable[[str, Callable[[FaceReport], None]], None]
Unavailable = Callable[[], str | None]  # why no analysis can come back for now, or None


@dataclass(eq=False)
class Task:
    name: str
    steps: Step
    done: Done | None
    send: Any = None  # what the generator is resumed with
    throw: BaseException | None = None  # or the error raised where it waits
    todo: deque[tuple[int, str]] = field(default_factory=deque)  # analyses not yet submitted
    reports: list[FaceReport | None] = field(default_factory=list)
    missing: int = 0  # analyses not yet back
    paths: tuple[str, ...] = ()  # of the Analyse it waits for
    asked: int = 0  # Analyses asked: a report for one given up is not taken for the next
    patient: bool = False  # waits for its analyses however long the pool has no workers
    counted: Counted | None = None  # how far along it said it is, the last time
    started: float = field(default_factory=time.monotonic)

    def progress(self) -> Counted | None:
        """How far along: its analyses back, while it waits for some; else what it said."""
        if self.missing:
            return Counted(len(self.paths) - self.missing, len(self.paths))
        return self.counted


class Tasks:
    def __init__(self, submit: Submit, slots: Callable[[], int],
                 unavailable: Unavailable = lambda: None) -> None:
        self._submit, self._slots, self._unavailable = submit, slots, unavailable
        self._runnable: deque[Task] = deque()
        self._background: set[str] = set()  # the daemon's own tasks under way, by name
        self._waiting: deque[Task] = deque()  # for analyses, in the order they asked
        self._parked: list[Task] = []  # waiting for a Future
        self._in_pool = 0

    def __len__(self) -> int:
        return len(self._runnable) + len(self._waiting) + len(self._parked)

    @property
    def runnable(self) -> bool:
        """Whether some task can go on now (the loop should not sleep)."""
        return bool(self._runnable)

    def start(self, name: str, steps: Step, done: Done | None = None, *, patient: bool = False) -> Task:
        task = Task(name, steps, done, patient=patient)
        self._runnable.append(task)
        return task

    def background(self, name: str, steps: Step) -> None:
        """Run the daemon's own long work (a purge, retried moves), one of each kind at a
        time: asked again while one runs, it is not started twice."""
        if name in self._background:
            steps.close()
            return
        self._background.add(name)
        self.start(name, steps, lambda _result, _error: self._background.discard(name))

    def names(self) -> list[str]:
        return [t.name for t in (*self._runnable, *self._waiting, *self._parked)]

    def jobs(self) -> list[dict[str, Any]]:
        """The tasks that know how far along they are: {name, done, total}, oldest first."""
        tasks = sorted((*self._runnable, *self._waiting, *self._parked), key=lambda t: t.started)
        return [{"name": t.name, "done": c.done, "total": c.total}
                for t in tasks if (c := t.progress()) is not None and c.total]

    def run(self, budget: float) -> None:
        """Advance the runnable tasks in turn until `budget` seconds are spent."""
        deadline = time.monotonic() + budget
        why = self._unavailable()
        if why is not None:
            for task in [t for t in self._waiting if not t.patient]:
                self._waiting.remove(task)
                self._give_up(task, why)
        while self._runnable and time.monotonic() < deadline:
            task = self._runnable.popleft()
            send, throw, task.send, task.throw = task.send, task.throw, None, None
            try:
                asked = task.steps.throw(throw) if throw else task.steps.send(send)
            except StopIteration as end:
                self._finish(task, end.value, None)
                continue
            except FacewatchError as e:  # refused as asked: the caller is told why
                self._finish(task, None, e)
                continue
            except Exception as e:  # a bug ends this task, not the loop
                log.exception("%s failed", task.name)
                self._finish(task, None, e)
                continue
            if isinstance(asked, Analyse):
                task.counted = None
                self._wait(task, asked.paths, why)
            elif isinstance(asked, Future):
                self._parked.append(task)
                asked.then(functools.partial(self._resume, task, asked))
            else:
                if isinstance(asked, Counted):
                    task.counted = asked
                self._runnable.append(task)
        self._pump()

    def abandon(self, why: BaseException) -> None:
        """Stop every task where it is (the daemon is stopping); each is told `why`."""
        tasks = (*self._runnable, *self._waiting, *self._parked)
        self._runnable.clear()
        self._waiting.clear()
        self._parked.clear()
        for task in tasks:
            task.steps.close()
            self._finish(task, None, why)

    def _resume(self, task: Task, future: Future) -> None:
        if task in self._parked:  # not abandoned meanwhile
            self._parked.remove(task)
            task.send, task.throw = future.value, future.error
            self._runnable.append(task)

    def _wait(self, task: Task, paths: Iterable[str], unavailable: str | None) -> None:
        task.paths = tuple(paths)
        task.asked += 1
        task.todo = deque(enumerate(task.paths))
        task.reports = [None] * len(task.todo)
        task.missing = len(task.todo)
        if not task.missing:
            task.send = []
            self._runnable.append(task)
        elif unavailable is not None and not task.patient:
            self._give_up(task, unavailable)
        else:
            self._waiting.append(task)

    def _give_up(self, task: Task, why: str) -> None:
        """No analysis can come back for now: the task is told where it waits."""
        what = task.paths[0] if len(task.paths) == 1 else f"{len(task.paths)} files"
        task.todo.clear()
        task.throw = UnavailableError(f"cannot analyse {what} now: {why}")
        log.warning("%s: %s", task.name, task.throw)
        self._runnable.append(task)

    def _pump(self) -> None:
        """Hand waiting tasks' files to the pool, in turn, while slots are free."""
        while self._in_pool < self._slots():
            task = next((t for t in self._waiting if t.todo), None)
            if task is None:
                return
            index, path = task.todo.popleft()
            self._waiting.remove(task)  # to the back: the next file is another task's
            self._waiting.append(task)
            self._in_pool += 1
            self._submit(path, functools.partial(self._back, task, task.asked, index))

    def _back(self, task: Task, asked: int, index: int, report: FaceReport) -> None:
        self._in_pool -= 1
        if task not in self._waiting or task.asked != asked:
            return  # abandoned or given up meanwhile
        task.reports[index] = report
        task.missing -= 1
        if not task.missing:
            self._waiting.remove(task)
            task.send = task.reports
            self._runnable.append(task)
        self._pump()

    def _finish(self, task: Task, result: Any, error: BaseException | None) -> None:
        if task.done is None:
            return
        try:
            task.done(result, error)
        except Exception:
            log.exception("the end of %s failed", task.name)
