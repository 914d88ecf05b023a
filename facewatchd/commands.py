"""What each control command does. Returns data; facewatchctl decides how it looks.

The names are protocol.COMMANDS' with dots as underscores: `reference.disable` is
`do_reference_disable`. Commands that need a worker (test, enroll) and reload answer
later, through `answer`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import protocol
from .control import Connection
from .decide import decide
from .enroll import the_face
from .errors import ConfigError
from .protocol import ProtocolError, Request
from .report import FaceReport
from .sorter import evidence

if TYPE_CHECKING:
    from .daemon import Daemon

ORIGIN_CTL = "ctl"
LATER = {"reload", "test", "enroll"}  # answered when their work is done
Answer = Callable[[Any], None]  # give it the result, or a ProtocolError


def valid_person_name(name: str) -> str:
    """A person's name becomes a folder name: refuse what cannot or should not be one."""
    if (not name or len(name.encode()) > 200 or name.startswith(".") or "/" in name
            or any(ord(c) < 32 for c in name)):
        raise ProtocolError(protocol.BAD_ARGS, f"{name!r} cannot be a person's folder name")
    return name


class Commands:
    """The control socket's handler: dispatches through the command table."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def __call__(self, conn: Connection, request: Request) -> bytes | None:
        method = getattr(self, "do_" + request.cmd.replace(".", "_"))
        if request.cmd not in LATER:
            return protocol.ok(request.id, method(**request.args))

        def answer(result: Any) -> None:
            if isinstance(result, ProtocolError):
                line = protocol.error(request.id, result.code, str(result))
            else:
                line = protocol.ok(request.id, result)
            self.daemon.control.reply(conn, line)

        method(answer, **request.args)
        return None

    def do_status(self) -> dict[str, Any]:
        return self.daemon.status()

    def do_persons(self) -> list[dict[str, Any]]:
        return self.daemon.store.persons()

    def do_references(self, person: str | None = None) -> list[dict[str, Any]]:
        refs = [dataclasses.asdict(r) for r in self.daemon.store.references()
                if person is None or r.person == person]
        if person is not None and not refs:
            raise ProtocolError(protocol.NOT_FOUND, f"no references of {person!r}")
        return refs

    def do_reference_disable(self, id: int) -> dict[str, Any]:
        return self._set_active(id, False)

    def do_reference_enable(self, id: int) -> dict[str, Any]:
        return self._set_active(id, True)

    def _set_active(self, ref_id: int, active: bool) -> dict[str, Any]:
        if not self.daemon.store.set_reference_active(ref_id, active):
            raise ProtocolError(protocol.NOT_FOUND, f"no reference {ref_id}")
        self.daemon.sorter.reload_references()
        return {"id": ref_id, "active": active}

    def do_why(self, path: str) -> dict[str, Any]:
        entry = self.daemon.store.entry_for_path(os.path.normpath(path))
        if entry is None:
            raise ProtocolError(protocol.NOT_FOUND, f"the ledger has no file at {path}")
        return dataclasses.asdict(entry)

    def do_scan(self, path: str | None = None) -> dict[str, Any]:
        if path is None:
            self.daemon.scan_all("asked by facewatchctl")
            return {"scanning": [str(w.inbound) for w in self.daemon.config.watches]}
        folder = Path(os.path.normpath(path))
        watch = self.daemon.sorter.watch_for(folder)
        if watch is None or not folder.is_dir():
            raise ProtocolError(protocol.NOT_ALLOWED, f"{path} is not a folder in an inbound folder")
        self.daemon.add_scan(str(folder), folder, watch.recursive)
        return {"scanning": [str(folder)]}

    def do_reload(self, answer: Answer) -> None:
        def done(result: Any) -> None:
            if isinstance(result, ConfigError):
                answer(ProtocolError(ConfigError.code, str(result)))
            else:
                answer(dataclasses.asdict(result))

        self.daemon.reload(done)

    def do_test(self, answer: Answer, file: str) -> None:
        def done(report: FaceReport) -> None:
            answer(self._would(report))

        self.daemon.analyse(self._existing(file), done)

    def _would(self, report: FaceReport) -> dict[str, Any]:
        if report.signature is None:
            return {"file": report.path, "outcome": "left", "rule": report.error, "faces": []}
        sorter = self.daemon.sorter
        decision = decide(report, sorter.references, sorter.policy)
        original = sorter.store.sorted_before(report.sha256) if report.sha256 else None
        watch = sorter.watch_for(Path(report.path)) or self.daemon.config.watches[0]
        if decision.outcome == "sorted":
            folders = [str(watch.destination_for(p)) for p in decision.persons]
        else:
            folders = [str(watch.review / ("failed" if decision.outcome == "failed" else ""))]
        return {**evidence(report, decision), "file": report.path,
                "outcome": "duplicate" if original else decision.outcome,
                "reason": decision.reason, "persons": list(decision.persons), "folders": folders,
                "duplicate_of": original.target if original else None}

    def do_enroll(self, answer: Answer, person: str, files: list[str]) -> None:
        valid_person_name(person)
        paths = list(dict.fromkeys(self._existing(f) for f in files))
        store = self.daemon.store
        results: dict[str, dict[str, Any]] = {}

        def done(report: FaceReport) -> None:
            face, why = the_face(report)
            known = [r.id for r in store.references() if (r.person, r.sha256) == (person, report.sha256)]
            if known:
                results[report.path] = {"file": report.path, "added": False,
                                        "why": f"already reference {known[0]}"}
            elif face is None:
                results[report.path] = {"file": report.path, "added": False, "why": why}
            else:
                ref = store.add_reference(person, ORIGIN_CTL, report.path, report.sha256,
                                          face.box, face.encoding)
                results[report.path] = {"file": report.path, "added": True, "id": ref}
            if len(results) == len(paths):
                self.daemon.sorter.reload_references()
                answer({"person": person, "files": [results[p] for p in paths]})

        for path in paths:
            self.daemon.analyse(path, done)

    @staticmethod
    def _existing(file: str) -> str:
        path = os.path.normpath(file)
        if not os.path.isabs(path):
            raise ProtocolError(protocol.BAD_ARGS, f"{file}: give an absolute path")
        if not os.path.lexists(path):
            raise ProtocolError(protocol.NOT_FOUND, f"{file}: no such file")
        return path


