"""The control protocol: versioned JSON lines, and the one table of commands.

    → {"v": 1, "id": 7, "cmd": "reference.disable", "args": {"id": 12}}
    ← {"v": 1, "id": 7, "ok": true, "result": {...}}
    ← {"v": 1, "id": 7, "ok": false, "error": {"code": "not_found", "message": "..."}}

One request per line, answered in order on the same connection. The server returns
data; `facewatchctl` formats it. COMMANDS drives the server's dispatch, its argument
checks and the client's command line and help, so a command is declared once, here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import FacewatchError

VERSION = 1
MAX_LINE = 1 << 20  # bytes; a longer request is refused and the connection closed

# Error codes, the protocol's side of errors.py.
BAD_REQUEST = "bad_request"
UNKNOWN_COMMAND = "unknown_command"
BAD_ARGS = "bad_args"
NOT_FOUND = "not_found"
NOT_ALLOWED = "not_allowed"
UNSUPPORTED_VERSION = "unsupported_version"
INTERNAL = "internal"


class ProtocolError(FacewatchError):
    def __init__(self, code: str, message: str, request_id: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id  # the refused request's id, once it was readable


@dataclass(frozen=True)
class Arg:
    name: str
    type: type  # str, int, bool, or list (of `item`)
    help: str
    required: bool = True
    path: bool = False  # the client sends it as an absolute path
    option: bool = False  # typed `--name VALUE` (a bool: `--name`), not in its place
    item: type = str  # what a list holds: str or int
    local: bool = False  # the client's own: never sent (where to write a file, say)
    # The only values allowed; "no face" and "no-face" are taken for "no_face".
    choices: tuple[str, ...] = ()
    # A path, or the id of a review item: digits that name no file are sent as `item`.
    or_item: bool = False

    @property
    def flag(self) -> str:
        """How it is typed as an option: `--dry-run` for dry_run."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Command:
    name: str  # "reference.disable" is typed `facewatchctl reference disable`
    help: str
    args: tuple[Arg, ...] = ()
    # Answered a page at a time ({"items", "total", "offset"}; `offset` an argument):
    # facewatchctl fetches every page, so any length works.
    paged: bool = False


REASONS = ("no_face", "unknown_face", "uncertain", "several_people", "duplicate", "failed")
LIMIT = (Arg("limit", int, "at most this many items", required=False, option=True),)
# How batch commands name review items: ids, or --all with the filters of `review list`.
REASON = Arg("reason", str, f"only items with this reason ({', '.join(REASONS)})",
             required=False, option=True, choices=REASONS)
SELECT = (
    Arg("ids", list, "item ids, as `review list` shows them", required=False, item=int),
    Arg("all", bool, "every item (matching --reason, --nearest)", required=False, option=True),
    REASON,
    Arg("nearest", str, "with --all: only items whose nearest known person is this one",
        required=False, option=True),
    *LIMIT,
)

COMMANDS: dict[str, Command] = {c.name: c for c in [
    Command("status", "counts, queue, workers, references per person, last error"),
    Command("persons", "the known people and how many active references each has"),
    Command("references", "the reference faces, of everyone or of one person",
            (Arg("person", str, "only this person", required=False),)),
    Command("enroll", "add reference faces of a person from photos (one face each)",
            (Arg("person", str, "the person's name (their folder's name)"),
             Arg("files", list, "photos of them", path=True))),
    Command("reference.disable", "stop using a reference face", (Arg("id", int, "its id"),)),
    Command("reference.enable", "use a disabled reference face again", (Arg("id", int, "its id"),)),
    Command("test", "what would happen to a file: its faces, the nearest people, the decision;"
                    " nothing is moved", (Arg("file", str, "a photo or video", path=True),)),
    Command("why", "why a file went where it went, from the ledger",
            (Arg("path", str, "where the file is now, or where it was found; or a review item's id",
                 required=False, path=True, or_item=True),
             Arg("item", int, "a review item's id", required=False, option=True))),
    Command("scan", "look through the inbound folders (or one folder in them) for files",
            (Arg("path", str, "a folder inside an inbound folder", required=False, path=True),)),
    Command("reload", "read the configuration and the references folder again"),
    Command("review.list", "the items in review: id, path, reason, faces, nearest person, distance",
            (REASON,
             Arg("person", str, "only items whose nearest known person is this one",
                 required=False, option=True),
             *LIMIT,
             Arg("offset", int, "skip this many items first", required=False, option=True),
             Arg("deleted", bool, "list the review trash instead", required=False, option=True)),
            paged=True),
    Command("review.keep", "move items to a person's folder (--person) or a folder (--to),"
                           " teaching nothing",
            (*SELECT,
             Arg("person", str, "into this person's folder", required=False, option=True),
             Arg("to", str, "into this folder (inside a destination or review folder)",
                 required=False, option=True, path=True),
             Arg("new_person", bool, "the --person is someone new: make their folder",
                 required=False, option=True))),
    Command("review.add-reference", "teach: a face of each item becomes a reference of the"
                                    " person, and the item goes to their folder",
            (*SELECT,
             Arg("person", str, "whose face it is", option=True),
             Arg("face", int, "which face (1, 2, ...), for items with several",
                 required=False, option=True))),
    Command("review.delete", "move items to the review folder's trash/ (purged after"
                             " [review] trash_days)", SELECT),
    Command("review.restore", "bring deleted items back to review", SELECT),
    Command("review.sheet", "write an HTML contact sheet of the queue (or of a cluster):"
                            " thumbnails, face boxes, reasons, nearest people",
            (Arg("out", str, "the HTML file to write", local=True),
             Arg("cluster", str, "only the items of this cluster (c17)", required=False, option=True),
             REASON,
             *LIMIT)),
    Command("review.thumbnails", "the thumbnails of items, base64 JPEG (for review sheet)",
            (Arg("ids", list, "item ids", item=int),)),
    Command("clusters", "groups of unknown faces in review that look like the same person"),
    Command("clusters.name", "make a cluster's faces references of a person, and file every"
                             " item that then matches",
            (Arg("id", str, "the cluster's id (c17)"), Arg("person", str, "who it is"))),
    Command("clusters.ignore", "stop showing a cluster", (Arg("id", str, "the cluster's id (c17)"),)),
    Command("undo", "put a file back where it was before its last move, or every file moved"
                    " since a time; references taught by those moves are disabled",
            (Arg("path", str, "where the file is now", required=False, path=True),
             Arg("since", str, "undo every move since: 30m, 2h, 3d, 10:00, 2026-11-22 10:00",
                 required=False, option=True),
             Arg("dry_run", bool, "only say what would move", required=False, option=True))),
    Command("held", "files an undo put back in inbound: they wait there until released"),
    Command("release", "let files an undo put back in inbound be sorted again",
            (Arg("paths", list, "the held files", required=False, path=True),
             Arg("all", bool, "every held file", required=False, option=True))),
]}


@dataclass(frozen=True)
class Request:
    id: int | str | None
    cmd: str
    args: dict[str, Any]


def encode(message: dict[str, Any]) -> bytes:
    # ASCII with \u escapes: a file name that is not UTF-8 (its bytes kept as surrogates
    # by os.fsdecode) crosses as escapes and comes back as the same name.
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def request(id: int, cmd: str, args: dict[str, Any]) -> bytes:
    return encode({"v": VERSION, "id": id, "cmd": cmd, "args": args})


def ok(id: Any, result: Any) -> bytes:
    return encode({"v": VERSION, "id": id, "ok": True, "result": result})


def error(id: Any, code: str, message: str) -> bytes:
    return encode({"v": VERSION, "id": id, "ok": False, "error": {"code": code, "message": message}})


def parse_request(line: bytes) -> Request:
    """Check a request line against the table; raise ProtocolError saying what is wrong."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(BAD_REQUEST, f"not JSON: {e}") from None
    if not isinstance(message, dict):
        raise ProtocolError(BAD_REQUEST, "a request is a JSON object")
    if message.get("v") != VERSION:
        raise ProtocolError(UNSUPPORTED_VERSION, f"this daemon speaks version {VERSION}")
    req_id = message.get("id")
    if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, (int, str))):
        raise ProtocolError(BAD_REQUEST, "id must be a number or a string")
    try:
        return _checked(req_id, message)
    except ProtocolError as e:
        e.request_id = req_id
        raise


def _checked(req_id: int | str | None, message: dict[str, Any]) -> Request:
    name = message.get("cmd")
    command = COMMANDS.get(name) if isinstance(name, str) else None
    if command is None:
        raise ProtocolError(UNKNOWN_COMMAND, f"unknown command {message.get('cmd')!r}")
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError(BAD_ARGS, "args must be an object")
    allowed = {a.name: a for a in command.args if not a.local}
    for name in args:
        if name not in allowed:
            raise ProtocolError(BAD_ARGS, f"{command.name}: unknown argument {name!r}")
    for arg in allowed.values():
        if arg.name not in args or args[arg.name] is None:
            if arg.required:
                raise ProtocolError(BAD_ARGS, f"{command.name}: {arg.name} is required")
            continue
        value = args[arg.name]
        good = (isinstance(value, list) and value and all(_is(v, arg.item) for v in value)
                if arg.type is list else _is(value, arg.type))
        if not good:
            kind = (f"a non-empty list of {_KINDS[arg.item].partition(' ')[2]}s"
                    if arg.type is list else _KINDS[arg.type])
            raise ProtocolError(BAD_ARGS, f"{command.name}: {arg.name} must be {kind}")
        if arg.choices:
            value = args[arg.name] = value.strip().lower().replace(" ", "_").replace("-", "_")
            if value not in arg.choices:
                raise ProtocolError(BAD_ARGS, f"{command.name}: {arg.name} must be one of "
                                              f"{', '.join(arg.choices)}")
    return Request(req_id, command.name, args)


_KINDS = {str: "a string", int: "an integer", bool: "true or false"}


def _is(value: Any, kind: type) -> bool:
    # bool is an int to Python, but `"id": true` is not an id.
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def parse_response(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict) or "ok" not in message:
        raise ValueError("not a response")
    return message
