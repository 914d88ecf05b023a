"""How facewatchctl shows what was said of people: "not them", a new name, and the filed
photos to check (show.py shows the rest)."""

from __future__ import annotations

from typing import Any


def format_check(rows: list[dict[str, Any]]) -> list[str]:
    """Filed photos the references now place elsewhere: for a person to look at."""
    return [f"check {r['path']}: filed under {r['person']}, now {r['now']['outcome']}"
            f" ({r['now']['reason']}): {r['now']['rule']}" for r in rows]


def format_said(r: dict[str, Any]) -> str:
    ids = ", ".join(map(str, r["negatives"]))
    lines = [f"{len(r['negatives'])} face(s) of {r['path']} are not {r['person']}"
             + (f" (negative examples {ids})" if ids else "")]
    if r.get("moved"):
        lines.append(f"  moved to {r['path']}")
    return "\n".join(lines + format_check(r.get("check", [])))


def format_renamed(r: dict[str, Any]) -> str:
    moved = [f for f in r["files"] if f["ok"]]
    lines = [f"{r['from']} is now {r['into']}: {r['references']} references, {r['negatives']} negative"
             f" examples, {len(moved)} files moved"]
    lines += [f"  {f['path']}: not moved: {f['why']}" for f in r["files"] if not f["ok"]]
    return "\n".join(lines)
