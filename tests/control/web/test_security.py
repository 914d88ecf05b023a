"""The review page's rules of access, each a test, against the real `facewatchctl web`
in front of a real daemon: the token (header, query, cookie), the Host check, POSTs
that need the header, paths that are not ids, and the protective headers."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from ...helpers import ROOT
from ...web_helpers import WebProcess, web_command
from .conftest import Site


def test_the_first_line_is_the_address_with_a_token(site: Site) -> None:
    url = site.web.url
    assert url.startswith("http://127.0.0.1:") and "/?token=" in url and len(site.web.token) >= 40
    page = httpx.get(url)  # not the shared client: it would keep the cookie
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text


def test_a_token_file_is_made_0600_kept_and_refused_when_others_may_read_it(site: Site,
                                                                             tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    with WebProcess(site.config, "--token-file", str(token_file)) as web:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert web.token == token_file.read_text().strip()
    with WebProcess(site.config, "--token-file", str(token_file)) as again:
        assert again.token == web.token
    token_file.chmod(0o640)
    refused = subprocess.run(web_command(site.config, "--listen", "127.0.0.1:0", "--token-file", str(token_file)),
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (refused.returncode, refused.stdout) == (78, "") and "chmod 600" in refused.stderr


def test_listening_beyond_loopback_needs_a_token_file_and_warns(site: Site, tmp_path: Path) -> None:
    refused = subprocess.run(web_command(site.config, "--listen", "0.0.0.0:0"), capture_output=True,
                             text=True, timeout=60, cwd=ROOT)
    assert (refused.returncode, refused.stdout) == (64, "") and "--token-file" in refused.stderr
    with WebProcess(site.config, "--token-file", str(tmp_path / "t"), listen="0.0.0.0:0") as web:
        warning = web.stderr.readline()  # printed right after the address
        assert "unencrypted unless it comes through a TLS proxy" in warning
        port = web.base.rsplit(":", 1)[1]
        assert httpx.get(f"http://127.0.0.1:{port}/api/status", headers=web.auth).status_code == 200


def test_a_bad_listen_address_is_a_usage_error(site: Site) -> None:
    for listen in ("8765", "::1:8765", "127.0.0.1:http"):
        refused = subprocess.run(web_command(site.config, "--listen", listen), capture_output=True,
                                 text=True, timeout=60, cwd=ROOT)
        assert (refused.returncode, refused.stdout) == (64, ""), (listen, refused.stderr)


@pytest.mark.parametrize("path", ["/", "/api/status", "/api/review/list", "/static/app.js",
                                  "/api/review/1/image", "/api/clusters", "/nowhere"])
def test_no_token_or_a_wrong_one_is_401(site: Site, path: str) -> None:
    response = site.http.get(path)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = "Bearer " + site.web.token[:-1] + ("x" if site.web.token[-1] != "x" else "y")
    assert site.http.get(path, headers={"Authorization": wrong}).status_code == 401
    assert site.http.get(path, params={"token": "nope"}).status_code == 401


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.nip.io",
                                  "localhost.evil.example", "", "[::1", "a:b:c"])
def test_a_foreign_host_header_is_403_even_with_the_token(site: Site, host: str) -> None:
    response = site.http.get("/api/status", headers={**site.auth, "Host": host})
    assert response.status_code == 403 and response.json()["error"]["code"] == "bad_host"


@pytest.mark.parametrize("host", ["localhost", "localhost:9999", "127.0.0.1", "127.0.0.2:1",
                                  "[::1]:8765", "app.localhost"])
def test_localhost_names_on_any_port_pass_the_host_check(site: Site, host: str) -> None:
    # An SSH tunnel (ssh -L 9999:localhost:8765) arrives as localhost:9999.
    assert site.http.get("/api/status", headers={**site.auth, "Host": host}).status_code == 200


def test_an_allowed_host_name_is_accepted(site: Site) -> None:
    with WebProcess(site.config, "--allow-host", "photos.example.org") as web:
        ok = httpx.get(web.base + "/api/status", headers={**web.auth, "Host": "photos.example.org"})
        other = httpx.get(web.base + "/api/status", headers={**web.auth, "Host": "photos.example.com"})
    assert (ok.status_code, other.status_code) == (200, 403)


def cookie(site: Site) -> tuple[str, str]:
    """The cookie the address's ?token= sets."""
    header = httpx.get(site.web.url).headers["set-cookie"]
    name, _, value = header.split(";")[0].partition("=")
    return name, value


def test_the_query_token_becomes_an_httponly_strict_cookie_that_lets_gets_through(site: Site) -> None:
    header = httpx.get(site.web.url).headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header
    assert site.web.token not in header  # derived from the token, not the token
    name, value = cookie(site)
    status = httpx.get(site.web.base + "/api/status", cookies={name: value})
    assert status.status_code == 200 and "processed" in status.json()
    assert httpx.get(site.web.base + "/static/app.js", cookies={name: value}).status_code == 200
    assert httpx.get(site.web.base + "/api/status", cookies={name: value + "0"}).status_code == 401


def test_a_post_with_the_cookie_alone_is_refused_and_changes_nothing(site: Site) -> None:
    cat = site.drop("cookie", {"cat.jpg": "no_faces/cat.jpg"})["cat.jpg"]
    name, value = cookie(site)
    for headers in ({}, {"Origin": site.web.base}, {"Content-Type": "application/x-www-form-urlencoded"}):
        response = httpx.post(site.web.base + "/api/review/delete", cookies={name: value}, headers=headers,
                              json={"ids": [cat["id"]]})
        assert response.status_code == 401
    # Nor with the token in the query string, as a cross-site form could send it.
    response = httpx.post(site.web.base + "/api/review/delete", params={"token": site.web.token},
                          cookies={name: value}, json={"ids": [cat["id"]]})
    assert response.status_code == 401
    assert Path(cat["path"]).is_file() and site.items("cookie")["cat.jpg"]["id"] == cat["id"]


def test_a_post_from_another_site_is_refused_even_with_the_token(site: Site) -> None:
    cat = site.drop("origin", {"cats.jpg": "no_faces/cats.jpg"})["cats.jpg"]
    response = site.http.post("/api/review/delete", json={"ids": [cat["id"]]},
                              headers={**site.auth, "Origin": "http://evil.example"})
    assert response.status_code == 403 and Path(cat["path"]).is_file()


@pytest.mark.parametrize("path", [
    "/static/../facewatchd.toml", "/static/%2e%2e/%2e%2e/facewatchd.toml", "/static/..%2F..%2Fctl.py",
    "/api/review/..%2F..%2F..%2Fetc%2Fpasswd/image", "/api/review/%2Fetc%2Fpasswd/image",
    "/api/review/-1/image", "/api/review/1.5/image", "/api/review/abc/why", "/api/review//image",
    "/api/references/..%2F1/crop", "/api/review/1/faces/x/crop", "/api/review/1/../../etc/passwd",
    "/api/review/1/image/../../../../etc/passwd",
])
def test_anything_that_is_not_an_id_is_404(site: Site, path: str) -> None:
    response = site.http.send(site.http.build_request("GET", path, headers=site.auth))
    assert response.status_code == 404, (path, response.text[:200])
    assert b"root:" not in response.content and b"[daemon]" not in response.content


def test_an_unknown_id_is_404_with_a_json_error(site: Site) -> None:
    for path in ("/api/review/999999/image", "/api/review/999999/thumbnail", "/api/review/999999/why",
                 "/api/review/999999/faces/1/crop", "/api/references/999999/crop"):
        response = site.http.get(path, headers=site.auth)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert site.post("/api/references/999999/disable", {}).status_code == 404


def test_keep_to_a_folder_outside_the_configuration_moves_nothing(site: Site) -> None:
    dogs = site.drop("outside", {"dogs.jpg": "no_faces/dogs.jpg"})["dogs.jpg"]
    answer = site.post("/api/review/keep", {"ids": [dogs["id"]], "to": "/etc"})
    assert answer.status_code == 200
    (result,) = answer.json()["results"]
    assert not result["ok"] and "not inside" in result["error"]
    assert Path(dogs["path"]).is_file() and not Path("/etc/dogs.jpg").exists()


def test_bad_arguments_are_400_and_unknown_ones_too(site: Site) -> None:
    assert site.post("/api/review/keep", {"ids": [1]}).status_code == 400  # neither person nor to
    assert site.post("/api/review/keep", {"ids": "1", "person": "A"}).status_code == 400
    assert site.post("/api/review/delete", {"ids": [1], "x": 1}).status_code == 400
    assert site.post("/api/undo", {"path": "/etc/passwd"}).status_code == 400  # not offered over HTTP
    assert site.http.post("/api/review/delete", content=b"[1]", headers=site.auth).status_code == 400
    for params in ({"limit": "ten"}, {"zzz": "1"}, {"order": "random"}, {"offset": "-1"}, {"deleted": "perhaps"}):
        response = site.http.get("/api/review/list", params=params, headers=site.auth)
        assert (response.status_code, response.json()["error"]["code"]) == (400, "bad_args"), params
    assert site.http.delete("/api/review/1/image", headers=site.auth).status_code == 405


def test_every_answer_carries_the_protective_headers(site: Site) -> None:
    for response in (site.http.get("/", headers=site.auth), site.http.get("/api/status", headers=site.auth),
                     site.http.get("/api/status"), site.http.get("/static/app.js", headers=site.auth)):
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_without_a_daemon_the_api_says_503_and_the_page_still_loads(tmp_path: Path) -> None:
    config = tmp_path / "facewatchd.toml"
    config.write_text('[daemon]\nsocket = "nobody-listens.sock"\n')
    with WebProcess(config) as web:
        response = httpx.get(web.base + "/api/status", headers=web.auth)
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
        assert httpx.get(web.url).status_code == 200


def test_a_post_from_another_port_of_the_same_host_is_refused(site: Site) -> None:
    """Another service on another port of this host is another site: its Origin names
    that port."""
    port = int(site.web.base.rsplit(":", 1)[1])
    for origin in (f"http://127.0.0.1:{port + 1}", "http://127.0.0.1:9999", "http://127.0.0.1",
                   f"http://localhost:{port}", f"ftp://127.0.0.1:{port}", "null"):
        response = site.http.post("/api/review/delete", json={"ids": [999999]},
                                  headers={**site.auth, "Origin": origin})
        assert (response.status_code, response.json()["error"]["code"]) == (403, "bad_origin"), origin
    # The page's own origin, and the same seen through an SSH tunnel (ssh -L 9999:...).
    for origin, host in ((f"http://127.0.0.1:{port}", None), ("http://localhost:9999", "localhost:9999")):
        headers = {**site.auth, "Origin": origin, **({"Host": host} if host else {})}
        response = site.http.post("/api/review/delete", json={"ids": [999999]}, headers=headers)
        assert response.status_code == 200 and not response.json()["results"][0]["ok"], origin


def test_the_cookie_is_secure_when_a_trusted_proxy_says_https(site: Site) -> None:
    forwarded = {"X-Forwarded-Proto": "https"}
    # Believed only from a --trusted-proxy: from anyone else, a client could claim it.
    assert "Secure" not in httpx.get(site.web.url, headers=forwarded).headers["set-cookie"]
    with WebProcess(site.config, "--trusted-proxy", "192.0.2.7") as web:
        assert "Secure" not in httpx.get(web.url, headers=forwarded).headers["set-cookie"]
    with WebProcess(site.config, "--trusted-proxy", "127.0.0.1", "--allow-host", "photos.example.org") as web:
        secure = httpx.get(web.url, headers=forwarded).headers["set-cookie"]
        assert secure.endswith("; Secure") and "HttpOnly" in secure and "SameSite=Strict" in secure
        assert "Secure" not in httpx.get(web.url).headers["set-cookie"]  # plain HTTP: as before
        assert "Secure" not in httpx.get(web.url, headers={"X-Forwarded-Proto": "http"}).headers["set-cookie"]
        # Over https the page's origin is https: an http one is another site.
        proxied = {**web.auth, **forwarded, "Host": "photos.example.org"}
        ok = httpx.post(web.base + "/api/review/delete", json={"ids": [999999]},
                        headers={**proxied, "Origin": "https://photos.example.org"})
        assert ok.status_code == 200
        for origin in ("http://photos.example.org", "https://photos.example.org:8443"):
            refused = httpx.post(web.base + "/api/review/delete", json={"ids": [999999]},
                                 headers={**proxied, "Origin": origin})
            assert refused.status_code == 403, origin


def test_a_trusted_proxy_must_be_an_ip_address(site: Site) -> None:
    refused = subprocess.run(web_command(site.config, "--listen", "127.0.0.1:0", "--trusted-proxy", "caddy"),
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (refused.returncode, refused.stdout) == (64, "") and "--trusted-proxy" in refused.stderr


FAKE_BROWSER = """#!{python}
# A browser for the test: says what it was started with, as every local user could read it.
import json, os, sys
with open({record!r} + ".tmp", "w") as f:
    json.dump({{"argv": sys.argv, "cmdline": open("/proc/self/cmdline", "rb").read().decode()}}, f)
os.rename({record!r} + ".tmp", {record!r})
"""


def test_open_keeps_the_token_off_the_browsers_command_line(site: Site, tmp_path: Path) -> None:
    """`web --open` starts the browser ($BROWSER, as Python's webbrowser does) with a
    file only the user may read, which sends it on to the page with the token."""
    record = tmp_path / "browser.json"
    fake = tmp_path / "fake-browser"
    fake.write_text(FAKE_BROWSER.format(python=sys.executable, record=str(record)))
    fake.chmod(0o755)
    env = {**os.environ, "BROWSER": str(fake)}
    page: Path | None = None
    proc = subprocess.Popen(web_command(site.config, "--listen", "127.0.0.1:0", "--open"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        base, _, token = url.partition("/?token=")
        assert token
        deadline = time.monotonic() + 30
        while not record.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "no browser started"
            time.sleep(0.05)
        started = json.loads(record.read_text())
        assert token not in started["cmdline"] and not any(token in arg for arg in started["argv"])
        (opened,) = started["argv"][1:]
        assert opened.startswith("file://")
        page = Path(unquote(urlsplit(opened).path))
        assert stat.S_IMODE(page.stat().st_mode) == 0o600 and page.stat().st_uid == os.getuid()
        assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
        # Following it, as a browser does, reaches the page logged in.
        target = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', page.read_text())
        assert target is not None and target[1].startswith(base)
        landed = httpx.get(target[1].replace("&amp;", "&"))
        assert landed.status_code == 200 and '<script type="module" src="/static/app.js">' in landed.text
        name, _, value = landed.headers["set-cookie"].split(";")[0].partition("=")
        assert httpx.get(base + "/api/status", cookies={name: value}).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert page is not None and not page.exists()  # gone with the server
