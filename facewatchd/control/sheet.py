"""The contact sheet: one self-contained HTML page of review items, for deciding by eye.

Thumbnails are embedded as data: URIs and the face boxes are drawn over them as
boxes positioned in percent of the picture, so the page needs no files, no script
and no network, and the boxes stay right at any zoom. Faces of the cluster shown
are magenta, recognised faces green, other faces orange; each box carries the
face's number, as `review add-reference --face N` takes it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .show import readable

CLUSTER_COLOUR = "#ff00ff"
KNOWN_COLOUR = "#00c000"
UNKNOWN_COLOUR = "#ff8000"

STYLE = f"""
body {{ font: 14px sans-serif; margin: 16px; background: #fff; color: #222; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; width: 240px; border: 1px solid #ccc; padding: 4px; }}
.pic {{ position: relative; width: 100%; line-height: 0; }}
.pic img {{ width: 100%; }}
.nopic {{ height: 160px; background: #eee; line-height: 160px; text-align: center; }}
.face {{ position: absolute; border: 3px solid {UNKNOWN_COLOUR}; box-sizing: border-box; }}
.face.known {{ border-color: {KNOWN_COLOUR}; }}
.face.cluster {{ border-color: {CLUSTER_COLOUR}; }}
.face span {{ position: absolute; top: -3px; left: -3px; background: inherit; color: #fff;
  font: bold 12px/14px sans-serif; padding: 0 3px; background-color: #000; }}
figcaption {{ padding-top: 4px; word-break: break-all; }}
.id {{ font-weight: bold; font-size: 16px; }}
"""


def render(items: list[dict[str, Any]], thumbnails: dict[str, Any], title: str) -> str:
    """The page for `items` (as review.sheet returns them) and their thumbnails."""
    items, title = readable(items), readable(title)  # the page is UTF-8: names that are not, escaped
    figures = "\n".join(_figure(item, thumbnails.get(str(item["id"]))) for item in items)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f"<p>{len(items)} items. Boxes: <b style=\"color:{KNOWN_COLOUR}\">recognised</b>, "
            f"<b style=\"color:{UNKNOWN_COLOUR}\">unknown</b>, "
            f"<b style=\"color:{CLUSTER_COLOUR}\">in this cluster</b>; the number is the face's, "
            f"for <code>review add-reference ID --face N</code>.</p>"
            f"<div class=\"grid\">\n{figures}\n</div></body></html>\n")


def _figure(item: dict[str, Any], thumbnail: dict[str, Any] | None) -> str:
    if thumbnail is None:
        picture = '<div class="nopic">no picture</div>'
    else:
        boxes = "".join(_box(face, item["size"]) for face in item["face_boxes"]
                        if face["time"] == thumbnail["time"])
        picture = (f'<div class="pic"><img alt="item {item["id"]}" '
                   f'src="data:image/jpeg;base64,{thumbnail["jpeg"]}">{boxes}</div>')
    nearest = (f"nearest {escape(item['person'])} at {item['distance']:.2f}"
               if item.get("person") else "no one known nearby")
    return (f'<figure id="item-{item["id"]}">{picture}<figcaption>'
            f'<span class="id">{item["id"]}</span> {escape(item["reason"].replace("_", " "))}, '
            f'{item["faces"]} face{"s" if item["faces"] != 1 else ""}, {nearest}<br>'
            f'<small>{escape(item["path"])}</small></figcaption></figure>')


def _box(face: dict[str, Any], size: list[int]) -> str:
    width, height = size
    if not width or not height:
        return ""
    top, right, bottom, left = face["box"]
    kind = "cluster" if face.get("cluster") else "known" if face.get("matched") else ""
    who = f"{face['person']} {face['distance']:.2f}" if face.get("person") else "no references"
    return (f'<div class="face {kind}" title="face {face["n"]}: {escape(who)}" style="'
            f'left:{100 * left / width:.2f}%;top:{100 * top / height:.2f}%;'
            f'width:{100 * (right - left) / width:.2f}%;height:{100 * (bottom - top) / height:.2f}%">'
            f'<span>{face["n"]}</span></div>')
