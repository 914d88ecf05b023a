"""`facewatchctl`: the control client's command line.

Its arguments, help and way of showing each answer come from the table of commands
(table.py); it sends one request (or pages through a long answer), then prints the
answer as text for people (show.py) or, with --json, as one JSON document for
scripts. Some commands do part of their work here (`local`): `scan` waits with a
progress line, `review sheet` writes the contact sheet. On a terminal, long work in the
daemon (`progress` in the table: enroll, undo) shows how far along it is meanwhile.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import DEFAULT_PATH
from ..errors import BATCH_FAILED, Code, FacewatchError
from ..progress import Progress
from . import sheet
from .client import Client, socket_path
from .show import show
from .table import COMMANDS, Arg
from .web import server as web


def parser() -> argparse.ArgumentParser:
    lines = [f"  {c.name.replace('.', ' '):<22} {c.help}" for c in COMMANDS.values()]
    lines.append(f"  {'web':<22} {web.HELP}")
    p = argparse.ArgumentParser(
        prog="facewatchctl", description="Ask the running facewatchd what it is doing, or tell it.",
        epilog="commands (facewatchctl COMMAND --help for its arguments):\n" + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=DEFAULT_PATH, metavar="PATH",
                   help=f"the daemon's configuration, for its socket (default: {DEFAULT_PATH})")
    p.add_argument("--socket", type=Path, metavar="PATH", help="the control socket (overrides --config)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--version", action="version", version=f"facewatchctl {__version__}")
    # Listed once, in the epilog (with their actions), not again by argparse.
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True,
                           help="one of the commands below")
    heads: dict[str, argparse.ArgumentParser] = {}
    actions: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for command in COMMANDS.values():
        head, _, tail = command.name.partition(".")
        if head not in heads:
            bare = COMMANDS.get(head)
            heads[head] = sub.add_parser(head, description=bare.help if bare else None)
        if tail:
            if head not in actions:
                # `clusters` alone is a command too: then the action is optional.
                actions[head] = heads[head].add_subparsers(
                    dest="action", metavar="ACTION", required=head not in COMMANDS)
            sp = actions[head].add_parser(tail, help=command.help, description=command.help)
        else:
            sp = heads[head]
        sp.set_defaults(cmd=command.name)
        for arg in command.args:
            _add_argument(sp, arg)
    # Not a command of the daemon: a server of its own, a client of the socket.
    web.arguments(sub.add_parser("web", description=web.DESCRIPTION))
    return p


def _add_argument(parser: argparse.ArgumentParser, arg: Arg) -> None:
    if not arg.typed:
        return
    kind = arg.item if arg.kind is list else arg.kind
    if arg.or_item:
        kind = str
    if arg.kind is bool:
        parser.add_argument(arg.flag, dest=arg.name, action="store_true", default=None, help=arg.help)
    elif arg.option:
        parser.add_argument(arg.flag, dest=arg.name, type=kind, required=arg.required,
                            nargs="+" if arg.kind is list else None, help=arg.help,
                            metavar=arg.name.upper())
    else:
        nargs = ("+" if arg.required else "*") if arg.kind is list else None if arg.required else "?"
        parser.add_argument(arg.name, nargs=nargs, type=kind, help=arg.help)


def main(argv: list[str] | None = None) -> int:
    # File names that are not UTF-8 are printed as the bytes they are.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="surrogateescape")
    args = parser().parse_args(argv)
    if args.command == "web":
        try:
            return web.serve(args, args.socket or socket_path(args.config))
        except FacewatchError as e:
            print(f"facewatchctl: {e}", file=sys.stderr)
            return e.exit_status
    command = COMMANDS[args.cmd]
    request = {}
    for arg in command.args:
        value = getattr(args, arg.name, None)
        if arg.or_item and isinstance(value, str) and value.isdigit() and not os.path.lexists(value):
            request["item"] = int(value)  # a review item's id, not a file
            continue
        if value is not None and arg.path:
            value = [os.path.abspath(v) for v in value] if arg.kind is list else os.path.abspath(value)
        if value not in (None, []) and not arg.local:
            request[arg.name] = value
    try:
        client = Client(args.socket or socket_path(args.config))
        if command.local:
            result = LOCAL[command.local](client, request, args)
        elif command.progress and sys.stderr.isatty() and not args.json:
            result = watched(client, args.cmd, request, args)
        elif command.paged:
            result = client.call_all_pages(args.cmd, request)
        else:
            result = client.call(args.cmd, request)
    except FacewatchError as e:
        print(f"facewatchctl: {e}", file=sys.stderr)
        return e.exit_status
    if args.json:
        text = json.dumps(result, indent=2, ensure_ascii=False)
        if not text.isascii() and any(0xDC80 <= ord(c) <= 0xDCFF for c in text):
            # A file name that is not UTF-8: escape it, so the output is still valid JSON.
            text = json.dumps(result, indent=2)
        print(text)
    else:
        print(show(command, result))
    # A batch where some items could not be done as asked.
    if isinstance(result, dict) and any(r.get("ok") is False for r in result.get("results", ())):
        return BATCH_FAILED
    return 0


def watched(client: Client, cmd: str, request: dict[str, Any], args: argparse.Namespace) -> Any:
    """The answer to long work, with a live line on the terminal meanwhile: how far the
    daemon's job of that name has got, asked of `status` on a second connection."""
    answer: dict[str, Any] = {}

    def call() -> None:
        try:
            answer["result"] = client.call(cmd, request)
        except BaseException as e:  # raised again below, in the main thread
            answer["error"] = e

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    progress: Progress | None = None
    watcher = Client(client.path)
    try:
        while worker.is_alive():
            worker.join(0.2)
            jobs = [j for j in watcher.call("status", {}).get("jobs", ()) if j["name"] == cmd]
            if jobs and worker.is_alive():
                progress = progress or Progress(jobs[-1]["total"], cmd, sys.stderr)
                progress.to(jobs[-1]["done"], jobs[-1]["total"])
    finally:
        watcher.close()
        if progress is not None:
            if "result" in answer:
                progress.to(progress.total, progress.total)
            progress.close()
    if "error" in answer:
        raise answer["error"]
    return answer["result"]


def write_sheet(client: Client, request: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Fetch the items and their thumbnails, and write the contact sheet to `args.out`."""
    out = Path(args.out)
    items = client.call_all_pages("review.sheet", request)
    thumbnails: dict[str, Any] = {}
    for start in range(0, len(items), 50):
        ids = [item["id"] for item in items[start:start + 50]]
        thumbnails.update(client.call("review.thumbnails", {"ids": ids}))
    title = f"facewatchd review: cluster {request['cluster']}" if "cluster" in request else \
        "facewatchd review queue"
    try:
        out.write_text(sheet.render(items, thumbnails, title), encoding="utf-8")
    except OSError as e:
        raise FacewatchError(f"cannot write {out}: {e.strerror}", Code.ROUTE_FAILED) from None
    return {"file": str(out), "items": len(items)}


def scan_and_wait(client: Client, request: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Start a scan, then (unless --no-wait) show progress until nothing is waiting or
    in flight."""
    if args.no_wait:
        return dict(client.call("scan", request))
    before = client.call("status", {})
    result = client.call("scan", request)
    # On a terminal, sorted of sorted + waiting (the total grows while the scan finds files).
    progress = Progress(0, "scan", sys.stderr, live=True) if sys.stderr.isatty() and not args.json else None
    try:
        while True:
            time.sleep(0.5)
            status = client.call("status", {})
            done = status["processed"] - before["processed"]
            busy = status["scanning"] or status["queued"] or status["settling"] or status["in_flight"]
            if progress is not None:
                progress.to(done, done + status["backlog"])
            if not busy:
                break
            if why := status["analysis"].get("unavailable"):  # what is in flight cannot come back now
                raise FacewatchError(f"the scan goes on, but nothing can be analysed now: {why}",
                                     Code.UNAVAILABLE)
    finally:
        if progress is not None:
            progress.close()
    keys = ("processed", "matched", "review", "duplicates", "failed", "left")
    return {**result, **{k: status[k] - before[k] for k in keys}}


def name_shown(client: Client, request: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Name a cluster's faces as they are now (unless --faces says which were seen): the
    daemon names those or nothing, and the answer lists them, so what was named is shown."""
    if "faces" not in request:
        wanted = request["id"].lower()
        found = next((c for c in client.call_all_pages("clusters", {}) if c["id"].lower() == wanted), None)
        if found is None:
            raise FacewatchError(f"no cluster {request['id']} (facewatchctl clusters lists them)",
                                 Code.NOT_FOUND)
        request = {**request, "faces": [face["id"] for face in found["faces"]]}
    return dict(client.call("clusters.name", request))


def import_regions(client: Client, request: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from .regions import import_regions  # the models: loaded for this command only

    return import_regions(client, request, args)


def add_face(client: Client, request: dict[str, Any], args: argparse.Namespace) -> Any:
    from .drawn import add_face  # the models: loaded for this command only

    return add_face(client, request, args)


LOCAL: dict[str, Callable[[Client, dict[str, Any], argparse.Namespace], Any]] = {
    "wait": scan_and_wait, "sheet": write_sheet, "shown": name_shown, "regions": import_regions,
    "drawn": add_face}


if __name__ == "__main__":
    sys.exit(main())
