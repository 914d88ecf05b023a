"""Who may use the page: the token, its cookie, the Host check, and response headers.

- Every request needs the token. Scripts send `Authorization: Bearer TOKEN`; a GET
  may carry `?token=TOKEN` (the address `facewatchctl web` prints), which sets a
  cookie so the page's own requests (images, scripts) need nothing more.
- The cookie is HttpOnly, SameSite=Strict, and holds a value derived from the token
  (an HMAC), not the token: it lets GETs through, never a POST. Browsers send cookies
  to every port of a host, so another local web service could see it; it still could
  not change anything.
- Requests that change something (anything but GET and HEAD) need the token in the
  Authorization header: a cookie alone is refused, so a forged cross-site form or
  fetch cannot act (CSRF). The page keeps the token in sessionStorage for this.
- The Host header must name the listen address, a localhost name, or an
  --allow-host name: a DNS-rebinding page (evil.example resolving to 127.0.0.1)
  sends its own name and is refused with 403.
- A change that says where it comes from (Origin) must come from the page itself:
  the Host's name and port (another service on another port of the same host is
  another site), and its scheme once known.
- Behind a TLS proxy given as --trusted-proxy, its X-Forwarded-Proto says how the
  browser came: over https the cookie is Secure. From anyone else the header is not
  believed (a client could send it).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...errors import ConfigError

SAFE_METHODS = ("GET", "HEAD")
DEFAULT_PORTS = {"http": 80, "https": 443}
HEADERS = {
    # The page is plain files from /static: nothing inline, nothing from elsewhere.
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self';"
                               " img-src 'self' blob:; media-src 'self'; connect-src 'self';"
                               " manifest-src 'self'; base-uri 'none'; form-action 'none';"
                               " frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def new_token() -> str:
    return secrets.token_urlsafe(32)


def load_token(path: Path) -> str:
    """The token kept in `path`, made (0600, random) if the file does not exist.
    An existing file that others may read is refused, as ssh refuses such keys."""
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            pass
        else:
            token = new_token()
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
            return token
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)) as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(f"--token-file {path} is not a regular file")
            if st.st_mode & 0o077:
                raise ConfigError(f"--token-file {path} may be read by others (mode "
                                  f"{stat.S_IMODE(st.st_mode):04o}): chmod 600 it, or remove it to "
                                  f"have a new token made")
            token = f.read().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--token-file {path}: {getattr(e, 'strerror', None) or e}") from None
    if len(token) < 16 or not token.isprintable() or " " in token:
        raise ConfigError(f"--token-file {path}: the token must be one line of at least 16 characters")
    return token


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Guard:
    """Pure ASGI middleware in front of the whole application."""

    def __init__(self, app: ASGIApp, *, token: str, listen_host: str, port: int,
                 allowed_hosts: list[str], trusted_proxies: Sequence[str] = ()) -> None:
        self.app = app
        self.proxies = {_address(a) for a in trusted_proxies}
        self.token = token
        # The cookie's name has the port: browsers send a host's cookies to all its ports.
        self.cookie_name = f"facewatchd_{port}"
        self.cookie_value = hmac.new(token.encode(), b"facewatchd-web cookie", hashlib.sha256).hexdigest()
        self.hosts = {h.lower().strip("[]") for h in [listen_host, "localhost", *allowed_hosts]}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets (and uvicorn runs without lifespan events)
        headers = Headers(scope=scope)
        if not self.host_allowed(headers.get("host")):
            return await _error(send, 403, "bad_host", "this server answers only for its own"
                                " address, localhost, or an --allow-host name")
        method = scope["method"]
        origin = headers.get("origin")
        scheme = self.scheme(scope, headers)
        if origin is not None and method not in SAFE_METHODS and not same_origin(
                origin, headers["host"], scheme):
            return await _error(send, 403, "bad_origin", "a request from another site")
        query_token = None
        if method in SAFE_METHODS:
            query_token = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))).get("token")
        if not self.authorised(method, headers, query_token):
            return await _error(send, 401, "unauthorized", "the token is missing or wrong: open the"
                                " address `facewatchctl web` printed (it ends in ?token=...)")
        set_cookie, secure = query_token is not None, scheme == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    out.setdefault(name, value)
                out.setdefault("cache-control", "no-store")
                if set_cookie:
                    out.append("set-cookie", f"{self.cookie_name}={self.cookie_value}; Path=/;"
                                             f" HttpOnly; SameSite=Strict{'; Secure' if secure else ''}")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def scheme(self, scope: Scope, headers: Headers) -> str | None:
        """How the browser reached the page, as a --trusted-proxy says (X-Forwarded-Proto:
        the first proxy's, the one the browser spoke to); None when nobody trusted says:
        the page itself speaks plain HTTP, but a proxy in front may not."""
        client = scope.get("client")
        if client is None:
            return None
        try:
            trusted = _address(client[0]) in self.proxies
        except ValueError:  # not an IP address: no proxy of ours
            trusted = False
        if not trusted:
            return None
        proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return proto if proto in DEFAULT_PORTS else None

    def host_allowed(self, host: str | None) -> bool:
        if not host:
            return False
        try:
            parts = urlsplit("//" + host)
            name, _ = parts.hostname, parts.port  # a bad port is a ValueError
        except ValueError:
            return False
        return name is not None and (name in self.hosts or is_loopback(name))

    def authorised(self, method: str, headers: Headers, query_token: str | None) -> bool:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _same(value.strip(), self.token):
            return True
        if method not in SAFE_METHODS:
            return False  # a change needs the header: never the cookie alone
        if query_token is not None:
            return _same(query_token, self.token)
        cookies = cookie_parser(headers.get("cookie", ""))  # Starlette's, lenient as browsers are
        return _same(cookies.get(self.cookie_name, ""), self.cookie_value)


def same_origin(origin: str, host: str, scheme: str | None) -> bool:
    """Whether an Origin is the page's own: the Host's name and port (a port left out
    being its scheme's default) and, when `scheme` is known, that scheme. An unknown one
    may be either: behind a TLS proxy nobody named, the browser's origin is https."""
    try:
        theirs, ours = urlsplit(origin), urlsplit("//" + host)
        their_port, our_port = theirs.port, ours.port  # a bad port is a ValueError
    except ValueError:
        return False
    if theirs.scheme not in DEFAULT_PORTS or (scheme is not None and theirs.scheme != scheme):
        return False
    if theirs.path or theirs.query or theirs.username is not None:
        return False  # an Origin is scheme://host[:port], nothing more
    return (theirs.hostname is not None and theirs.hostname == ours.hostname
            and (their_port or DEFAULT_PORTS[theirs.scheme]) == (our_port or DEFAULT_PORTS[theirs.scheme]))


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as compared: an IPv4 client seen on an IPv6 socket (::ffff:a.b.c.d) as IPv4."""
    address = ipaddress.ip_address(text.strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


async def _error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")] + [(k.encode(), v.encode()) for k, v in HEADERS.items()]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="facewatchd"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
