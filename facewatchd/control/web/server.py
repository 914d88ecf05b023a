"""`facewatchctl web`: its options, and serving the page with uvicorn.

The listening socket is bound here before uvicorn starts, so the first line printed
(the address to open, with the token) names the real port, also for --listen HOST:0.
Listening beyond loopback needs --token-file (a token that outlives the process and
is not only in a terminal's scrollback) and says that the traffic is plain HTTP
unless a TLS proxy is in front. --open starts the browser with a file that sends it
on to the address, not with the token, which every local user could read on its
command line. Only the standard library is imported until it
serves: facewatchctl's other commands start as quickly as before.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from pathlib import Path

from ...errors import ConfigError, FacewatchError, UsageError

HELP = "serve the review page: the queue, clusters and people, in a browser"
DESCRIPTION = (HELP[0].upper() + HELP[1:] + ". A client of the daemon's socket, as the user who"
               " starts it; its first line on stdout is the address to open, with the token.")


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1:8765", metavar="HOST:PORT",
                        help="where to listen (default 127.0.0.1:8765; port 0: any free port)")
    parser.add_argument("--token-file", type=Path, metavar="FILE",
                        help="keep the token in FILE (created 0600 with a random token if missing);"
                             " required to listen beyond this machine")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also answer requests for this host name (behind a proxy); repeatable")
    parser.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDR",
                        help="the address of a TLS proxy in front: its X-Forwarded-Proto is believed"
                             " (the cookie is then Secure); repeatable")
    parser.add_argument("--open", action="store_true",
                        help="open the page in a browser (through a file only you may read, so the"
                             " token is on no command line)")


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT, [V6]:PORT, or :PORT (loopback)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen {text!r}: give HOST:PORT, e.g. 127.0.0.1:8765")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"--listen {text!r}: write an IPv6 address in brackets, [::1]:8765")
    return host or "127.0.0.1", int(port)


def bind(host: str, port: int) -> socket.socket:
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(128)
        except OSError:
            sock.close()
            raise
    except OSError as e:  # socket.gaierror included
        raise ConfigError(f"--listen {host}:{port}: cannot listen there: {e.strerror or e}") from None
    return sock


def parse_proxies(addresses: list[str]) -> list[str]:
    """--trusted-proxy addresses, as ipaddress writes them (what the server compares)."""
    import ipaddress

    try:
        return [str(ipaddress.ip_address(a.strip("[]"))) for a in addresses]
    except ValueError as e:
        raise UsageError(f"--trusted-proxy: {e}: give the proxy's IP address, e.g. 127.0.0.1") from None


def serve(args: argparse.Namespace, socket_path: Path) -> int:
    from .security import is_loopback, load_token, new_token

    host, port = parse_listen(args.listen)
    proxies = parse_proxies(args.trusted_proxy)
    loopback = is_loopback(host)
    if not loopback and args.token_file is None:
        raise UsageError(f"--listen {args.listen} reaches beyond this machine: give --token-file FILE"
                         " too (and put a TLS proxy in front)")
    token = load_token(args.token_file) if args.token_file else new_token()
    sock = bind(host, port)
    try:
        return _run(args, socket_path, sock, host, token, loopback, proxies)
    finally:
        sock.close()


def opener(url: str) -> Path:
    """A page that sends the browser on to `url` (with the token): the browser is started
    with this file's name, not the token, which any local user could read on its command
    line (/proc/PID/cmdline); the file is the user's alone (0600, in a 0700 folder of its
    own, in $XDG_RUNTIME_DIR when there is one), as Jupyter does it."""
    import html
    import os
    import tempfile

    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(tempfile.mkdtemp(prefix="facewatchctl-web-",
                                   dir=runtime if runtime and os.path.isdir(runtime) else None))
    path = folder / "open.html"
    link = html.escape(url, quote=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f'<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
                f'<meta http-equiv="refresh" content="0;url={link}"><title>facewatchd review</title>'
                f'</head><body><p><a href="{link}">Open the review page</a></p></body></html>\n')
    return path


def _run(args: argparse.Namespace, socket_path: Path, sock: socket.socket, host: str, token: str,
         loopback: bool, proxies: list[str]) -> int:
    import shutil
    import threading
    import webbrowser

    import uvicorn

    from .app import create_app
    from .link import DaemonLink

    port = sock.getsockname()[1]
    wildcard = host in ("0.0.0.0", "::")
    shown = (args.allow_host[0] if wildcard and args.allow_host else "localhost" if wildcard else host)
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/?token={token}"
    print(url, flush=True)
    if not loopback:
        print(f"facewatchctl web: listening on {host}:{port}, beyond this machine: the traffic"
              " (photos, the token) is unencrypted unless it comes through a TLS proxy",
              file=sys.stderr, flush=True)
    link = DaemonLink(socket_path)
    try:
        link.call("status", {})
    except FacewatchError as e:
        print(f"facewatchctl web: {e}; the page says so until it can reach it", file=sys.stderr, flush=True)
    app = create_app(link, token=token, listen_host=host, port=port, allowed_hosts=args.allow_host,
                     trusted_proxies=proxies, config=args.config)
    # Forwarded headers are Guard's to judge (only from --trusted-proxy), not uvicorn's.
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False,
                            proxy_headers=False, lifespan="off", timeout_graceful_shutdown=5, ws="none")
    page = None
    if args.open:
        try:
            page = opener(url)
        except OSError as e:
            print(f"facewatchctl web: cannot open a browser: {e}", file=sys.stderr, flush=True)
        else:
            threading.Timer(0.5, webbrowser.open, [page.as_uri()]).start()
    # uvicorn stops gracefully on SIGTERM or SIGINT, then raises the signal again to the
    # handler it found: let that be a no-op, so a requested stop exits 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        link.close()
        if page is not None:
            shutil.rmtree(page.parent, ignore_errors=True)
    return 0
