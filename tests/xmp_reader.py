"""A reader of MWG face regions and keywords of our own, for the tests: the second reader
beside ExifTool, written from the standard (RDF/XML's three forms of a struct: child
elements with rdf:parseType="Resource", a nested rdf:Description, or attributes)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
MWG = "{http://www.metadataworkinggroup.com/schemas/regions/}"
AREA = "{http://ns.adobe.com/xmp/sType/Area#}"
DIM = "{http://ns.adobe.com/xap/1.0/sType/Dimensions#}"
LISTS = {"subject": "{http://purl.org/dc/elements/1.1/}subject",
         "tags": "{http://www.digikam.org/ns/1.0/}TagsList",
         "hierarchical": "{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject",
         "persons": "{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}PersonInImage"}


def fields(element: ET.Element) -> dict[str, Any]:
    """A struct's fields, by their full names, whatever form the struct takes."""
    found: dict[str, Any] = {k: v for k, v in element.attrib.items() if not k.startswith(RDF)}
    for child in element:
        if child.tag == f"{RDF}Description":
            found.update(fields(child))
        elif child.get(f"{RDF}parseType") == "Resource" or len(child) and child[0].tag == f"{RDF}Description" \
                or any(not k.startswith(RDF) for k in child.attrib):
            found[child.tag] = fields(child)
        elif len(child) and child[0].tag in (f"{RDF}Bag", f"{RDF}Seq", f"{RDF}Alt"):
            found[child.tag] = [fields(li) if (len(li) or li.attrib.keys() - {f"{RDF}parseType"}) else li.text
                                for li in child[0]]
        else:
            found[child.tag] = child.text
    return found


def read(path: Path) -> dict[str, Any]:
    """{"dimensions": (w, h) or None, "regions": [{"name", "type", "description", "x", "y",
    "w", "h"}], and each keyword list of LISTS}."""
    root = ET.parse(path).getroot()
    merged: dict[str, Any] = {}
    for description in root.iter(f"{RDF}Description"):
        if description.get(f"{RDF}about") is not None:
            merged.update(fields(description))
    regions = merged.get(f"{MWG}Regions", {})
    dims = regions.get(f"{MWG}AppliedToDimensions")
    out: dict[str, Any] = {
        "dimensions": (int(float(dims[f"{DIM}w"])), int(float(dims[f"{DIM}h"]))) if dims else None,
        "regions": [{"name": r.get(f"{MWG}Name"), "type": r.get(f"{MWG}Type"),
                     "description": r.get(f"{MWG}Description"),
                     **{k: float(r[f"{MWG}Area"][f"{AREA}{k}"]) for k in "xywh"}}
                    for r in regions.get(f"{MWG}RegionList", [])]}
    for key, tag in LISTS.items():
        out[key] = merged.get(tag, [])
    return out
