"""What the review queue suggests of an item: "maybe NAME" (a one-click group) or a
hint on its tile, read off its decision against today's references. Pure; ReviewQueue
remembers the answers while the references stay.
"""

from __future__ import annotations

from typing import Any

from ..policy.decide import FaceVerdict
from ..vocabulary import Band, Reason
from .items import Item

# A face is offered as "maybe them" in one click only when the next person is at least
# this much further: nearer, the suggestions are wrong too often (tests/eval/suggest.py).
SUGGEST_MARGIN = 0.03
# Other near misses, this little beyond a person's tolerance, are a hint on the tile.
HINT_MARGIN = 0.05


def suggestion(item: Item, min_support: int) -> dict[str, Any] | None:
    """"Maybe NAME", offered as a one-click group: the nearest person to one of the
    item's faces that match nobody, only where that is right 9 times in 10 on a
    queue of mostly strangers (tests/eval/suggest.py, docs/recognition.md): the face
    is within their tolerance with the support a match needs, and missed only
    because another person is nearly as close (by 0.03 or more) or it is small."""
    if item.reason not in (Reason.UNKNOWN_FACE, Reason.UNCERTAIN):
        return None
    near = [v for v in item.decision.faces
            if v.person is not None and v.distance is not None and v.tolerance is not None
            and not v.matched and v.negative is None and v.band == Band.UNCERTAIN
            and v.distance <= v.tolerance and v.support >= min(min_support, v.references)
            and (v.margin is None or v.margin >= SUGGEST_MARGIN)]
    return _offer(near)


def hint(item: Item) -> dict[str, Any] | None:
    """A near miss, shown on the item's tile but never offered as a group: the nearest
    person of a face that matches nobody, within HINT_MARGIN beyond their tolerance."""
    if item.reason not in (Reason.UNKNOWN_FACE, Reason.UNCERTAIN):
        return None
    return _offer([v for v in item.decision.faces
                   if v.person is not None and v.distance is not None and v.tolerance is not None
                   and not v.matched and v.negative is None
                   and v.distance <= v.tolerance + HINT_MARGIN])


def _offer(near: list[FaceVerdict]) -> dict[str, Any] | None:
    if not near:
        return None
    best = min(near, key=lambda v: v.distance or 0.0)
    return {"person": best.person, "distance": best.distance, "face": best.face + 1, "band": best.band,
            "reference": best.reference}
