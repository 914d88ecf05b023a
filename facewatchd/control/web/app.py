"""The review page's HTTP side: a Starlette application whose API routes are built from
the command table (a command with `http=` is offered; nothing else is), and the page
itself from static/.

Every route asks the daemon through DaemonLink; nothing here reads the photo folders
or the database. Errors become HTTP statuses through errors.HTTP_STATUS, with JSON
bodies {"error": {"code", "message"}}.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path, PurePath
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ...engine.report import parse_box
from ...errors import HTTP_STATUS, Code, FacewatchError, UsageError
from ..client import AnswerError
from ..protocol import INT_MAX, INT_MIN
from ..show import readable
from ..table import COMMANDS, Arg, Command, Http
from . import images
from .link import DaemonLink
from .security import Guard

STATIC = Path(__file__).parent / "static"
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")  # in a query string
KEPT = {"cache-control": "private, max-age=86400"}  # an item or reference id names one content for good
Endpoint = Callable[[Request], Awaitable[Response]]


class JSON(JSONResponse):
    """A JSON answer whose file names that are not UTF-8 show their bytes as \\x escapes
    (show.readable): as surrogates they cannot be encoded, and the whole answer would fail."""

    def render(self, content: Any) -> bytes:
        return super().render(readable(content))


def error_response(code: str, message: str) -> JSONResponse:
    status = HTTP_STATUS.get(Code(code), 500) if code in Code.__members__.values() else 500
    return JSON({"error": {"code": code, "message": message}}, status_code=status)


def create_app(link: DaemonLink, *, token: str, listen_host: str, port: int,
               allowed_hosts: list[str], trusted_proxies: list[str] | None = None,
               config: Path | None = None) -> ASGIApp:
    api = Api(link, config)
    routes: list[BaseRoute] = [Route("/", index, methods=["GET", "HEAD"]),
                               Mount("/static", StaticFiles(directory=STATIC), name="static")]
    for command in COMMANDS.values():
        if command.http is not None:
            routes.append(Route(route_path(command), api.endpoint(command, command.http),
                                methods=[command.http.method], name=command.name))
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return Guard(app, token=token, listen_host=listen_host, port=port, allowed_hosts=allowed_hosts,
                 trusted_proxies=trusted_proxies or [])


def route_path(command: Command) -> str:
    """The command's path with Starlette's convertors: where the table says an integer,
    anything but digits is no route at all (404)."""
    assert command.http is not None
    kinds = {arg.name: arg for arg in command.args}

    def convert(match: re.Match[str]) -> str:
        arg = kinds[match[1]]
        number = (arg.item if arg.kind is list else arg.kind) is int
        return f"{{{arg.name}:{'int' if number else 'str'}}}"

    return re.sub(r"\{(\w+)\}", convert, command.http.path)


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = Code.NOT_FOUND if exc.status_code == 404 else Code.BAD_REQUEST
    return JSON({"error": {"code": code.value, "message": exc.detail}}, status_code=exc.status_code)


class Api:
    def __init__(self, link: DaemonLink, config: Path | None = None) -> None:
        self.link = link
        self.config = config  # the daemon's configuration: the engine's settings, for a face drawn
        self.crops = images.Cache()
        self.responses: dict[str, Callable[[Command, dict[str, Any]], Awaitable[Response]]] = {
            "json": self.json, "thumbnail": self.thumbnail, "file": self.file, "crop": self.crop}

    def endpoint(self, command: Command, http: Http) -> Endpoint:
        respond = self.responses[http.response]

        async def endpoint(request: Request) -> Response:
            try:
                return await respond(command, await arguments(command, http, request))
            except AnswerError as e:
                return error_response(e.wire_code, str(e))
            except FacewatchError as e:
                if e.code in (Code.UNAVAILABLE, Code.NOT_ALLOWED):  # the daemon could not be asked
                    return error_response(Code.UNAVAILABLE, f"{e} (is facewatchd running?)")
                return error_response(e.code, str(e))

        return endpoint

    async def call(self, command: Command, args: dict[str, Any]) -> Any:
        if command.local == "drawn":  # the face drawn is encoded here, as facewatchctl does
            args = {**args, "encoding": await run_in_threadpool(self._encode, args)}
        return await run_in_threadpool(self.link.call, command.name, args)

    def _encode(self, args: dict[str, Any]) -> list[float]:
        from ..drawn import encode, settings_of  # the models: loaded at the first face drawn

        if not isinstance(args.get("id"), int) or not isinstance(args.get("box"), str):
            raise UsageError("a face drawn needs the item's id and its box, LEFT,TOP,WIDTH,HEIGHT")
        settings = settings_of(self.config) if self.config is not None else None
        return encode(self.link.call_fd, args["id"], parse_box(args["box"]), settings)

    async def json(self, command: Command, args: dict[str, Any]) -> Response:
        at = time.time()  # before the daemon acts: the page's undo is `since @at, user`
        result = await self.call(command, args)
        if command.name == "review.page":  # the items point at their thumbnails
            for item in result["items"]:
                item["thumbnail"] = (f"/api/review/{item['id']}/thumbnail" if item["thumbnail"]
                                     else None)
        if command.http is not None and command.http.method == "POST":
            # A setting's row (set, unset, pause, resume) says when it was set itself:
            # that "at" is kept, as `settings` lists it.
            result = {"at": at, **result}
        return JSON(result)

    async def thumbnail(self, command: Command, args: dict[str, Any]) -> Response:
        found = (await self.call(command, args)).get(str(args["ids"][0]))
        if found is None:
            raise FacewatchError(f"item {args['ids'][0]} has no thumbnail", Code.NOT_FOUND)
        return Response(base64.b64decode(found["jpeg"]), media_type="image/jpeg", headers=KEPT)

    async def file(self, command: Command, args: dict[str, Any]) -> Response:
        info, fd = await self._passed(command, args)
        try:
            suffix = PurePath(info["name"]).suffix.lower()
            if suffix not in images.CONVERTED:
                media_type = images.BROWSER_TYPES.get(suffix)
                # Once made, the response owns the descriptor: it closes it when sent.
                return DescriptorResponse(fd, info["name"], media_type or "application/octet-stream",
                                          inline=media_type is not None)
        except BaseException:
            os.close(fd)  # no response took it
            raise
        try:
            body = await run_in_threadpool(images.display_jpeg, fd)
        except Exception as e:  # Pillow raises many types for a bad file
            raise FacewatchError(f"cannot show {info['name']}: {e}", Code.NOT_FOUND) from None
        finally:
            os.close(fd)
        return Response(body, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})

    async def crop(self, command: Command, args: dict[str, Any]) -> Response:
        key = (command.name, *sorted(args.items()))
        body = self.crops.get(key)
        if body is None:
            info, fd = await self._passed(command, args)

            def thumbnail() -> tuple[bytes, float | None] | None:
                found = self.link.call("review.thumbnails", {"ids": [info["id"]]}).get(str(info["id"]))
                return (base64.b64decode(found["jpeg"]), found["time"]) if found else None

            try:
                body = await run_in_threadpool(images.crop_face, fd, info, thumbnail)
            except FacewatchError:
                raise
            except Exception as e:  # a file Pillow or ffmpeg cannot read: no crop
                raise FacewatchError(f"cannot cut that face out: {e}", Code.NOT_FOUND) from None
            finally:
                os.close(fd)
            self.crops.put(key, body)
        return Response(body, media_type="image/jpeg", headers=KEPT)

    async def _passed(self, command: Command, args: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """The answer, and the file it passed."""
        info, fd = await run_in_threadpool(self.link.call_fd, command.name, args)
        if fd is None:
            raise FacewatchError(f"{command.name}: the daemon passed no file", Code.INTERNAL)
        return info, fd


async def arguments(command: Command, http: Http, request: Request) -> dict[str, Any]:
    """The command's arguments: from the path, and from the query (GET) or the JSON body
    (POST), as the table types them; the daemon checks them again."""
    spec = {arg.name: arg for arg in command.args if not arg.local}
    accepted = set(spec if http.args is None else http.args)
    args: dict[str, Any] = {}
    if http.method == "GET":
        for name, text in request.query_params.multi_items():
            if name == "token":
                continue  # the credential (security.Guard), not an argument
            if name not in accepted or name in args:
                raise UsageError(f"unknown or repeated parameter {name!r}")
            args[name] = _from_text(spec[name], text)
    else:
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            raise UsageError("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise UsageError("the body must be a JSON object")
        for name in body:
            if name not in accepted or name in request.path_params:
                raise UsageError(f"unknown argument {name!r}")
        args.update({k: v for k, v in body.items() if v is not None})
    for name, value in request.path_params.items():
        if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
            # Beyond SQLite's integers: not an id, so not found (as anything but digits is).
            raise FacewatchError(f"no {name} {value}", Code.NOT_FOUND)
        args[name] = [value] if spec[name].kind is list else value
    return args


def _from_text(arg: Arg, text: str) -> Any:
    if arg.kind is bool:
        if text.lower() in TRUE or text.lower() in FALSE:
            return text.lower() in TRUE
        raise UsageError(f"{arg.name} must be true or false")
    if (arg.item if arg.kind is list else arg.kind) is int:
        parts = text.split(",") if arg.kind is list else [text]
        if not all(re.fullmatch(r"-?\d{1,18}", p.strip()) for p in parts):
            raise UsageError(f"{arg.name} must be a number")
        numbers = [int(p) for p in parts]
        return numbers if arg.kind is list else numbers[0]
    return text.split(",") if arg.kind is list else text


class DescriptorResponse(FileResponse):
    """FileResponse (so Range, If-Range, HEAD and ETag are Starlette's) over a descriptor
    the daemon passed instead of a path: the web process needs no access to the photo
    folders, and a 200 MB video is read at the browser's pace."""

    def __init__(self, fd: int, name: str, media_type: str, inline: bool) -> None:
        self.fd = fd
        # The name only suggests what to save it as: shown readably if it is not UTF-8.
        super().__init__(f"/proc/self/fd/{fd}", media_type=media_type, filename=readable(name),
                         stat_result=os.fstat(fd),
                         content_disposition_type="inline" if inline else "attachment",
                         headers={"cache-control": "private, max-age=3600"})

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        # Each read of the response gets its own description (its own offset); ours stays.
        file = anyio.wrap_file(open(os.dup(self.fd), "rb"))
        try:
            yield file
        finally:
            with anyio.CancelScope(shield=True):
                await file.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = {k: v for k, v in scope.get("extensions", {}).items()
                      if k != "http.response.pathsend"}  # a path would be opened again: never
        try:
            await super().__call__({**scope, "extensions": extensions}, receive, send)
        finally:
            os.close(self.fd)
