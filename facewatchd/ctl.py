"""`facewatchctl`: the control client.

Its command line is built from protocol.COMMANDS; it sends one request, then prints
the answer as text for people or, with --json, as one JSON document for scripts.
All formatting lives here: the daemon returns data.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from . import __version__, protocol, sheet
from .config import DEFAULT_PATH, DaemonConfig
from .errors import FacewatchError, RefusedError

# Exit statuses (sysexits.h) for the protocol's error codes, and for errors.py's.
EXIT_CODES = {
    **{cls.code: cls.exit_code for cls in FacewatchError.__subclasses__()},
    protocol.BAD_REQUEST: 64, protocol.UNKNOWN_COMMAND: 64, protocol.BAD_ARGS: 64,
    protocol.UNSUPPORTED_VERSION: 64, protocol.NOT_FOUND: 66, protocol.NOT_ALLOWED: 77,
    protocol.INTERNAL: 70, "busy": 75,
}
EX_UNAVAILABLE, EX_NOPERM = 69, 77


class CtlError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def parser() -> argparse.ArgumentParser:
    lines = [f"  {c.name.replace('.', ' '):<22} {c.help}" for c in protocol.COMMANDS.values()]
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
    actions: dict[str, argparse._SubParsersAction] = {}
    for command in protocol.COMMANDS.values():
        head, _, tail = command.name.partition(".")
        if head not in heads:
            bare = protocol.COMMANDS.get(head)
            heads[head] = sub.add_parser(head, description=bare.help if bare else None)
        if tail:
            if head not in actions:
                # `clusters` alone is a command too: then the action is optional.
                actions[head] = heads[head].add_subparsers(
                    dest="action", metavar="ACTION", required=head not in protocol.COMMANDS)
            sp = actions[head].add_parser(tail, help=command.help, description=command.help)
        else:
            sp = heads[head]
        sp.set_defaults(cmd=command.name)
        for arg in command.args:
            _add_argument(sp, arg)
        if command.name == "scan":
            sp.add_argument("--no-wait", action="store_true", help="do not wait for the files to be sorted")
    return p


def _add_argument(parser: argparse.ArgumentParser, arg: protocol.Arg) -> None:
    kind = arg.item if arg.type is list else arg.type
    if arg.or_item:
        kind = str
    if arg.type is bool:
        parser.add_argument(arg.flag, dest=arg.name, action="store_true", default=None, help=arg.help)
    elif arg.option:
        parser.add_argument(arg.flag, dest=arg.name, type=kind, required=arg.required,
                            help=arg.help, metavar=arg.name.upper())
    else:
        nargs = ("+" if arg.required else "*") if arg.type is list else None if arg.required else "?"
        parser.add_argument(arg.name, nargs=nargs, type=kind, help=arg.help)


def socket_path(args: argparse.Namespace) -> Path:
    if args.socket:
        return args.socket
    try:  # only the [daemon] table: the other folders may not be readable by this user
        with args.config.open("rb") as f:
            daemon = tomllib.load(f).get("daemon", {})
        return args.config.resolve().parent / daemon.get("socket", str(DaemonConfig.socket))
    except (OSError, tomllib.TOMLDecodeError):
        return DaemonConfig.socket


class Client:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise CtlError(f"facewatchd is not running (nothing listens at {path})", EX_UNAVAILABLE) from None
        except PermissionError:
            raise CtlError(f"not allowed to use {path}: ask to be added to the daemon's group",
                           EX_NOPERM) from None
        self.file = self.sock.makefile("rb")
        self.next_id = 0

    def call(self, cmd: str, args: dict[str, Any]) -> Any:
        self.next_id += 1
        try:
            self.sock.sendall(protocol.request(self.next_id, cmd, args))
            line = self.file.readline()
        except OSError as e:
            raise CtlError(f"lost the connection to facewatchd: {e.strerror}", EX_UNAVAILABLE) from None
        if not line:
            raise CtlError("facewatchd closed the connection without answering", EX_UNAVAILABLE)
        answer = protocol.parse_response(line)
        if not answer["ok"]:
            error = answer["error"]
            raise CtlError(error["message"], EXIT_CODES.get(error["code"], 1))
        return answer["result"]

    def call_all_pages(self, cmd: str, args: dict[str, Any]) -> list[Any]:
        """Every item of a paged command (up to args' limit), fetched a page at a time."""
        wanted = args.get("limit")
        offset = args.get("offset", 0)
        items: list[Any] = []
        while wanted is None or len(items) < wanted:
            ask = {**args, "offset": offset + len(items)}
            if wanted is not None:
                ask["limit"] = wanted - len(items)
            page = self.call(cmd, ask)
            items += page["items"]
            if not page["items"] or offset + len(items) >= page["total"]:
                break
        return items


def main(argv: list[str] | None = None) -> int:
    # File names that are not UTF-8 are printed as the bytes they are.
    sys.stdout.reconfigure(errors="surrogateescape")
    args = parser().parse_args(argv)
    command = protocol.COMMANDS[args.cmd]
    request = {}
    for arg in command.args:
        value = getattr(args, arg.name)
        if arg.or_item and isinstance(value, str) and value.isdigit() and not os.path.lexists(value):
            request["item"] = int(value)  # a review item's id, not a file
            continue
        if value is not None and arg.path:
            value = [os.path.abspath(v) for v in value] if arg.type is list else os.path.abspath(value)
        if value not in (None, []) and not arg.local:
            request[arg.name] = value
    try:
        client = Client(socket_path(args))
        if args.cmd == "scan" and not args.no_wait:
            result = scan_and_wait(client, request, quiet=args.json)
        elif args.cmd == "review.sheet":
            result = write_sheet(client, request, Path(args.out))
        elif command.paged:
            result = client.call_all_pages(args.cmd, request)
        else:
            result = client.call(args.cmd, request)
    except CtlError as e:
        print(f"facewatchctl: {e}", file=sys.stderr)
        return e.status
    if args.json:
        text = json.dumps(result, indent=2, ensure_ascii=False)
        if not text.isascii() and any(0xDC80 <= ord(c) <= 0xDCFF for c in text):
            # A file name that is not UTF-8: escape it, so the output is still valid JSON.
            text = json.dumps(result, indent=2)
        print(text)
    else:
        print(FORMATTERS.get(args.cmd, lambda r: json.dumps(r, indent=2))(result))
    # A batch where some items could not be done as asked.
    if isinstance(result, dict) and any(r.get("ok") is False for r in result.get("results", ())):
        return RefusedError.exit_code
    return 0


def write_sheet(client: Client, request: dict[str, Any], out: Path) -> dict[str, Any]:
    """Fetch the items and their thumbnails, and write the contact sheet to `out`."""
    items = client.call("review.sheet", request)
    thumbnails: dict[str, Any] = {}
    for start in range(0, len(items), 50):
        ids = [item["id"] for item in items[start:start + 50]]
        thumbnails.update(client.call("review.thumbnails", {"ids": ids}))
    title = f"facewatchd review: cluster {request['cluster']}" if "cluster" in request else \
        "facewatchd review queue"
    try:
        out.write_text(sheet.render(items, thumbnails, title), encoding="utf-8")
    except OSError as e:
        raise CtlError(f"cannot write {out}: {e.strerror}", 73) from None
    return {"file": str(out), "items": len(items)}


def scan_and_wait(client: Client, request: dict[str, Any], quiet: bool) -> dict[str, Any]:
    """Start a scan, then show progress until nothing is waiting or in flight."""
    before = client.call("status", {})
    result = client.call("scan", request)
    progress = sys.stderr.isatty() and not quiet
    while True:
        time.sleep(0.5)
        status = client.call("status", {})
        done = status["processed"] - before["processed"]
        busy = status["scanning"] or status["queued"] or status["settling"] or status["in_flight"]
        if progress:
            print(f"\rscanning: {done} sorted, {status['queued'] + status['settling']} waiting, "
                  f"{status['in_flight']} in flight   ", end="", file=sys.stderr, flush=True)
        if not busy:
            break
    if progress:
        print(file=sys.stderr)
    keys = ("processed", "matched", "review", "duplicates", "failed", "left")
    return {**result, **{k: status[k] - before[k] for k in keys}}


# Formatting, for people


def _duration(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h {m}m" if hours else f"{m}m {s}s" if m else f"{s}s"


def format_status(s: dict[str, Any]) -> str:
    refs = ", ".join(f"{p} {n}" for p, n in sorted(s["references"].items())) or "none"
    lines = [
        f"facewatchd {s['version']}, {s['state']} for {_duration(s['uptime_s'])}, "
        f"{s['workers']} workers ({s['worker_restarts']} restarts)",
        f"sorted {s['processed']}: {s['matched']} to people, {s['review']} to review, "
        f"{s['duplicates']} duplicates, {s['failed']} failed, {s['left']} left in inbound",
        f"waiting {s['queued'] + s['settling']} ({s['settling']} still changing), "
        f"in flight {s['in_flight']}{', scanning' if s['scanning'] else ''}",
        f"references: {refs}",
        f"in review: {s['in_review']} (facewatchctl review list)",
        f"left alone in inbound: {s['ignored']} not photos or videos, {s['held']} held after "
        f"an undo{' (facewatchctl held)' if s['held'] else ''}",
        f"watching: {', '.join(s['watching'])}",
    ]
    if s["waiting_to_move"]:
        lines.append(f"could not be moved yet, tried again soon: {s['waiting_to_move']}")
    if s["tasks"]:
        lines.append(f"working on: {', '.join(s['tasks'])}")
    if s["polling"]:
        lines.append(f"polled (no inotify watches left): {', '.join(s['polling'])}")
    lines.append(f"last error: {s['last_error'] or 'none'}")
    return "\n".join(lines)


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def describe_faces(faces: list[dict[str, Any]]) -> list[str]:
    """Each face in words: where it is, who it is nearest to, and whether that counts."""
    lines = []
    for n, face in enumerate(faces, 1):
        top, right, bottom, left = face["box"]
        where = f"face {n} at x={left} y={top}, {right - left}x{bottom - top} px"
        if face.get("time") is not None:
            where += f", {face['time']:.1f} s into the video"
        if face.get("person") is None:
            lines.append(f"  {where}: no references to compare with")
            continue
        verdict = {"sure": "is", "supported": "is", "uncertain": "may be"}.get(
            face.get("band", "sure" if face.get("matched") else ""), "is not known; nearest is")
        lines.append(f"  {where}: {verdict} {face['person']} (reference {face['reference']}, "
                     f"{face.get('why') or 'distance %.3f' % face['distance']})")
    return lines


def format_test(r: dict[str, Any]) -> str:
    lines = [f"{r['file']}: {len(r['faces'])} face{'s' if len(r['faces']) != 1 else ''}"]
    lines += describe_faces(r["faces"])
    known = r.get("known")
    if known and known["item"] is not None and known["outcome"] in ("review", "duplicate", "failed"):
        lines.append(f"it is in review as item {known['item']} ({known['reason'].replace('_', ' ')}); "
                     f"with the references now it would be {_would(r)}")
    elif known:
        lines.append(f"facewatchd put it here ({known['outcome']}); arriving again it would be a "
                     f"duplicate of itself")
    elif r["outcome"] == "duplicate":
        lines.append(f"would go to duplicates: the same file was sorted before, now at {r['duplicate_of']}")
    else:
        lines.append(f"would go to {', '.join(r.get('folders') or ['nowhere'])}: {r['rule']}")
    return "\n".join(lines)


def _would(r: dict[str, Any]) -> str:
    if r["persons"]:
        return f"filed under {', '.join(r['persons'])}: {r['rule']}"
    return f"kept in review: {r['rule']}"


def format_why(e: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(e["updated"]).strftime("%Y-%m-%d %H:%M:%S")
    state = {"done": "moved", "moving": "being moved", "abandoned": "not moved"}[e["state"]]
    lines = [f"{e['source']}", f"  {state} {when} to {e['target']}"]
    lines += [f"  also filed as {link}" for link in e["links"]]
    lines += [f"  with its sidecar {s['to']}" for s in e.get("sidecars", []) if s.get("to")]
    lines.append(f"  decision: {e['outcome']} ({e['reason'].replace('_', ' ')}): {e['evidence'].get('rule', '')}")
    if "abandoned" in e["evidence"]:
        lines.append(f"  not moved because: {e['evidence']['abandoned']}")
    if e["evidence"].get("frame_times"):
        lines.append(f"  video frames looked at: {', '.join(f'{t:.1f} s' for t in e['evidence']['frame_times'])}")
    lines += describe_faces(e["evidence"].get("faces", []))
    return "\n".join(lines)


def format_enroll(r: dict[str, Any]) -> str:
    return "\n".join([f"added reference {f['id']} of {r['person']} from {f['file']}" if f["added"]
                      else f"not used: {f['file']}: {f['why']}" for f in r["files"]]
                     + format_filed(r["filed"]))


def format_scan(r: dict[str, Any]) -> str:
    text = f"scanning {', '.join(r['scanning'])}"
    if "processed" in r:
        text = (f"scanned {', '.join(r['scanning'])}: sorted {r['processed']} "
                f"({r['matched']} to people, {r['review']} to review, {r['duplicates']} duplicates, "
                f"{r['failed']} failed, {r['left']} left in inbound)")
    return text


def format_items(rows: list[dict[str, Any]]) -> str:
    return format_table([{**r, "reason": r["reason"].replace("_", " "),
                          "nearest": r["person"] or "-",
                          "distance": "-" if r["distance"] is None else f"{r['distance']:.3f}"}
                         for r in rows], ["id", "reason", "faces", "nearest", "distance", "path"])


def format_batch(answer: dict[str, Any]) -> str:
    """One line per item of a batch command: where it went, or why not; then the items
    that the references it taught made match someone."""
    rows, filed = answer["results"], format_filed(answer.get("filed", []))
    if not rows:
        return "\n".join(["no items matched", *filed])
    lines = []
    for r in rows:
        label = f"item {r['id']}" if "id" in r else r.get("path", "")
        if not r["ok"]:
            lines.append(f"{label}: not done: {r['error']}")
            continue
        where = r.get("to") or r.get("path")
        text = f"{label}: {'would go to' if answer.get('dry_run') else 'now at'} {where}"
        if r.get("reference"):
            text += f" (reference {r['reference']} added)"
        if r.get("disabled"):
            text += f" (references {', '.join(map(str, r['disabled']))} disabled)"
        lines.append(text)
    done = sum(r["ok"] for r in rows)
    lines.append(f"{done} of {len(rows)} {'would be done (nothing moved)' if answer.get('dry_run') else 'done'}")
    return "\n".join(lines + filed)


def format_filed(filed: list[dict[str, Any]]) -> list[str]:
    """The review items a change of references made match someone, and where they went."""
    if not filed:
        return []
    return [f"then {len(filed)} item{'s' if len(filed) != 1 else ''} in review matched:"] + [
        f"  item {m['id']} filed under {', '.join(m['persons'])}: {m['path']}" for m in filed]


def format_clusters(rows: list[dict[str, Any]]) -> str:
    return format_table([{"id": r["id"], "faces": r["size"], "items": len(r["items"]),
                          "nearest": f"{r['nearest']} {r['distance']:.2f}" if r["nearest"] else "-",
                          "sample items": " ".join(map(str, r["samples"]))} for r in rows],
                        ["id", "faces", "items", "nearest", "sample items"])


def format_named(r: dict[str, Any]) -> str:
    lines = [f"cluster {r['id']} is {r['person']}: {r['references']} references added"]
    lines += [f"  item {m['id']} filed under {', '.join(m['persons'])}: {m['path']}" for m in r["moved"]]
    left = set(r["items"]) - {m["id"] for m in r["moved"]}
    if left:
        lines.append(f"  still in review: items {' '.join(map(str, sorted(left)))}")
    return "\n".join(lines)


FORMATTERS = {
    "status": format_status,
    "persons": lambda r: format_table(r, ["name", "references", "disabled"]),
    "references": lambda r: format_table(
        [{**x, "active": "yes" if x["active"] else "no"} for x in r],
        ["id", "person", "active", "origin", "path"]),
    "enroll": format_enroll,
    "reference.disable": lambda r: "\n".join([f"reference {r['id']} disabled",
                                               *format_filed(r["filed"])]),
    "reference.enable": lambda r: "\n".join([f"reference {r['id']} enabled",
                                              *format_filed(r["filed"])]),
    "test": format_test,
    "why": format_why,
    "scan": format_scan,
    "reload": lambda r: (f"reloaded: references of {len(r['persons'])} people, {r['added']} new "
                         f"reference photos, {r['deactivated']} removed, {len(r['skipped'])} "
                         f"photos not usable"),
    "review.list": format_items,
    "review.keep": format_batch,
    "review.add-reference": format_batch,
    "review.delete": format_batch,
    "review.restore": format_batch,
    "review.sheet": lambda r: f"wrote {r['items']} items to {r['file']}",
    "review.thumbnails": lambda r: f"{len(r)} thumbnails",
    "clusters": format_clusters,
    "clusters.name": format_named,
    "clusters.ignore": lambda r: f"cluster {r['id']} hidden ({r['ignored']} faces)",
    "undo": format_batch,
    "held": lambda r: format_table([{**h, "since": datetime.fromtimestamp(h["since"]).strftime(
        "%Y-%m-%d %H:%M")} for h in r], ["path", "since"]),
    "release": lambda r: "\n".join(
        f"released {x['path']}: it is sorted again once quiet" if x["ok"] else f"{x['path']}: {x['error']}"
        for x in r["results"]) or "nothing was held",
}


if __name__ == "__main__":
    sys.exit(main())
