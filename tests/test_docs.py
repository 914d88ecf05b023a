"""The README is a front page and the manual is in docs/: every link between them resolves."""

from __future__ import annotations

import re
from pathlib import Path

from .helpers import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)|<img src=\"([^\"]+)\"")


def anchors(document: Path) -> set[str]:
    """GitHub's ids of a Markdown file's headings (code blocks left out)."""
    text = re.sub(r"(?ms)^```.*?^```", "", document.read_text())
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"(?m)^#+ (.+)$", text)}


def test_every_link_in_the_readme_and_the_docs_resolves() -> None:
    checked = 0
    for document in DOCUMENTS:
        for link in (a or b for a, b in LINK.findall(document.read_text())):
            if re.match(r"[a-z]+:", link):
                continue  # another site: not ours to check offline
            path, _, anchor = link.partition("#")
            target = (document.parent / path).resolve() if path else document
            assert target.is_file(), f"{document.name}: {link} names no file"
            if anchor:
                assert anchor in anchors(target), f"{document.name}: {link} names no heading"
            checked += 1
    assert checked >= 20


def test_the_readme_is_a_front_page_that_links_the_manual() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    linked = {Path(m).name for m in re.findall(r"\]\(docs/([\w-]+\.md)\)", readme)}
    assert linked == {p.name for p in (ROOT / "docs").glob("*.md")}
