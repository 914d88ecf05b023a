"""The control protocol on the wire: versioned JSON lines over a Unix socket.

    → {"v": 1, "id": 7, "cmd": "reference.disable", "args": {"id": 12}}
    ← {"v": 1, "id": 7, "ok": true, "result": {...}}
    ← {"v": 1, "id": 7, "ok": false, "error": {"code": "not_found", "message": "..."}}

One request per line; answers carry the request's id. A request is checked against
the table of commands (table.py) before anything runs; error codes are errors.Code.

A few answers carry an open file (SCM_RIGHTS, on the answer's first byte): `review.file`,
`review.face` and `reference.face` hand the client a read-only descriptor of a photo or
video the daemon chose by id, so the review page reads a 200 MB video at its own pace
instead of the daemon's one loop copying it as base64, and the page's process needs no
access to the photo folders. A client reading with plain recv() never sees it: the
kernel closes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import Code, FacewatchError
from .table import COMMANDS

VERSION = 1
MAX_LINE = 1 << 20  # bytes; a longer request is refused and the connection closed
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1  # an integer argument's range: SQLite's


class ProtocolError(FacewatchError):
    """A request refused as it stands (not JSON, an unknown command, a bad argument)."""

    def __init__(self, code: Code, message: str, request_id: int | str | None = None) -> None:
        super().__init__(message, code)
        self.request_id = request_id  # the refused request's id, once it was readable


@dataclass(frozen=True)
class Request:
    id: int | str | None
    cmd: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Descriptor:
    """A handler's result with an open file to pass along with its answer; the server
    sends it, then closes its own copy."""

    result: Any
    fd: int


# An answer as the server queues it: the line, or the line and the descriptor it carries.
Answer = bytes | tuple[bytes, int]


def encode(message: dict[str, Any]) -> bytes:
    # ASCII with \u escapes: a file name that is not UTF-8 (its bytes kept as surrogates
    # by os.fsdecode) crosses as escapes and comes back as the same name.
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def request(id: int, cmd: str, args: dict[str, Any]) -> bytes:
    return encode({"v": VERSION, "id": id, "cmd": cmd, "args": args})


def ok(id: Any, result: Any) -> bytes:
    return encode({"v": VERSION, "id": id, "ok": True, "result": result})


def answer(id: Any, result: Any) -> Answer:
    """The ok answer to a handler's result, with its descriptor if it passes one."""
    if isinstance(result, Descriptor):
        return ok(id, result.result), result.fd
    return ok(id, result)


def error(id: Any, code: Code, message: str) -> bytes:
    return encode({"v": VERSION, "id": id, "ok": False,
                   "error": {"code": code.value, "message": message}})


def finished(id: Any, result: Any, failure: BaseException | None) -> Answer:
    """The answer to a request whose handler ran as long work: its result, or what
    stopped it (an error of ours with its code; anything else is a bug)."""
    if failure is None:
        return answer(id, result)
    if isinstance(failure, FacewatchError):
        return error(id, failure.code, str(failure))
    return error(id, Code.INTERNAL, f"{type(failure).__name__}: {failure}")


def parse_request(line: bytes) -> Request:
    """Check a request line against the table; raise ProtocolError saying what is wrong."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(Code.BAD_REQUEST, f"not JSON: {e}") from None
    if not isinstance(message, dict):
        raise ProtocolError(Code.BAD_REQUEST, "a request is a JSON object")
    if message.get("v") != VERSION:
        raise ProtocolError(Code.UNSUPPORTED_VERSION, f"this daemon speaks version {VERSION}")
    req_id = message.get("id")
    if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, (int, str))):
        raise ProtocolError(Code.BAD_REQUEST, "id must be a number or a string")
    try:
        return _checked(req_id, message)
    except ProtocolError as e:
        e.request_id = req_id
        raise


def _checked(req_id: int | str | None, message: dict[str, Any]) -> Request:
    name = message.get("cmd")
    command = COMMANDS.get(name) if isinstance(name, str) else None
    if command is None:
        raise ProtocolError(Code.UNKNOWN_COMMAND, f"unknown command {message.get('cmd')!r}")
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError(Code.BAD_ARGS, "args must be an object")
    allowed = {a.name: a for a in command.args if not a.local}
    for name in args:
        if name not in allowed:
            raise ProtocolError(Code.BAD_ARGS, f"{command.name}: unknown argument {name!r}")
    for arg in allowed.values():
        if arg.name not in args or args[arg.name] is None:
            if arg.required:
                raise ProtocolError(Code.BAD_ARGS, f"{command.name}: {arg.name} is required")
            continue
        value = args[arg.name]
        good = (isinstance(value, list) and value and all(_is(v, arg.item) for v in value)
                if arg.kind is list else _is(value, arg.kind))
        if not good:
            kind = (f"a non-empty list of {_KINDS[arg.item].partition(' ')[2]}s"
                    if arg.kind is list else _KINDS[arg.kind])
            raise ProtocolError(Code.BAD_ARGS, f"{command.name}: {arg.name} must be {kind}")
        if (arg.item if arg.kind is list else arg.kind) is int and not all(
                INT_MIN <= v <= INT_MAX for v in (value if arg.kind is list else [value])):
            # Ids are SQLite's 64-bit integers: a larger number names nothing, and SQLite
            # would refuse to even look it up (OverflowError).
            raise ProtocolError(Code.BAD_ARGS, f"{command.name}: {arg.name} must be between "
                                               f"{INT_MIN} and {INT_MAX}")
        if arg.choices:
            value = args[arg.name] = value.strip().lower().replace(" ", "_").replace("-", "_")
            if value not in arg.choices:
                raise ProtocolError(Code.BAD_ARGS, f"{command.name}: {arg.name} must be one of "
                                              f"{', '.join(arg.choices)}")
    return Request(req_id, command.name, args)


_KINDS = {str: "a string", int: "an integer", bool: "true or false", dict: "an object", float: "a number"}


def _is(value: Any, kind: type) -> bool:
    # bool is an int to Python, but `"id": true` is not an id; JSON's 1 is a number too.
    wanted = (int, float) if kind is float else kind
    return isinstance(value, wanted) and (kind is bool or not isinstance(value, bool))


def parse_response(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict) or "ok" not in message:
        raise ValueError("not a response")
    return message
