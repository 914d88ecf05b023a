"""The support rule for people with 1 or 2 references: wild set cut to k references, named set.

    .venv/bin/python tests/eval/few.py [--data DIR] [--named DIR] [--cache DIR] [--splits 20]

Reuses tests/eval/tune.py (engine cache in --cache for wild, --cache-named for named; ~1
minute on 2 cores the first time, then numpy only: ~1 minute).

Splits: a seeded 70% of the people with more than 3 photos (wild; the same people the
3-reference protocol enrols) are enrolled with their first k photos by name (k = 1, 2, 3;
"rand2": 2 random photos), every other photo is a probe, everyone else a stranger. Named:
70% of the people with more than k photos, k = 1 or 2, the unlabelled photos are strangers.
Scored as tune.score (placements per photo; a stranger or bystander placed is wrong).

Rule family: a person with at most `few_refs` usable references is matched in the band when
d <= tol_few and at least min(need_few, refs) of their references are within st_few and
the next person is margin_few further (plus min_band_face 30); people with more references
keep the defaults (sure 0.5, tolerance 0.56, 2 within 0.6, margin 0.05). Chosen on training
seeds 0..N-1: most recall summed over the k=1, k=2 cells with pooled precision >= 0.99 in
every wild cell (k=1, 2, rand2, 3); reported on held-out seeds 1000.. and people-disjoint
halves, then on named. Prints mean ± sd over splits and pooled figures, current vs chosen.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import tune  # noqa: E402

SURE, TOL, ST, NEED, MARGIN, MIN_FACE = 0.5, 0.56, 0.6, 2, 0.05, 30.0


@dataclass(frozen=True)
class Rule:
    tol_few: float = TOL
    need_few: int = NEED
    st_few: float = ST
    margin_few: float = MARGIN
    few_refs: int = 2

    def __str__(self) -> str:
        if self == Rule():
            return "current (defaults for everyone)"
        return (f"refs<={self.few_refs}: band d<={self.tol_few}, >=min({self.need_few},refs) within {self.st_few},"
                f" margin>={self.margin_few}")


def matched(f: tune.Faces, rule: Rule) -> np.ndarray:
    few = f.nrefs <= rule.few_refs
    tol = np.where(few, rule.tol_few, TOL)
    st = np.where(few, rule.st_few, ST)
    need = np.where(few, rule.need_few, NEED)
    m = np.where(few, rule.margin_few, MARGIN)
    support = (f.nearest <= st[:, None]).sum(1)
    band = ((f.d1 <= tol) & (support >= np.minimum(need, f.nrefs)) & (f.margin >= m)
            & ((f.side >= MIN_FACE) | (f.side == 0)))
    return (f.d1 <= SURE) | band


def split_k(photos: dict[str, list[str]], seed: int, k: int, share: float = 0.7, persons=None,
            more_than: int = 3, random_refs: bool = False, strangers=()) -> tune.Split:
    rng = random.Random(seed)
    everyone = sorted(persons if persons is not None else [p for p in photos if p])
    candidates = [p for p in everyone if len(photos[p]) > more_than]
    rng.shuffle(candidates)
    enrolled = sorted(candidates[:round(len(candidates) * share)])
    pick = random.Random(seed + 7777)
    refs = {p: sorted(pick.sample(photos[p], k)) if random_refs else photos[p][:k] for p in enrolled}
    used = {r for rs in refs.values() for r in rs}
    truth = {r: (p if p in refs else None) for p in everyone for r in photos[p] if r not in used}
    truth.update(dict.fromkeys(strangers))
    return tune.Split(refs, truth)


GRID = [Rule(t, n, s, m) for t, n, s, m in itertools.product(
    [0.5, 0.52, 0.53, 0.54, 0.55, 0.56, 0.57, 0.58], [1, 2], [0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.7],
    [0.05, 0.08, 0.1, 0.15])]


def evaluate(cells: dict[str, list[tune.Faces]], rule: Rule) -> dict[str, list[tune.Score]]:
    return {c: [tune.score(f, matched(f, rule)) for f in fs] for c, fs in cells.items()}


def choose(cells: dict[str, list[tune.Faces]], target: float = 0.99) -> Rule:
    best, key = Rule(), None
    for rule in [Rule()] + GRID:
        s = evaluate(cells, rule)
        pooled = {c: sum(v[1:], v[0]) for c, v in s.items()}
        if min(p.precision for p in pooled.values()) < target:
            continue
        k = (sum(p.recall for c, p in pooled.items() if c in ("k=1", "k=2")), -abs(rule.tol_few - TOL))
        if key is None or k > key:
            best, key = rule, k
    return best


def show(cells: dict[str, list[tune.Faces]], rules: list[Rule], indent: str = "  ") -> None:
    for rule in rules:
        print(f"{indent}{rule}")
        for c, ss in evaluate(cells, rule).items():
            print(f"{indent}  {c:<6} {tune.summary(ss)}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=tune.ROOT.parent / "shared" / "data" / "wild")
    p.add_argument("--named", type=Path, default=tune.ROOT.parent / "shared" / "data" / "named")
    p.add_argument("--cache", type=Path, default=Path("/tmp/facewatchd-tune"))
    p.add_argument("--cache-named", type=Path, default=Path("/tmp/facewatchd-tune-named"))
    p.add_argument("--splits", type=int, default=20)
    args = p.parse_args()
    t0 = time.time()
    photos = tune.people(args.data)
    cache = tune.load_cache(args.data, args.cache)
    n = args.splits
    kinds = {"k=1": (1, False), "k=2": (2, False), "rand2": (2, True), "k=3": (3, False)}

    def cells(seeds, persons=None):
        return {c: [tune.features(cache, split_k(photos, s, k, persons=persons, random_refs=rr)) for s in seeds]
                for c, (k, rr) in kinds.items()}

    train, held = cells(range(n)), cells(range(1000, 1000 + n))
    few = {c: float(np.mean([np.mean(f.nrefs[np.unique(f.p1, return_index=True)[1]] <= 2) for f in fs]))
           for c, fs in held.items()}
    print(f"features in {time.time() - t0:.0f} s; share of enrolled-and-nearest people with <= 2 usable references: "
          + ", ".join(f"{c} {v:.2f}" for c, v in few.items()))

    rule = choose(train)
    fixed = [Rule(st_few=0.62), Rule(st_few=0.64)]  # the simple candidates: support within a looser radius only
    print(f"\nchosen on {n} training splits per cell ({len(GRID)} rules): {rule}")
    print("train:")
    show(train, [Rule(), rule] + fixed)
    print("held-out (seeds 1000..):")
    show(held, [Rule(), rule] + fixed)

    print("\npeople-disjoint: chosen on 8 splits per cell of half the people, reported on 2 of the other half"
          " (5 shuffles x 2 directions)")
    everyone, out, picked = sorted(photos), {c: ([], [], [], []) for c in kinds}, []
    for seed in range(5):
        halves = tune.people_halves(everyone, seed)
        for a, b in ((0, 1), (1, 0)):
            r = choose(cells([100 * seed + i for i in range(8)], halves[a]))
            picked.append(str(r))
            test = cells([100 * seed + 50 + 10 * a + i for i in range(2)], halves[b])
            for c in kinds:
                out[c][0].extend(evaluate(test, Rule())[c])
                out[c][1].extend(evaluate(test, r)[c])
                for j, fr in enumerate(fixed):
                    out[c][2 + j].extend(evaluate(test, fr)[c])
    for c in kinds:
        print(f"  {c:<6} current  {tune.summary(out[c][0])}")
        print(f"  {c:<6} chosen   {tune.summary(out[c][1])}")
        for j, fr in enumerate(fixed):
            print(f"  {c:<6} st {fr.st_few} {tune.summary(out[c][2 + j])}")
    for r in sorted(set(picked)):
        print(f"    chosen {picked.count(r)}x: {r}")

    print("\nneighbours of the chosen rule, held-out, pooled precision/recall per cell:")
    from dataclasses import replace
    variants = [replace(rule, **{k: v}) for k, vs in (
        ("tol_few", [0.52, 0.54, 0.55, 0.56, 0.57, 0.58]), ("need_few", [1, 2]),
        ("st_few", [0.58, 0.6, 0.62, 0.64, 0.66]), ("margin_few", [0.05, 0.08, 0.1])) for v in vs
        if getattr(rule, k) != v]
    for r in [rule] + variants + [Rule(need_few=1), Rule(st_few=0.62), Rule(st_few=0.64)]:
        s = evaluate(held, r)
        cellv = []
        for c, v in s.items():
            pl = sum(v[1:], v[0])
            cellv.append(f"{c} {pl.precision:.4f}/{pl.recall:.4f}")
        print(f"  {str(r):<70} " + "  ".join(cellv))

    named = tune.people(args.named)
    ncache = tune.load_cache(args.named, args.cache_named)
    strangers = named.pop("", [])
    print(f"\nnamed set ({len(named)} people, {len(strangers)} unlabelled photos as strangers),"
          f" {n} seeded splits each:")
    ncells = {f"named k={k}": [tune.features(ncache, split_k(named, 1000 + s, k, more_than=k, strangers=strangers))
                               for s in range(n)] for k in (1, 2)}
    show(ncells, [Rule(), rule] + fixed)
    print(f"\nruntime {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
