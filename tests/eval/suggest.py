"""Which "maybe X" suggestions on the review page can be trusted: measured on the wild set.

    .venv/bin/python tests/eval/suggest.py [--data DIR] [--cache DIR] [--splits 20]

Reuses tests/eval/tune.py (its engine cache in --cache: every photo analysed once, ~1
minute on 2 cores the first time; everything after that is numpy, ~1-2 minutes).

A queue is built as the daemon builds it: a split enrols a seeded share of the people with
more than 3 photos (first 3 photos by name, the reference face as enroll picks it), every
other photo arrives and is decided with the default Policy (decide.py, vectorised here:
sure 0.5, tolerance 0.56, min_support 2 within 0.6, min_margin 0.05, min_band_face 30);
the photos that go to review as unknown_face or uncertain are the queue. Two kinds of
queue: "heavy" (share 0.25: ~8 people enrolled, strangers far outnumber them) and
"typical" (share 0.7, the set's protocol).

A suggestion is (photo, face -> person), at most one per photo (the nearest eligible face,
as ReviewQueue.suggestion). It is right only if the photo's person is that person AND the
face is the photo's labelled face (tune.reference_face: the largest face, at least twice
the area of the next; a photo without one has no labelled face). A stranger face, or a
bystander in a probe, suggested as X is wrong. A group is every suggestion of one person.

Prints: (1) the current rule on every kind of queue; (2) how well each feature separates
right from wrong among the faces the current rule suggests (ROC AUC, training splits);
(3) the rule chosen on training splits (seeds 0..N-1: most right suggestions on heavy
queues with pooled precision >= 0.85 on both kinds) and its figures on held-out splits
(seeds 1000..), mean ± sd over queues: precision, right suggestions, suggestions, groups,
groups all right; and a people-disjoint check (chosen on splits of half the people,
reported on the other half); (4) the neighbours of the chosen rule on held-out splits.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import tune  # noqa: E402

SURE, TOL, SUPPORT_TOL, MIN_SUPPORT, MIN_MARGIN, MIN_FACE = 0.5, 0.56, 0.6, 2, 0.05, 30.0
SUGGEST_MARGIN = 0.05  # review.py today


@dataclass
class Queue:
    """The unmatched faces of the review items (unknown_face / uncertain) of one split."""
    photo: np.ndarray  # per face: index of its photo in the queue
    right: np.ndarray  # suggesting p1 for this face would be right
    p1: np.ndarray
    d1: np.ndarray
    margin: np.ndarray
    support: np.ndarray  # the person's references within 0.6
    nrefs: np.ndarray
    uncertain: np.ndarray  # band UNCERTAIN under the default policy
    side: np.ndarray
    sharp: np.ndarray
    score: np.ndarray
    rank: np.ndarray  # 1 + how many queue faces (other photos) are nearer to p1 than this one
    rel: np.ndarray  # d1 - the mean distance between p1's own references
    d2: np.ndarray  # to p1's second-nearest reference (d1 if p1 has one)
    photo_right: np.ndarray  # the photo is of p1 (whichever face): the photo-level count
    enc: np.ndarray
    same: np.ndarray  # F x F: same p1, different photo
    close: np.ndarray  # F x F distances between faces
    n_items: int
    n_probe_items: int  # items whose photo is of an enrolled person
    order: np.ndarray  # faces by (photo, d1)


def build(cache: dict, split: tune.Split) -> Queue:
    names, rows, person = [], [], []
    for p in sorted(split.refs):
        got = [cache[r]["enc"][i] for r in split.refs[p] if (i := tune.reference_face(cache[r])) is not None]
        if got:
            names.append(p)
            rows += got
            person += [len(names) - 1] * len(got)
    matrix, person = np.array(rows), np.array(person)
    spread = np.zeros(len(names))
    for p in range(len(names)):
        m = matrix[person == p]
        if len(m) > 1:
            dd = np.sqrt(((m[:, None] - m[None]) ** 2).sum(-1))
            spread[p] = dd[np.triu_indices(len(m), 1)].mean()
        else:
            spread[p] = np.nan
    index = {n: i for i, n in enumerate(names)}
    cols: dict[str, list] = {k: [] for k in ("photo", "right", "p1", "d1", "margin", "support", "nrefs", "uncertain",
                                             "side", "sharp", "score", "enc", "rel", "d2", "photo_right")}
    n_items = n_probe = 0
    for r in sorted(split.truth):
        item = cache[r]
        enc = item["enc"]
        if not len(enc):
            continue  # no_face
        d = np.sqrt(np.maximum((enc ** 2).sum(1)[:, None] + (matrix ** 2).sum(1)[None] - 2 * enc @ matrix.T, 0))
        per = np.stack([d[:, person == p].min(1) for p in range(len(names))], 1)
        o = np.argsort(per, 1)
        rows_ = np.arange(len(enc))
        p1, d1 = o[:, 0], per[rows_, o[:, 0]]
        margin = per[rows_, o[:, 1]] - d1
        support = np.array([(d[i, person == p1[i]] <= SUPPORT_TOL).sum() for i in rows_])
        nrefs = np.bincount(person, minlength=len(names))[p1]
        side = item["side"]
        inband = d1 <= TOL
        ok = ((support >= np.minimum(MIN_SUPPORT, nrefs)) & (margin >= MIN_MARGIN)
              & ~((side > 0) & (side < MIN_FACE)))
        matched = (d1 <= SURE) | (inband & ok)
        if matched.any():
            continue  # sorted
        if (item["score"] < 0).all():
            continue  # no_face: only weak detections, nobody known
        truth = index.get(split.truth[r], -1) if split.truth[r] else -1
        lab = tune.reference_face(item) if truth >= 0 else None
        d2 = np.array([np.sort(d[i, person == p1[i]])[min(1, nrefs[i] - 1)] for i in rows_])
        right = np.zeros(len(enc), bool)
        if lab is not None:
            right[lab] = p1[lab] == truth
        for k, v in (("photo", [n_items] * len(enc)), ("right", right), ("p1", p1), ("d1", d1), ("margin", margin),
                     ("support", support), ("nrefs", nrefs), ("uncertain", inband & (d1 > SURE)), ("side", side),
                     ("sharp", item["sharp"]), ("score", item["score"]), ("enc", list(enc)),
                     ("rel", d1 - spread[p1]), ("d2", d2), ("photo_right", p1 == truth)):
            cols[k] += list(v)
        n_items += 1
        n_probe += truth >= 0
    a = {k: np.array(v) for k, v in cols.items()}
    enc = a["enc"].reshape(-1, 128)
    close = np.sqrt(np.maximum((enc ** 2).sum(1)[:, None] + (enc ** 2).sum(1)[None] - 2 * enc @ enc.T, 0))
    same = (a["p1"][:, None] == a["p1"][None]) & (a["photo"][:, None] != a["photo"][None])
    # rank of each face among the queue's faces (one per other photo: its nearest) for its p1
    rank = np.ones(len(enc), int)
    for i in range(len(enc)):
        others = same[i] & (a["d1"] < a["d1"][i])
        rank[i] += len(np.unique(a["photo"][others]))
    order = np.lexsort((a["d1"], a["photo"]))
    return Queue(a["photo"].astype(int), a["right"].astype(bool), a["p1"].astype(int), a["d1"], a["margin"],
                 a["support"], a["nrefs"], a["uncertain"].astype(bool), a["side"], a["sharp"], a["score"],
                 rank, a["rel"], a["d2"], a["photo_right"].astype(bool), enc, same, close, n_items, n_probe, order)


# ---- rules ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    dist: float = 0.61  # d1 <= dist (None-like 9: the current rule's eligibility)
    margin: float = 0.0
    support: int = 0  # references within 0.6 >= min(support, the person's references)
    second: float = 9.0  # the person's second-nearest reference within this (one reference: d1)
    side: float = 0.0
    rank: int = 10 ** 6  # at most this many queue photos nearer to the person (1: the nearest)
    group: int = 1  # at least this many suggestions of the person in the queue...
    within: float = 9.0  # ...within this distance of this face (9: any)
    current: bool = False

    def __str__(self) -> str:
        if self.current:
            return "current: not matched and (uncertain or d <= tolerance + 0.05)"
        parts = [f"d<={self.dist}"]
        if self.margin:
            parts.append(f"margin>={self.margin}")
        if self.support:
            parts.append(f"support>=min({self.support},refs)")
        if self.second < 9:
            parts.append(f"d2<={self.second}")
        if self.side:
            parts.append(f"side>={self.side:g}")
        if self.rank < 10 ** 6:
            parts.append(f"rank<={self.rank}")
        if self.group > 1:
            parts.append(f"group>={self.group}" + (f" within {self.within}" if self.within < 9 else ""))
        return " & ".join(parts)


def suggest(q: Queue, rule: Rule) -> np.ndarray:
    """Indices of the suggested faces: per item the nearest eligible face, then the group filter."""
    if rule.current:
        e = q.uncertain | (q.d1 <= TOL + SUGGEST_MARGIN)
    else:
        e = ((q.d1 <= rule.dist) & (q.margin >= rule.margin) & (q.support >= np.minimum(rule.support, q.nrefs))
             & (q.d2 <= rule.second) & ((q.side >= rule.side) | (q.side == 0)) & (q.rank <= rule.rank))
    o = q.order[e[q.order]]
    _, first = np.unique(q.photo[o], return_index=True)
    chosen = o[first]
    if rule.group > 1 and len(chosen):
        s = np.zeros(len(q.d1), bool)
        s[chosen] = True
        mates = (q.same[chosen] & (q.close[chosen] <= rule.within) & s[None]).sum(1)
        chosen = chosen[mates + 1 >= rule.group]
    return chosen


@dataclass
class Tally:
    right: int
    wrong: int
    groups: int
    groups_right: int  # groups whose suggestions are all right
    groups_any: int  # groups with at least one right suggestion
    items: int
    probe_items: int
    reachable: int  # items where some face would be a right suggestion
    photo_right: int  # suggestions whose photo is of the person (any face)

    @property
    def precision(self) -> float:
        return self.right / (self.right + self.wrong) if self.right + self.wrong else np.nan


def tally(q: Queue, chosen: np.ndarray) -> Tally:
    ok = q.right[chosen]
    persons = q.p1[chosen]
    groups = np.unique(persons)
    all_right = sum(bool(ok[persons == g].all()) for g in groups)
    any_right = sum(bool(ok[persons == g].any()) for g in groups)
    return Tally(int(ok.sum()), int((~ok).sum()), len(groups), all_right, any_right, q.n_items, q.n_probe_items,
                 len(np.unique(q.photo[q.right])), int(q.photo_right[chosen].sum()))


def pooled(ts: list[Tally]) -> float:
    r, w = sum(t.right for t in ts), sum(t.wrong for t in ts)
    return r / (r + w) if r + w else np.nan


def ms(x) -> str:
    x = np.array(x, float)
    x = x[~np.isnan(x)]
    return f"{x.mean():.2f} ± {x.std():.2f}" if len(x) else "n/a"


def line(ts: list[Tally]) -> str:
    with_any = sum(1 for t in ts if t.right + t.wrong)
    n = sum(t.right + t.wrong for t in ts)
    photo = sum(t.photo_right for t in ts) / max(1, n)
    return (f"precision {pooled(ts):.3f} pooled (photo-level {photo:.3f}),"
            f" {ms([t.precision for t in ts])} per queue ({with_any}/{len(ts)} with any);"
            f" right {ms([t.right for t in ts])}, suggested {ms([t.right + t.wrong for t in ts])},"
            f" groups {ms([t.groups for t in ts])} (all right {ms([t.groups_right for t in ts])},"
            f" >=1 right {ms([t.groups_any for t in ts])}, queues with >=1 right group"
            f" {sum(t.groups_any > 0 for t in ts)}/{len(ts)}); queue {ms([t.items for t in ts])} items,"
            f" {ms([t.probe_items for t in ts])} of enrolled people, {ms([t.reachable for t in ts])} with the right"
            f" person nearest to the labelled face")


GRID = [Rule(d, m, 0, d2, 0.0, k, g, 9.0)
        for d, m, d2, k, g in itertools.product(
            [0.52, 0.53, 0.54, 0.55, 0.56, 0.57, 0.58, 0.6], [0.0, 0.03, 0.05, 0.08, 0.1],
            [9.0, 0.58, 0.6, 0.61, 0.62, 0.63, 0.64, 0.65], [1, 2, 10 ** 6], [1, 2])]
TARGET = 0.85


def choose(cells: dict[str, list[Queue]], target: float = TARGET) -> Rule:
    """Most right suggestions (summed over the cells' mean per queue) with pooled precision
    >= target in every cell; ties: fewer suggestions."""
    best, key = Rule(dist=0.0), None
    for rule in GRID:
        k, ok = 0.0, True
        for qs in cells.values():
            ts = [tally(q, suggest(q, rule)) for q in qs]
            if not pooled(ts) >= target:
                ok = False
                break
            k += np.mean([t.right for t in ts])
        if ok and (key is None or k > key):
            best, key = rule, k
    return best


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a right face's value > a wrong face's), ties counted half."""
    if not len(pos) or not len(neg):
        return np.nan
    return float((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=tune.ROOT.parent / "shared" / "data" / "wild")
    p.add_argument("--cache", type=Path, default=Path("/tmp/facewatchd-tune"))
    p.add_argument("--splits", type=int, default=20)
    args = p.parse_args()
    t0 = time.time()
    photos = tune.people(args.data)
    cache = tune.load_cache(args.data, args.cache)
    n = args.splits
    kinds = {"heavy": 0.25, "typical": 0.7}
    cells = {f"{fam} {k}": (v, fam == "random3") for fam in ("first3", "random3") for k, v in kinds.items()}

    def queues(seeds, persons=None):
        return {c: [build(cache, tune.make_split(photos, s, share=v, persons=persons, random_refs=rr)) for s in seeds]
                for c, (v, rr) in cells.items()}

    train, held = queues(range(n)), queues(range(1000, 1000 + n))
    print(f"queues built in {time.time() - t0:.0f} s; heavy: 25% of the people with > 3 photos enrolled, typical: 70%;"
          " first3: the first 3 photos as references, random3: 3 random ones")

    print("\n1. the current rule (review.py), held-out splits")
    cur = Rule(current=True)
    for c in cells:
        print(f"  {c:<16} {line([tally(q, suggest(q, cur)) for q in held[c]])}")

    print("\n2. features among the faces the current rule suggests (training, all cells): ROC AUC right vs wrong,"
          " > 0.5 = larger for right")
    qs = [q for c in cells for q in train[c]]
    feats = {"-distance": lambda q: -q.d1, "margin": lambda q: q.margin, "support": lambda q: q.support,
             "references": lambda q: q.nrefs, "-second nearest": lambda q: -q.d2,
             "side": lambda q: q.side, "sharpness": lambda q: q.sharp,
             "detector score": lambda q: q.score, "-rank in queue": lambda q: -q.rank,
             "-(d - own spread)": lambda q: -np.nan_to_num(q.rel, nan=0.0)}
    pos_n = neg_n = 0
    vals = {k: ([], []) for k in feats}
    for q in qs:
        c = suggest(q, cur)
        pos_n += q.right[c].sum()
        neg_n += (~q.right[c]).sum()
        for k, f in feats.items():
            v = f(q)[c]
            vals[k][0].append(v[q.right[c]])
            vals[k][1].append(v[~q.right[c]])
    print(f"  {pos_n} right, {neg_n} wrong")
    for k, (a, b) in vals.items():
        print(f"  {k:<18} {auc(np.concatenate(a), np.concatenate(b)):.3f}")

    print(f"\n3. rule chosen on {n} training splits of each cell ({len(GRID)} rules; most right suggestions"
          f" with pooled precision >= {TARGET} in every cell)")
    rule = choose(train)
    print(f"  chosen: {rule}")
    for name, data in (("train", train), ("held-out", held)):
        for c in cells:
            print(f"  {name:<8} {c:<16} {line([tally(q, suggest(q, rule)) for q in data[c]])}")

    print("\n  people-disjoint: chosen on 8 splits of each cell within half the people, reported on 2 splits of each"
          " cell of the other half (5 shuffles x 2 directions)")
    everyone, out, picked = sorted(photos), {c: [] for c in cells}, []
    for seed in range(5):
        halves = tune.people_halves(everyone, seed)
        for a, b in ((0, 1), (1, 0)):
            r = choose(queues([100 * seed + i for i in range(8)], halves[a]))
            picked.append(str(r))
            test = queues([100 * seed + 50 + 10 * a + i for i in range(2)], halves[b])
            for c in cells:
                out[c] += [tally(q, suggest(q, r)) for q in test[c]]
    for c in cells:
        print(f"  held-out {c:<16} {line(out[c])}")
    for r in sorted(set(picked)):
        print(f"    chosen {picked.count(r)}x: {r}")

    print("\n4. the chosen rule and its neighbours, held-out splits: pooled precision / mean right per queue in "
          + " | ".join(cells))
    from dataclasses import replace
    variants = [rule] + [replace(rule, **{f: v}) for f, vs in (
        ("dist", [0.52, 0.53, 0.54, 0.55, 0.56, 0.58]), ("margin", [0.0, 0.03, 0.05, 0.08]),
        ("second", [9.0, 0.6, 0.61, 0.62, 0.63, 0.65]), ("rank", [1, 2, 10 ** 6]),
        ("group", [1, 2])) for v in vs if getattr(rule, f) != v]
    for r in variants:
        cellv = []
        for c in cells:
            ts = [tally(q, suggest(q, r)) for q in held[c]]
            cellv.append(f"{pooled(ts):.3f} {np.mean([t.right for t in ts]):5.2f}")
        print(f"  {str(r):<50} " + " | ".join(cellv))
    print(f"\nruntime {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
