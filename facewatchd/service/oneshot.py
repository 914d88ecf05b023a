"""One-shot mode: enroll the references, sort every file present in the inbound folders, exit."""

from __future__ import annotations

import logging
import os
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config as config_module
from ..config import Config
from ..control.show import describe_analysis
from ..engine.pools import new_pool
from ..files import scan
from ..files.enroll import EnrollSummary, enrol
from ..files.exiftool import ExifTool
from ..files.sorter import Sorter
from ..files.triage import Tally, Triaged, follow, sort, triage
from ..progress import Progress, counted
from ..state import Store
from ..steps import run_to_end
from ..vocabulary import Outcome
from .signals import Signals

log = logging.getLogger("facewatchd")


@dataclass
class Summary(Tally):
    enrolled: EnrollSummary = field(default_factory=EnrollSummary)
    ignored: int = 0  # not photos or videos (or sidecars of none): left in inbound
    held: int = 0  # put back in inbound by an undo: left there until released
    recovered: int = 0  # interrupted moves settled at start
    seconds: float = 0.0
    interrupted: bool = False
    analysis: dict[str, Any] = field(default_factory=dict)  # where analysis ran (pool.describe())

    def so_far(self) -> dict[str, int]:
        """What the progress line shows: how many went to people, and to review."""
        return {"to people": self.outcomes[Outcome.SORTED], "to review": self.outcomes[Outcome.REVIEW]}


def run(config: Config, signals: Signals) -> Summary:
    started = time.monotonic()
    store = Store(config.daemon.state_dir)
    try:
        # With the settings changed at run time, as the daemon has them (a pause aside:
        # a run asked for sorts).
        overrides = {key: s["value"] for key, s in store.overrides().items()}
        config = config_module.layered(config.path, overrides, log.warning)
        # The pool first: an unreachable Dask scheduler is one line and nothing moved, not
        # even an interrupted move settled.
        with closing(new_pool(config, wait=True)) as pool, closing(ExifTool()) as exiftool:
            sorter = Sorter(config, store, exiftool=exiftool)
            recovered = sorter.journal.recover()
            stop = lambda: signals.stop_requested  # noqa: E731
            enrolled = run_to_end(enrol(config.recognition.references, store),
                                  lambda paths: counted(pool.imap(paths, stop), len(paths), "references"))
            sorter.reload_references()
            summary = Summary(enrolled=enrolled, recovered=recovered)
            found: dict[Triaged, list[Path]] = {"media": [], "sidecar": [], "held": [], "ignored": []}
            for watch in config.watches:
                for path, kind in scan.walk(watch.inbound, watch.recursive):
                    found[triage(path, kind, sorter)].append(path)
            summary.ignored, summary.held = len(found["ignored"]), len(found["held"])
            progress = Progress(len(found["media"]), "sorting")
            try:
                for report in pool.imap([str(p) for p in found["media"]], stop):
                    if signals.forced:
                        break
                    summary.count(sort(sorter, report))
                    progress.update(summary.so_far())
            finally:
                progress.close()
            # Sidecars still here: their photo was sorted before (follow it), or is not here.
            summary.ignored += sum(os.path.lexists(s) and not follow(sorter, s) for s in found["sidecar"])
            summary.analysis = pool.describe()
        summary.interrupted = signals.stop_requested
        summary.seconds = time.monotonic() - started
        return summary
    finally:
        store.close()


def format_summary(s: Summary) -> str:
    """The summary a person reads at the end of a one-shot run."""
    handled = sum(s.outcomes.values()) - s.outcomes[Outcome.LEFT]
    rate = handled / s.seconds if s.seconds else 0.0
    lines = [f"{'stopped early: ' if s.interrupted else ''}handled {handled} files "
             f"in {s.seconds:.1f} s ({rate:.2f} files/s)",
             f"analysis: {describe_analysis(s.analysis)}"]
    refs = sum(s.enrolled.persons.values())
    lines.append(f"references: {len(s.enrolled.persons)} people, {refs} faces "
                 f"({s.enrolled.added} new, {len(s.enrolled.skipped)} photos not usable)")
    rows: list[tuple[str, int, str]] = [(person, n, "") for person, n in sorted(s.per_person.items())]
    reasons = ", ".join(f"{r.replace('_', ' ')} {n}" for r, n in sorted(s.reasons.items()))
    rows += [("to review", s.outcomes[Outcome.REVIEW], reasons),
             ("duplicates", s.outcomes[Outcome.DUPLICATE], ""),
             ("failed", s.outcomes[Outcome.FAILED], ""),
             ("left in inbound", s.outcomes[Outcome.LEFT], "changed, vanished or could not be moved"),
             ("ignored", s.ignored, "not photos or videos; left in inbound")]
    if s.held:
        rows.append(("held", s.held, "put back by an undo; facewatchctl release to sort them"))
    if s.recovered:
        rows.append(("recovered moves", s.recovered, ""))
    width = max(len(r[0]) for r in rows)
    for name, count, note in rows:
        extra = f"   ({note})" if note and count else ""
        lines.append(f"  {name:<{width}}  {count:>6}{extra}")
    return "\n".join(lines)
