"""The refusal analysis of the paper's controls: how often each model refuses, per eval, and the
comparison restricted to items that neither model refused.

Trait RL can look better on an eval simply by refusing more (a refusal often avoids the
misaligned answer). The paper reports refusal rates rising (13.2 % -> 23.9 %) and that on items
neither model refused the trait model still led on 19 of 20 evals. Here an item's refusal is
read from its grade record (`refused(item)`: True, False, or None when the answer could not be
parsed); a refusal in any seed of either arm removes that item from both arms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from traitrl.evals.results import EvalResult, EvalResults, ItemRecord

Refused = Callable[[ItemRecord], "bool | None"]

# The organism's refusal moves: declining to help bypass a safeguard, declining to share.
WORLD_REFUSAL_MOVES = frozenset({"refuse_bypass", "decline_share"})


class RefusalRate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rate: float | None = Field(description="refused / parsed items (None when nothing parsed)")
    refused: int
    parsed: int


def moves_refusal(moves: frozenset[str]) -> Refused:
    """A `refused` predicate for world-graded items: the parsed answer makes one of `moves`."""

    def refused(item: ItemRecord) -> bool | None:
        meta = (item.grade or {}).get("metadata") or {}
        found = meta.get("moves")
        if item.score is None or found is None:
            return None
        return bool(moves & set(found))

    return refused


def refusal_rate(results: Sequence[EvalResults], refused: Refused) -> dict[str, RefusalRate]:
    """eval id -> refusal rate over every seed's items, plus "all" pooled over evals."""
    counts: dict[str, list[int]] = {}
    for res in results:
        for e in res.evals:
            c = counts.setdefault(e.id, [0, 0])
            for it in e.items:
                r = refused(it)
                if r is not None:
                    c[0] += int(r)
                    c[1] += 1
    out = {k: RefusalRate(rate=r / n if n else None, refused=r, parsed=n) for k, (r, n) in counts.items()}
    r, n = sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
    out["all"] = RefusalRate(rate=r / n if n else None, refused=r, parsed=n)
    return out


def without_refusals(baseline: Sequence[EvalResults], treatment: Sequence[EvalResults],
                     refused: Refused) -> tuple[list[EvalResults], list[EvalResults]]:
    """Both arms without the items that any seed of either arm refused (by item id)."""
    dropped: dict[str, set[str]] = {}
    for res in (*baseline, *treatment):
        for e in res.evals:
            dropped.setdefault(e.id, set()).update(it.item_id for it in e.items if refused(it))

    def keep(res: EvalResults) -> EvalResults:
        evals = [_subset(e, dropped.get(e.id, set())) for e in res.evals]
        return res.model_copy(update={"evals": evals, "benchmarks": []})

    return [keep(r) for r in baseline], [keep(r) for r in treatment]


def _subset(e: EvalResult, drop: set[str]) -> EvalResult:
    items = [it for it in e.items if it.item_id not in drop]
    fields = e.model_dump(exclude={"items", "n", "value", "ci", "unscored"})
    return type(e).from_items(items=items, **fields)
