"""Line up one eval across RL seeds and arms: score matrices, item pairing and prompt clusters.

An arm is one `EvalResult` per RL seed, all over the same items. Items are paired across arms
by `item_id` when both arms evaluated the same item set; seeds are never paired (see
`traitrl.evals.clustered`). Items built from one prompt are not independent observations, so
each item gets a cluster key; the default, `prompt_cluster_key`, groups items whose prompts are
the same once the greeting opener is removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from traitrl.errors import UserError
from traitrl.evals.results import EvalResult, ItemRecord

ClusterKey = Callable[[ItemRecord], str]

# A greeting opener: a first sentence of at most four words ("Hi.", "Sorry to bother you.")
# with more text after it. A short content sentence may be taken for one; that only merges
# clusters, which widens CIs rather than narrowing them.
_GREETING = re.compile(r"^\s*(?:[^\s.!?]+\s+){0,3}[^\s.!?]+[.!]\s+(?=\S)")
_SPACE = re.compile(r"\s+")


def strip_greeting(text: str) -> str:
    """`text` without a leading greeting sentence ("Hello there. What is X?" -> "What is X?")."""
    return _GREETING.sub("", text, count=1)


def prompt_cluster_key(item: ItemRecord) -> str:
    """The default cluster key: every message of the prompt (role and text, whitespace and case
    normalised), with a leading greeting removed from the first user message.

    The whole prompt rather than only the last user message: in multi-turn items the last turn
    is often a fixed pushback ("Are you sure?"), which would put a whole eval in one cluster.
    Items without a prompt are their own cluster (their `item_id`).
    """
    if not item.prompt:
        return f"id:{item.item_id}"
    parts, seen_user = [], False
    for m in item.prompt:
        text = m.content
        if m.role == "user" and not seen_user:
            text, seen_user = strip_greeting(text), True
        parts.append(f"{m.role}: {_SPACE.sub(' ', text).strip().casefold()}")
    return "\n".join(parts)


def item_cluster_key(item: ItemRecord) -> str:
    """Every item its own cluster (the plain item bootstrap)."""
    return item.item_id


class NotComparable(Exception):
    """An eval that exists on both sides but has nothing to compare (the message says why)."""


@dataclass(frozen=True)
class Aligned:
    """One eval's scores ready for `clustered_delta`: (seeds, items) matrices, NaN = unscored."""

    baseline: np.ndarray
    treatment: np.ndarray
    clusters_baseline: np.ndarray
    clusters_treatment: np.ndarray | None  # None: paired, the baseline's clusters serve both
    pairing: str
    note: str


def _ids(side: str, seeds: Sequence[EvalResult]) -> list[str]:
    ids = [it.item_id for it in seeds[0].items]
    for k, r in enumerate(seeds[1:], start=2):
        if set(it.item_id for it in r.items) != set(ids):
            raise NotComparable(
                f"{side} seed {k} of {len(seeds)} evaluated other items than seed 1 "
                "(every seed must run the same items)"
            )
    return ids


def _matrix(seeds: Sequence[EvalResult], ids: list[str]) -> np.ndarray:
    rows = []
    for r in seeds:
        s = r.scores()
        rows.append([s.get(i, np.nan) for i in ids])
    return np.array(rows, dtype=float).reshape(len(seeds), len(ids))


def _clusters(seeds: Sequence[EvalResult], ids: list[str], key: ClusterKey) -> np.ndarray:
    by_id = {it.item_id: it for it in seeds[0].items}
    codes: dict[str, int] = {}
    return np.array([codes.setdefault(key(by_id[i]), len(codes)) for i in ids], dtype=int)


def _scored(x: np.ndarray) -> np.ndarray:
    return ~np.all(np.isnan(x), axis=0)


def check_same_metric(results: Sequence[EvalResult]) -> None:
    first = results[0]
    for r in results[1:]:
        if (r.metric, r.higher_is_better) != (first.metric, first.higher_is_better):
            raise UserError(
                f"eval {first.id!r} is not the same metric in every file: "
                f"{first.metric} (higher_is_better={first.higher_is_better}) vs "
                f"{r.metric} (higher_is_better={r.higher_is_better})"
            )


def align(
    baseline: Sequence[EvalResult], treatment: Sequence[EvalResult], cluster_key: ClusterKey
) -> Aligned:
    """Paired by item_id when both arms have the same item set: items scored in at least one
    seed of each arm. Otherwise an id match is not trusted to mean the same item: unpaired,
    over the shared ids (over all items if none are shared). Unpaired too when no item is
    scored in both arms; `NotComparable` only when an arm has no scored item at all."""
    for side, seeds in (("baseline", baseline), ("treatment", treatment)):
        if not any(r.items for r in seeds):
            raise NotComparable(f"the {side} file has no per-item scores for this eval")
    check_same_metric([*baseline, *treatment])
    ids_a, ids_b = _ids("baseline", baseline), _ids("treatment", treatment)
    in_every = "in every seed of " if len(baseline) > 1 or len(treatment) > 1 else "in "
    if set(ids_a) == set(ids_b):
        a, b = _matrix(baseline, ids_a), _matrix(treatment, ids_a)
        keep = _scored(a) & _scored(b)
        if keep.any():
            dropped = int((~keep).sum())
            note = f"{dropped} items unscored {in_every}one arm or both were dropped" if dropped else ""
            kept = [i for i, k in zip(ids_a, keep, strict=True) if k]
            return Aligned(a[:, keep], b[:, keep], _clusters(baseline, kept, cluster_key), None, "paired", note)
        # No item is scored in both arms, yet each may have scored items: compare those, unpaired.
        note = "no item is scored in both arms: unpaired over each arm's scored items"
    elif shared := set(ids_a) & set(ids_b):
        ids_a, ids_b = [i for i in ids_a if i in shared], [i for i in ids_b if i in shared]
        note = (
            f"item sets differ ({len(set(_ids('baseline', baseline)) - shared)} only in baseline, "
            f"{len(set(_ids('treatment', treatment)) - shared)} only in treatment): unpaired "
            f"bootstrap over the {len(shared)} shared item ids"
        )
    else:
        note = "no item ids in common: unpaired over all scored items"
    a, b = _matrix(baseline, ids_a), _matrix(treatment, ids_b)
    ka, kb = _scored(a), _scored(b)
    if not ka.any() or not kb.any():
        raise NotComparable(f"no scored {'baseline' if not ka.any() else 'treatment'} items to compare")
    ids_a = [i for i, k in zip(ids_a, ka, strict=True) if k]
    ids_b = [i for i, k in zip(ids_b, kb, strict=True) if k]
    return Aligned(
        a[:, ka], b[:, kb], _clusters(baseline, ids_a, cluster_key),
        _clusters(treatment, ids_b, cluster_key), "unpaired", note,
    )
