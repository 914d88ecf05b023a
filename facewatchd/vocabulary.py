"""The words facewatchd says of a file, once: what became of it, why, who did it, and
where a reference came from. StrEnums, so each is also the plain string the ledger
stores and the protocol sends (mypy checks the names; the wire is unchanged).

The folders a review folder keeps for some outcomes are files/folders.py's.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """What became of a file."""

    SORTED = "sorted"  # in a person's folder (or a folder a person chose)
    REVIEW = "review"  # waiting for a person in a review folder
    DUPLICATE = "duplicate"  # the same bytes as a file sorted before: review/duplicates/
    FAILED = "failed"  # could not be analysed: review/failed/
    TRASH = "trash"  # a review item deleted: review/trash/, until purged
    PURGED = "purged"  # deleted for good from the trash
    UNDONE = "undone"  # put back in inbound by an undo, and held there
    # What a run says of a file it did not move (never a ledger row's):
    LEFT = "left"  # stays in inbound: changed, vanished, or could not be moved
    SIDECAR = "sidecar"  # a sidecar that followed its photo
    IGNORED = "ignored"  # not ours to take: left where it is


class Reason(StrEnum):
    """Why: the decision's reason, or the person's action's."""

    MATCHED = "matched"
    NO_FACE = "no_face"
    UNKNOWN_FACE = "unknown_face"
    UNCERTAIN = "uncertain"  # within tolerance of someone, without the support
    SEVERAL_PEOPLE = "several_people"  # multi_person = "review"
    UNREADABLE = "unreadable"
    DUPLICATE = "duplicate"
    FAILED = "failed"  # how the queue lists a failed file (its decision: unreadable)
    KEPT = "kept"
    TAUGHT = "taught"
    UNDONE = "undone"


class Band(StrEnum):
    """How near a face is to its nearest person (policy/decide.py says the rule)."""

    SURE = "sure"  # within sure_tolerance: them
    SUPPORTED = "supported"  # within tolerance, with the support and margin: them
    UNCERTAIN = "uncertain"  # within tolerance, without: maybe them, for a person to say
    UNKNOWN = "unknown"  # beyond tolerance: not them


class Actor(StrEnum):
    """Who made a move."""

    DAEMON = "daemon"  # sorting what arrived
    USER = "user"  # a review action
    RECHECK = "recheck"  # filing what matches once the references changed
    UNDO = "undo"
    PURGE = "purge"
    SIDECAR = "sidecar"  # only a sidecar joined a file that stayed


class Origin(StrEnum):
    """Where a reference face came from."""

    FOLDER = "folder"  # the references folder
    CTL = "ctl"  # facewatchctl enroll
    REVIEW = "review"  # taught from the review queue
    CLUSTER = "cluster"  # a cluster named
    AUTO = "auto"  # the daemon's own, from a sure match (auto_reference)
    IMPORTED = "imported"  # a face another photo tool named (import-regions)
    DRAWN = "drawn"  # a face a person drew on a review item (review add-face)


# The outcomes of the review queue's items, and the reasons it lists them by.
REVIEW_OUTCOMES = (Outcome.REVIEW, Outcome.DUPLICATE, Outcome.FAILED)
REVIEW_REASONS = (Reason.NO_FACE, Reason.UNKNOWN_FACE, Reason.UNCERTAIN, Reason.SEVERAL_PEOPLE,
                  Reason.DUPLICATE, Reason.FAILED)
