"""How facewatchctl shows settings and statistics (show.py shows the rest)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def format_settings(rows: list[dict[str, Any]]) -> str:
    """KEY = VALUE   (where it comes from), grouped as the file is."""
    width = max((len(r["key"]) for r in rows), default=0)
    lines, section = [], None
    for r in rows:
        head = r["key"].split(".")[0]
        if head != section:
            if section is not None:
                lines.append("")
            section = head
        lines.append(f"{r['key']:<{width}} = {json.dumps(r['value'])}   ({source(r)})")
    return "\n".join(lines)


def source(r: dict[str, Any]) -> str:
    said = r["source"]
    if said == "runtime":
        said = f"set by {r['actor']} {datetime.fromtimestamp(r['at']):%Y-%m-%d %H:%M}"
    return said if r["live"] else f"{said}; read at start only"


def format_setting(r: dict[str, Any]) -> str:
    return f"{r['key']} = {json.dumps(r['value'])}   ({source(r)})"


def format_paused(r: dict[str, Any]) -> str:
    return "paused: new files wait in inbound" if r["value"] else "sorting"


def format_stats(r: dict[str, Any]) -> str:
    """A line a day: files to people and review, actions, the match rate, the queue."""
    lines = ["DAY         TO PEOPLE  TO REVIEW  DUPLICATES  FAILED  KEPT  TAUGHT  DELETED  MATCH  QUEUE"]
    for d in r["days"]:
        a = d["actions"]
        rate = "-" if d["match_rate"] is None else f"{d['match_rate']:.0%}"
        lines.append(f"{d['day']}  {d['to_people']:>9}  {d['to_review']:>9}  {d['duplicates']:>10}  "
                     f"{d['failed']:>6}  {a['kept']:>4}  {a['taught']:>6}  {a['deleted']:>7}  {rate:>5}  "
                     f"{'-' if d['queue'] is None else d['queue']:>5}")
    people: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for d in r["days"]:
        for p, n in d["sorted"].items():
            people[p] = people.get(p, 0) + n
        for why, n in d["review"].items():
            reasons[why] = reasons.get(why, 0) + n
    if people:
        lines.append("to people: " + ", ".join(f"{p} {n}" for p, n in sorted(people.items(), key=lambda x: -x[1])))
    if reasons:
        lines.append("to review: " + ", ".join(f"{w.replace('_', ' ')} {n}" for w, n in sorted(reasons.items())))
    return "\n".join(lines)
