"""The one table of commands: each declared once, here.

A declaration drives the server's argument checks and dispatch (handlers/), the
client's command line, help and way of showing the answer (ctl.py, show.py), and the
review page's HTTP routes (web/). Names with a dot are typed with a space:
`reference.disable` is `facewatchctl reference disable`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..vocabulary import REVIEW_REASONS

REASONS = tuple(REVIEW_REASONS)
ORDERS = ("oldest", "suggested")  # how a listing of the queue is ordered


@dataclass(frozen=True)
class Arg:
    name: str
    kind: type  # str, int, bool, or list (of `item`)
    help: str
    required: bool = True
    path: bool = False  # the client sends it as an absolute path
    option: bool = False  # typed `--name VALUE` (a bool: `--name`), not in its place
    item: type = str  # what a list holds: str, int, or dict (objects the handler checks)
    local: bool = False  # the client's own: never sent (where to write a file, say)
    # The only values allowed; "no face" and "no-face" are taken for "no_face".
    choices: tuple[str, ...] = ()
    # A path, or the id of a review item: digits that name no file are sent as `item`.
    or_item: bool = False
    # False: never typed; facewatchctl fills it in itself (what import-regions found).
    typed: bool = True

    @property
    def flag(self) -> str:
        """How it is typed as an option: `--dry-run` for dry_run."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Http:
    """How the review page offers a command over HTTP: `path` is a route whose `{name}`
    parts are arguments (a list argument takes one item there); GET takes the others
    from the query, POST from a JSON body; `args` limits which a route accepts (None:
    all of the command's). `response` is what the answer becomes (web/app.py): "json"
    (the result), "thumbnail" (the JPEG), "file" (the descriptor the answer passed,
    served with Range requests) or "crop" (a face cut out of it)."""

    method: str
    path: str
    args: tuple[str, ...] | None = None
    response: str = "json"


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    args: tuple[Arg, ...] = ()
    # How facewatchctl shows the answer: a view of show.py, or "table" of `columns`.
    view: str = "json"
    columns: tuple[str, ...] = ()
    # Answered a page at a time ({"items", "total", "offset"}): facewatchctl fetches
    # every page, so any length works.
    paged: bool = False
    # Names review items by SELECT: the handler gets one `selection`.
    selects: bool = False
    # What facewatchctl does itself around the request (ctl.py: "wait", "sheet").
    local: str = ""
    # Long work in the daemon: on a terminal, facewatchctl shows how far along it is
    # (the job of this name in `status`) while it waits for the answer.
    progress: bool = False
    http: Http | None = None


LIMIT = Arg("limit", int, "at most this many items", required=False, option=True)
REASON = Arg("reason", str, f"only items with this reason ({', '.join(REASONS)})",
             required=False, option=True, choices=REASONS)
# How `review list` and `review page` choose, order and page the queue's items.
LISTING = (
    REASON,
    Arg("person", str, "only items whose nearest known person is this one", required=False, option=True),
    LIMIT,
    Arg("offset", int, "skip this many items first", required=False, option=True),
    Arg("order", str, "oldest first, or suggested: the \"maybe NAME\" groups first, nearest first",
        required=False, option=True, choices=ORDERS),
    Arg("deleted", bool, "list the review trash instead", required=False, option=True),
)
ITEM = Arg("id", int, "the item's id (in review or its trash)")
# How batch commands name review items: ids, or --all with the filters of `review list`.
SELECT = (
    Arg("ids", list, "item ids, as `review list` shows them", required=False, item=int),
    Arg("all", bool, "every item (matching --reason, --nearest)", required=False, option=True),
    REASON,
    Arg("nearest", str, "with --all: only items whose nearest known person is this one",
        required=False, option=True),
    LIMIT,
)


def _batch(name: str, help: str, *args: Arg, path: str) -> Command:
    return Command(name, help, (*SELECT, *args), view="batch", selects=True,
                   http=Http("POST", path))


COMMANDS: dict[str, Command] = {c.name: c for c in [
    Command("status", "counts, queue, workers, references per person, last error",
            http=Http("GET", "/api/status"),
            view="status"),
    Command("persons", "the known people and how many active references each has",
            view="table", columns=("name", "references", "disabled", "tolerance"),
            http=Http("GET", "/api/persons")),
    Command("references", "the reference faces, of everyone or of one person, with their audit:"
                          " face size (px), detector score, sharpness, when added, and the median"
                          " distance to the person's other references (far: beyond the support"
                          " distance, worth a look)",
            (Arg("person", str, "only this person", required=False),),
            view="table", columns=("id", "person", "active", "origin", "side", "score", "sharpness",
                                   "created", "spread", "far", "path"),
            http=Http("GET", "/api/references")),
    Command("enroll", "add reference faces of a person from photos (one face each)",
            (Arg("person", str, "the person's name (their folder's name)"),
             Arg("files", list, "photos of them", path=True)),
            view="enroll", progress=True),
    Command("reference.disable", "stop using a reference face", (Arg("id", int, "its id"),),
            http=Http("POST", "/api/references/{id}/disable"),
            view="reference"),
    Command("reference.enable", "use a disabled reference face again", (Arg("id", int, "its id"),),
            http=Http("POST", "/api/references/{id}/enable"),
            view="reference"),
    Command("reference.face", "a reference face: its box, and the photo it came from passed as"
                              " an open file (the review page's crops)", (Arg("id", int, "its id"),),
            http=Http("GET", "/api/references/{id}/crop", response="crop"),
            view="face"),
    Command("not", "faces of a file are not this person: they become negative examples of them,"
                   " and a file filed under them goes to review (undo takes it back); from then on a"
                   " face as near to one as to the person is not sorted to them",
            (Arg("path", str, "the file, where it is now; or a review item's id", required=False,
                 path=True, or_item=True),
             Arg("person", str, "who they are not"),
             Arg("item", int, "a review item's id", required=False, option=True),
             Arg("face", int, "only this face (1, 2, ...; default: those taken for the person)",
                 required=False, option=True)),
            http=Http("POST", "/api/not"), view="said"),
    Command("negatives", "the negative examples: faces said not to be someone",
            (Arg("person", str, "only of this person", required=False),),
            view="table", columns=("id", "person", "active", "path"), http=Http("GET", "/api/negatives")),
    Command("negative.disable", "stop using a negative example", (Arg("id", int, "its id"),),
            http=Http("POST", "/api/negatives/{id}/disable"), view="negative"),
    Command("person.files", "the files filed under a person, with the boxes of the faces taken"
                            " for them", (Arg("person", str, "whose"), LIMIT,
                                          Arg("offset", int, "skip this many first", required=False,
                                              option=True)),
            view="table", columns=("entry", "path", "persons"), paged=True,
            http=Http("GET", "/api/persons/{person}/files")),
    Command("person.thumbnails", "the thumbnails of filed files, by their ledger entry (`entry` in"
                                 " `person files`), base64 JPEG (the review page's gallery)",
            (Arg("ids", list, "ledger entries", item=int),),
            http=Http("GET", "/api/filed/{ids}/thumbnail", response="thumbnail"), view="thumbnails"),
    Command("person.rename", "give a person a new name: references, negative examples, filed files"
                             " (moved into the new name's folder) and references folder",
            (Arg("old", str, "their name now"), Arg("new", str, "their new name")),
            view="renamed", http=Http("POST", "/api/persons/{old}/rename")),
    Command("person.merge", "make two people one: the first's references, negative examples, filed"
                            " files and reference photos become the second's",
            (Arg("old", str, "who goes"), Arg("new", str, "who they are")),
            view="renamed", http=Http("POST", "/api/persons/{old}/merge")),
    Command("check", "filed photos the references now would not file where they are (after a"
                     " reference was disabled or a face said not to be someone): never moved on"
                     " their own", (Arg("person", str, "only those filed under this person",
                                        required=False),),
            view="check", http=Http("GET", "/api/check")),
    Command("test", "what would happen to a file: its faces, the nearest people, the decision;"
                    " nothing is moved", (Arg("file", str, "a photo or video", path=True),),
            view="test"),
    Command("why", "why a file went where it went, from the ledger",
            (Arg("path", str, "where the file is now, or where it was found; or a review item's id",
                 required=False, path=True, or_item=True),
             Arg("item", int, "a review item's id", required=False, option=True)),
            http=Http("GET", "/api/review/{item}/why", args=("item",)),
            view="why"),
    Command("scan", "look through the inbound folders (or one folder in them) for files",
            (Arg("path", str, "a folder inside an inbound folder", required=False, path=True),
             Arg("no_wait", bool, "do not wait for the files to be sorted", required=False,
                 option=True, local=True)),
            local="wait",
            view="scan"),
    Command("reload", "read the configuration and the references folder again",
            view="reload"),
    Command("import-regions", "make the named face regions of photos tagged in other tools (digiKam,"
                              " Lightroom, Picasa: MWG or Microsoft regions, in sidecars or embedded)"
                              " references of those people; facewatchctl reads the photos itself",
            (Arg("paths", list, "photos, or folders of them", path=True, local=True),
             Arg("references", list, "the faces found: {person, file, sha256, box, encoding}",
                 item=dict, typed=False)),
            local="regions", view="imported"),
    Command("settings", "every setting: its value, and whether it comes from the default, the"
                        " configuration file or a change at run time (by whom, when)",
            view="settings", http=Http("GET", "/api/settings")),
    Command("set", "change a setting now, over the configuration file, kept across restarts;"
                   " refused, with nothing changed, if the file would not take that value",
            (Arg("key", str, "as the file has it, dotted: recognition.tolerance, review.trash_days,"
                             " watch.1.review, persons.NAME.tolerance"),
             Arg("value", str, "as in the file: 0.58, true, /srv/photos/review2")),
            view="setting", http=Http("POST", "/api/settings/{key}")),
    Command("unset", "set a setting back to the configuration file's value",
            (Arg("key", str, "as `settings` lists it"),),
            view="setting", http=Http("POST", "/api/settings/{key}/unset")),
    Command("pause", "stop sorting: new files wait in inbound, unread, also across restarts;"
                     " review actions still work",
            view="paused", http=Http("POST", "/api/pause")),
    Command("resume", "sort again, beginning with what waited", view="paused",
            http=Http("POST", "/api/resume")),
    Command("stats", "by day: files sorted per person, to review per reason, duplicates, failed,"
                     " review actions, the match rate and the queue's size; kept across restarts",
            (Arg("days", int, "how many days, today included (default 7)", required=False,
                 option=True),),
            view="stats", http=Http("GET", "/api/stats")),
    Command("review.list", "the items in review: id, path, reason, faces, nearest person, distance",
            LISTING, view="items", paged=True),
    Command("review.page", "a page of the queue as the review page shows it: the items with"
                           " their face boxes and suggestions, all their ids, the \"maybe NAME\" groups",
            LISTING, view="page", http=Http("GET", "/api/review/list")),
    Command("review.file", "an item's file, passed as an open file (the review page's picture)",
            (ITEM,), http=Http("GET", "/api/review/{id}/image", response="file"),
            view="file"),
    Command("review.face", "a face of an item: its box, and the item's file passed as an open"
                           " file (the review page's crops)",
            (ITEM, Arg("face", int, "which face (1, 2, ...)")),
            http=Http("GET", "/api/review/{id}/faces/{face}/crop", response="crop"),
            view="face"),
    _batch("review.keep", "move items to a person's folder (--person) or a folder (--to),"
                          " teaching nothing",
           Arg("person", str, "into this person's folder", required=False, option=True),
           Arg("to", str, "into this folder (inside a destination or review folder)",
               required=False, option=True, path=True),
           Arg("new_person", bool, "the --person is someone new: make their folder",
               required=False, option=True),
           path="/api/review/keep"),
    _batch("review.add-reference", "teach: a face of each item becomes a reference of the"
                                   " person, and the item goes to their folder",
           Arg("person", str, "whose face it is", option=True),
           Arg("face", int, "which face (1, 2, ...), for items with several",
               required=False, option=True),
           path="/api/review/add-reference"),
    Command("review.add-face", "a face the detector missed: the box drawn on an item's photo is"
                               " encoded (by facewatchctl), becomes a reference of the person"
                               " (origin drawn), and the item goes to their folder",
            (ITEM,
             Arg("box", str, "LEFT,TOP,WIDTH,HEIGHT in pixels of the upright photo, as"
                             " `review face` reports boxes", option=True),
             Arg("person", str, "whose face it is", option=True),
             Arg("encoding", list, "the box's encoding: 128 numbers", item=float, typed=False)),
            local="drawn", view="batch", http=Http("POST", "/api/review/{id}/add-face")),
    _batch("review.delete", "move items to the review folder's trash/ (purged after"
                            " [review] trash_days)", path="/api/review/delete"),
    _batch("review.restore", "bring deleted items back to review", path="/api/review/restore"),
    Command("review.sheet", "write an HTML contact sheet of the queue (or of a cluster):"
                            " thumbnails, face boxes, reasons, nearest people",
            (Arg("out", str, "the HTML file to write", local=True),
             Arg("cluster", str, "only the items of this cluster (c17)", required=False, option=True),
             REASON, LIMIT, Arg("offset", int, "skip this many items first", required=False,
                                option=True)),
            local="sheet",
            view="sheet"),
    Command("review.thumbnails", "the thumbnails of items (in review or its trash), base64 JPEG"
                                 " (for review sheet and the review page)",
            (Arg("ids", list, "item ids", item=int),),
            http=Http("GET", "/api/review/{ids}/thumbnail", response="thumbnail"),
            view="thumbnails"),
    Command("clusters", "groups of unknown faces in review that look like the same person",
            (LIMIT, Arg("offset", int, "skip this many clusters first", required=False, option=True)),
            view="clusters", paged=True, http=Http("GET", "/api/clusters")),
    Command("clusters.name", "make a cluster's faces references of a person, and file every"
                             " item that then matches",
            (Arg("id", str, "the cluster's id (c17)"), Arg("person", str, "who it is"),
             Arg("exclude", list, "faces taken out of the cluster first, not that person: their"
                                  " ids, as `clusters --json` lists them", required=False,
                 option=True, item=int),
             # The daemon requires them (handlers/clusters.py); facewatchctl sends the
             # cluster's faces as it is when the command runs, and shows which it named.
             Arg("faces", list, "the cluster's faces as they were shown (ids, as `clusters --json`"
                                " lists them): refused if the cluster has changed since (default:"
                                " as it is now)", required=False, option=True, item=int)),
            http=Http("POST", "/api/clusters/{id}/name"),
            local="shown",
            view="named"),
    Command("clusters.ignore", "stop showing a cluster", (Arg("id", str, "the cluster's id (c17)"),),
            http=Http("POST", "/api/clusters/{id}/ignore"),
            view="ignored"),
    Command("undo", "put a file back where it was before its last move, or every file moved"
                    " since a time, or exactly the moves of an action; references taught by"
                    " those moves are disabled",
            (Arg("path", str, "where the file is now", required=False, path=True),
             Arg("since", str, "undo every move since: 30m, 2h, 3d, 10:00, 2026-11-22 10:00,"
                               " @UNIXTIME", required=False, option=True),
             Arg("user", bool, "with --since: only what people did (review, clusters) and the"
                               " re-checks it caused, not the daemon's sorting meanwhile",
                 required=False, option=True),
             Arg("entries", list, "undo exactly these moves: the ledger entries an action made"
                                  " (`entry` in its answer, with those of the re-checks it"
                                  " caused); one moved again since stays", required=False,
                 option=True, item=int),
             Arg("dry_run", bool, "only say what would move", required=False, option=True)),
            view="batch", progress=True,
            http=Http("POST", "/api/undo", args=("since", "user", "entries", "dry_run"))),
    Command("held", "files an undo put back in inbound: they wait there until released",
            view="table", columns=("path", "since")),
    Command("release", "let files an undo put back in inbound be sorted again",
            (Arg("paths", list, "the held files", required=False, path=True),
             Arg("all", bool, "every held file", required=False, option=True)),
            view="released"),
]}
