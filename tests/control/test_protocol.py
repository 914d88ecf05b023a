from __future__ import annotations

import json
import random

import pytest

from facewatchd.control import ctl, protocol
from facewatchd.control.handlers import HANDLERS
from facewatchd.control.protocol import ProtocolError, parse_request
from facewatchd.control.show import VIEWS
from facewatchd.control.table import COMMANDS


def line(**message) -> bytes:
    return json.dumps({"v": 1, "id": 1, **message}).encode()


def test_a_request_round_trips() -> None:
    raw = protocol.request(7, "reference.disable", {"id": 12})
    assert raw.endswith(b"\n")
    assert parse_request(raw) == protocol.Request(7, "reference.disable", {"id": 12})


@pytest.mark.parametrize("raw, code", [
    (b"{not json", "bad_request"),
    (b"[1, 2]", "bad_request"),
    (json.dumps({"v": 2, "cmd": "status"}).encode(), "unsupported_version"),
    (line(cmd="explode"), "unknown_command"),
    (line(cmd=["status"]), "unknown_command"),
    (line(cmd={"a": 1}), "unknown_command"),
    (line(cmd="status", args={"x": 1}), "bad_args"),
    (line(cmd="enroll", args={"person": "Anna"}), "bad_args"),
    (line(cmd="enroll", args={"person": "Anna", "files": []}), "bad_args"),
    (line(cmd="enroll", args={"person": "Anna", "files": [1]}), "bad_args"),
    (line(cmd="reference.disable", args={"id": True}), "bad_args"),
    (line(cmd="reference.disable", args={"id": "12"}), "bad_args"),
    (line(cmd="status", args=[]), "bad_args"),
    (line(cmd="reference.disable", args={"id": 1 << 63}), "bad_args"),  # beyond SQLite's integers
    (line(cmd="reference.disable", args={"id": -(1 << 63) - 1}), "bad_args"),
    (line(cmd="review.delete", args={"ids": [1, 1 << 64]}), "bad_args"),
    (json.dumps({"v": 1, "id": [1], "cmd": "status"}).encode(), "bad_request"),
    (b"\xff\xfe", "bad_request"),
])
def test_bad_requests_get_a_code(raw: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_request(raw)
    assert caught.value.code == code


def test_random_lines_only_ever_raise_protocol_errors() -> None:
    rng = random.Random(42)
    pieces = [b"{", b"}", b'"v"', b":", b"1", b",", b'"cmd"', b'"status"', b'"args"', b"[", b"]",
              b"null", b"true", b'"id"', b"\\u0000", b'"', b"\xc3", b"-1e999"]
    for _ in range(20000):  # none of these (seed 42) is a whole valid request
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        with pytest.raises(ProtocolError):
            parse_request(raw)


def test_every_command_has_a_handler_and_a_view() -> None:
    assert set(HANDLERS) == set(COMMANDS)
    for command in COMMANDS.values():
        assert command.view in VIEWS or (command.view == "table" and command.columns), command.name
        assert command.local in ("", *ctl.LOCAL), command.name


def test_the_client_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit):
        ctl.main(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS.values():
        assert command.name.replace(".", " ") in out and command.help[:30] in out


def test_help_lists_each_command_once() -> None:
    text = ctl.parser().format_help()
    for command in COMMANDS:
        words = command.replace(".", " ")
        assert sum(line.strip().startswith(f"{words} ") and
                   line.strip()[len(words):].startswith("  ") for line in text.splitlines()) == 1, command
