"""The review page: `facewatchctl web`, a web client of the daemon's control socket.

The daemon keeps no network and its hardening: this is a separate process, run by the
person who starts it (or as facewatchd-web.service), that talks to the daemon only
through the protocol and never opens the photo folders or the database itself. Photos
and videos come as descriptors the daemon passes for an item id; the rest as JSON.

    server.py    `facewatchctl web`: its options, the listen address, the token, uvicorn
    security.py  the token, its cookie, the Host check, the protective headers
    app.py       the Starlette application: the JSON API built from the command table
    link.py      a few control connections shared by the server's threads
    images.py    face crops and viewable copies, cut from the passed descriptors
    static/      the page: plain HTML, CSS and ES modules, no build step
"""
