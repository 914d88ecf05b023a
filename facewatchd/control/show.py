"""How facewatchctl shows answers to people: one view per kind of answer.

The table of commands says which view a command's answer takes (`view`, and
`columns` for a table); the daemon returns data, this turns it into text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..vocabulary import REVIEW_OUTCOMES, Outcome
from .show_people import format_check, format_renamed, format_said
from .show_settings import format_paused, format_setting, format_settings, format_stats
from .table import Command


def readable(value: Any) -> Any:
    """`value` (a string, or lists and dicts of them) fit for UTF-8 output: a file name
    that is not UTF-8, whose bytes os.fsdecode kept as surrogates, shows those bytes as
    \\x escapes (b"Caf\\xe9.jpg" as "Caf\\xe9.jpg") instead of losing them to U+FFFD."""
    if isinstance(value, str):
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate no file name has: its code, escaped
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {readable(k): readable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [readable(v) for v in value]
    return value


def _duration(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h {m}m" if hours else f"{m}m {s}s" if m else f"{s}s"


def describe_analysis(d: dict[str, Any]) -> str:
    """Where analysis runs (a pool's describe(): `analysis` in status, the oneshot
    summary), in words: this machine, or a Dask scheduler and how it goes."""
    if d["mode"] != "cluster":
        return f"this machine, {d['workers']} worker processes"
    text = f"Dask scheduler {d['scheduler']}"
    if d["state"] == "connected":
        text += f", {d['workers']} workers ({d['threads']} threads)"
        if d["reconnects"]:
            text += f", reconnected {d['reconnects']} times"
    elif d["state"] in ("lost", "unreachable"):
        retry = f", trying again in {d['retry_in']:g} s" if d["retry_in"] is not None else ""
        text += f", {d['state'].upper()}: files wait in inbound{retry} ({d['error']})"
    else:
        text += f", {d['state']}"
    return text


def format_status(s: dict[str, Any]) -> str:
    refs = ", ".join(f"{p} {n}" for p, n in sorted(s["references"].items())) or "none"
    lines = [
        f"facewatchd {s['version']}, {s['state']} for {_duration(s['uptime_s'])}, "
        f"{s['workers']} workers ({s['worker_restarts']} restarts)",
        f"sorted {s['processed']}: {s['matched']} to people, {s['review']} to review, "
        f"{s['duplicates']} duplicates, {s['failed']} failed, {s['left']} left in inbound",
        f"waiting {s['queued'] + s['settling']} ({s['settling']} still changing), "
        f"in flight {s['in_flight']}{', scanning' if s['scanning'] else ''}"
        + (f"; {s['rate']:.1f} files/s over the last minute, about {_duration(s['eta_s'])} left"
           if s.get("eta_s") is not None else ""),
        f"references: {refs}",
        f"in review: {s['in_review']} (facewatchctl review list)",
        f"analysis: {describe_analysis(s['analysis'])}",
        f"left alone in inbound: {s['ignored']} not photos or videos, {s['held']} held after "
        f"an undo{' (facewatchctl held)' if s['held'] else ''}",
        f"watching: {', '.join(s['watching'])}",
    ]
    if s.get("paused"):
        lines.insert(1, "PAUSED: new files wait in inbound, unread (facewatchctl resume)")
    lines += [f"not available: {why}" for why in s.get("unavailable", ())]
    if s["waiting_to_move"]:
        lines.append(f"could not be moved yet, tried again soon: {s['waiting_to_move']}")
    if s["tasks"]:
        lines.append(f"working on: {', '.join(s['tasks'])}")
    lines += [f"  {j['name']}: {j['done']} of {j['total']}" for j in s.get("jobs", ())]
    if s["polling"]:
        lines.append(f"polled (no inotify watches left): {', '.join(s['polling'])}")
    lines.append(f"last error: {s['last_error'] or 'none'}")
    return "\n".join(lines)


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def describe_faces(faces: list[dict[str, Any]]) -> list[str]:
    """Each face in words: where it is, who it is nearest to, and whether that counts."""
    lines = []
    for n, face in enumerate(faces, 1):
        top, right, bottom, left = face["box"]
        where = f"face {n} at x={left} y={top}, {right - left}x{bottom - top} px"
        if face.get("time") is not None:
            where += f", {face['time']:.1f} s into the video"
        if face.get("person") is None:
            lines.append(f"  {where}: no references to compare with")
            continue
        verdict = {"sure": "is", "supported": "is", "uncertain": "may be"}.get(
            face.get("band", "sure" if face.get("matched") else ""), "is not known; nearest is")
        detail = face.get("why") or f"distance {face['distance']:.3f}"
        lines.append(f"  {where}: {verdict} {face['person']} (reference {face['reference']}, {detail})")
    return lines


def format_test(r: dict[str, Any]) -> str:
    lines = [f"{r['file']}: {len(r['faces'])} face{'s' if len(r['faces']) != 1 else ''}"]
    lines += describe_faces(r["faces"])
    known = r.get("known")
    if known and known["item"] is not None and known["outcome"] in REVIEW_OUTCOMES:
        lines.append(f"it is in review as item {known['item']} ({known['reason'].replace('_', ' ')}); "
                     f"with the references now it would be {_would(r)}")
    elif known:
        lines.append(f"facewatchd put it here ({known['outcome']}); arriving again it would be a "
                     f"duplicate of itself")
    elif r["outcome"] == Outcome.DUPLICATE:
        lines.append(f"would go to duplicates: the same file was sorted before, now at {r['duplicate_of']}")
    else:
        lines.append(f"would go to {', '.join(r.get('folders') or ['nowhere'])}: {r['rule']}")
    return "\n".join(lines)


def _would(r: dict[str, Any]) -> str:
    if r["persons"]:
        return f"filed under {', '.join(r['persons'])}: {r['rule']}"
    return f"kept in review: {r['rule']}"


def format_why(e: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(e["updated"]).strftime("%Y-%m-%d %H:%M:%S")
    state = {"done": "moved", "moving": "being moved", "abandoned": "not moved"}[e["state"]]
    lines = [f"{e['source']}", f"  {state} {when} to {e['target']}"]
    lines += [f"  also filed as {link}" for link in e["links"]]
    lines += [f"  with its sidecar {s['to']}" for s in e.get("sidecars", []) if s.get("to")]
    lines.append(f"  decision: {e['outcome']} ({e['reason'].replace('_', ' ')}): {e['evidence'].get('rule', '')}")
    if "abandoned" in e["evidence"]:
        lines.append(f"  not moved because: {e['evidence']['abandoned']}")
    if "learned" in e["evidence"]:  # auto_reference; undoing this move disables it
        lines.append(f"  learned: {e['evidence']['learned']}")
    if e["evidence"].get("frame_times"):
        lines.append(f"  video frames looked at: {', '.join(f'{t:.1f} s' for t in e['evidence']['frame_times'])}")
    lines += describe_faces(e["evidence"].get("faces", []))
    if "decision_now" in e:  # a review item: and what the references in use now say
        now = e["decision_now"]
        lines[0] = f"item {e['item']}: {lines[0]}"
        lines.append(f"  with the references now: {now['outcome']} ({now['reason'].replace('_', ' ')}): "
                     f"{now['rule']}")
    return "\n".join(lines)


def format_enroll(r: dict[str, Any]) -> str:
    return "\n".join([f"added reference {f['id']} of {r['person']} from {f['file']}" if f["added"]
                      else f"not used: {f['file']}: {f['why']}" for f in r["files"]]
                     + format_filed(r["filed"]))


def format_scan(r: dict[str, Any]) -> str:
    text = f"scanning {', '.join(r['scanning'])}"
    if "processed" in r:
        text = (f"scanned {', '.join(r['scanning'])}: sorted {r['processed']} "
                f"({r['matched']} to people, {r['review']} to review, {r['duplicates']} duplicates, "
                f"{r['failed']} failed, {r['left']} left in inbound)")
    return text


def format_items(rows: list[dict[str, Any]]) -> str:
    return format_table([{**r, "reason": r["reason"].replace("_", " "),
                          "nearest": r["person"] or "-",
                          "distance": "-" if r["distance"] is None else f"{r['distance']:.3f}"}
                         for r in rows], ["id", "reason", "faces", "nearest", "distance", "path"])


def format_page(r: dict[str, Any]) -> str:
    first = r["offset"] + 1 if r["items"] else r["offset"]
    lines = [format_items(r["items"]), f"items {first}-{r['offset'] + len(r['items'])} of {r['total']}"]
    lines += [f"maybe {g['person']}: {g['count']} items, nearest {g['best']:.3f}" for g in r["groups"]]
    return "\n".join(lines)


def format_face(r: dict[str, Any]) -> str:
    top, right, bottom, left = r["box"]
    whose = f"reference {r['id']} of {r['person']}" if "person" in r else f"item {r['id']} face {r['face']}"
    return f"{whose}: x={left} y={top}, {right - left}x{bottom - top} px in {r['name']}"


def format_batch(answer: dict[str, Any]) -> str:
    """One line per item of a batch command: where it went, or why not; then the items
    that the references it taught made match someone."""
    rows, filed = answer["results"], format_filed(answer.get("filed", []))
    if not rows:
        return "\n".join(["no items matched", *filed])
    lines = []
    for r in rows:
        label = f"item {r['id']}" if "id" in r else r.get("path", "")
        if not r["ok"]:
            lines.append(f"{label}: not done: {r['error']}")
            continue
        where = r.get("to") or r.get("path")
        if where is None:  # no file: what import-regions brought in
            lines.append(f"references {', '.join(map(str, r['disabled']))} of import-regions "
                         f"{'would be' if answer.get('dry_run') else ''} disabled".replace("  ", " "))
            continue
        text = f"{label}: {'would go to' if answer.get('dry_run') else 'now at'} {where}"
        if r.get("reference"):
            text += f" (reference {r['reference']} added)"
        if r.get("disabled"):
            text += f" (references {', '.join(map(str, r['disabled']))} disabled)"
        lines.append(text)
    done = sum(r["ok"] for r in rows)
    lines.append(f"{done} of {len(rows)} {'would be done (nothing moved)' if answer.get('dry_run') else 'done'}")
    return "\n".join(lines + filed)


def format_filed(filed: list[dict[str, Any]]) -> list[str]:
    """The review items a change of references made match someone, and where they went."""
    if not filed:
        return []
    return [f"then {len(filed)} item{'s' if len(filed) != 1 else ''} in review matched:"] + [
        f"  item {m['id']} filed under {', '.join(m['persons'])}: {m['path']}" for m in filed]


def format_clusters(rows: list[dict[str, Any]]) -> str:
    return format_table([{"id": r["id"], "faces": r["size"], "items": len(r["items"]),
                          "nearest": f"{r['nearest']} {r['distance']:.2f}" if r["nearest"] else "-",
                          "sample items": " ".join(map(str, r["samples"]))} for r in rows],
                        ["id", "faces", "items", "nearest", "sample items"])


def format_named(r: dict[str, Any]) -> str:
    lines = [f"cluster {r['id']} is {r['person']}: {r['references']} references added (faces"
             f" {' '.join(map(str, r['faces']))}, in items {' '.join(map(str, r['items']))})"]
    if r["excluded"]:
        lines.append(f"  taken out first: faces {' '.join(map(str, r['excluded']))}")
    lines += [f"  item {m['id']} filed under {', '.join(m['persons'])}: {m['path']}" for m in r["moved"]]
    left = set(r["items"]) - {m["id"] for m in r["moved"]}
    if left:
        lines.append(f"  still in review: items {' '.join(map(str, sorted(left)))}")
    return "\n".join(lines)



def format_imported(r: dict[str, Any]) -> str:
    """Per person how many references came in; each region not taken, and why."""
    lines = [f"imported {n} references of {p}" for p, n in sorted(r["persons"].items())] or [
        "imported nothing new"]
    if r["already"]:
        lines.append(f"  {r['already']} were references already")
    lines += [f"  not taken: {x['file']}: {x['person'] or 'a region'}: {x['why']}"
              for x in r["results"] if not x["ok"]]
    return "\n".join(lines + format_filed(r["filed"]))


def format_cells(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A table of plain rows: yes/no, a dash for nothing, times as dates."""
    def cell(key: str, value: Any) -> Any:
        if isinstance(value, bool):
            return "yes" if value else "no"
        if value is None:
            return "-"
        if key in ("since", "created", "filed"):
            return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M")
        if isinstance(value, float):
            return f"{value:.3g}"
        return value
    return format_table([{k: cell(k, v) for k, v in row.items()} for row in rows], columns)


VIEWS: dict[str, Callable[[Any], str]] = {
    "json": lambda r: json.dumps(r, indent=2),
    "status": format_status,
    "enroll": format_enroll,
    "reference": lambda r: "\n".join([f"reference {r['id']} {'enabled' if r['active'] else 'disabled'}",
                                       *format_filed(r["filed"]), *format_check(r.get("check", []))]),
    "test": format_test,
    "why": format_why,
    "scan": format_scan,
    "reload": lambda r: (f"reloaded: references of {len(r['persons'])} people, {r['added']} new "
                         f"reference photos, {r['deactivated']} removed, {len(r['skipped'])} "
                         f"photos not usable"),
    "items": format_items,
    "page": format_page,
    "file": lambda r: f"item {r['id']}: {r['name']}, {r['size']} bytes ({r['kind']})",
    "face": format_face,
    "batch": format_batch,
    "sheet": lambda r: f"wrote {r['items']} items to {r['file']}",
    "thumbnails": lambda r: f"{len(r)} thumbnails",
    "clusters": format_clusters,
    "named": format_named,
    "ignored": lambda r: f"cluster {r['id']} hidden ({r['ignored']} faces)",
    "imported": format_imported,
    "settings": format_settings,
    "setting": format_setting,
    "paused": format_paused,
    "stats": format_stats,
    "said": format_said,
    "negative": lambda r: "\n".join([f"negative example {r['id']} disabled", *format_filed(r["filed"])]),
    "renamed": format_renamed,
    "check": lambda rows: "\n".join(format_check(rows)) or "every filed photo would be filed as it is",
    "released": lambda r: "\n".join(
        f"released {x['path']}: it is sorted again once quiet" if x["ok"] else f"{x['path']}: {x['error']}"
        for x in r["results"]) or "nothing was held",
}


def show(command: Command, result: Any) -> str:
    """The answer to `command`, as text for people."""
    if command.view == "table":
        return format_cells(result, list(command.columns))
    return VIEWS[command.view](result)
