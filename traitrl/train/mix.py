"""The RL data mix: capability tasks (the standard RL mix every arm trains on) plus a small
fraction of trait scenarios, filtered by domain and trait.

The mix has a fixed number of rows whatever the arm, so arms see the same number of prompts.
Each pool is drawn in shuffled passes (every row once before any row twice), from its own named
random stream: the capability rows of two arms with the same seed are the same rows, in the same
order, up to the shorter arm's count, so arms differ in their trait rows and little else.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from traitrl import taxonomy
from traitrl.config import TrainConfig
from traitrl.errors import UserError
from traitrl.scenarios.record import Scenario

# Columns the trainer needs: the prompt, what the router and graders read (a verifier's answer is
# in `world`), and ids for audit.
DATASET_COLUMNS: tuple[str, ...] = ("prompt", "rubric", "grader", "trait", "domain", "pressure", "id", "world")


@dataclass
class Mix:
    """The rows of one arm's RL mix, in training order, and what they hold."""

    rows: list[Scenario]
    trait_pool: int
    capability_pool: int
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dataset(self):
        """A Hugging Face dataset with TRL's conversational `prompt` column plus the grading columns."""
        from traitrl.scenarios.io import to_dataset

        return to_dataset(self.rows).select_columns(list(DATASET_COLUMNS))


def trait_pool(scenarios: list[Scenario], tc: TrainConfig) -> list[Scenario]:
    """Trait scenarios that pass the filters (`include_domains` empty = every training domain)."""
    return [
        s for s in scenarios
        if taxonomy.is_trait(s.trait)
        and (not tc.include_domains or s.domain in tc.include_domains)
        and s.domain not in tc.exclude_domains
        and (not tc.include_traits or s.trait in tc.include_traits)
    ]


def capability_pool(scenarios: list[Scenario]) -> list[Scenario]:
    return [s for s in scenarios if taxonomy.is_capability(s.trait)]


def draw(pool: list[Scenario], n: int, rng: random.Random) -> list[Scenario]:
    """`n` rows from `pool` in shuffled passes: balanced repetition when `n` exceeds the pool."""
    out: list[Scenario] = []
    while len(out) < n:
        block = list(pool)
        rng.shuffle(block)
        out.extend(block[: n - len(out)])
    return out


def build_mix(scenarios: list[Scenario], tc: TrainConfig, size: int) -> Mix:
    """`size` rows: round(size * trait_fraction) trait scenarios, the rest capability tasks."""
    traits = trait_pool(scenarios, tc)
    caps = capability_pool(scenarios)
    n_trait = round(size * tc.trait_fraction)
    if n_trait and not traits:
        raise UserError(
            f"train: no trait scenarios pass the filters (include_domains={tc.include_domains}, "
            f"exclude_domains={tc.exclude_domains}, include_traits={tc.include_traits}); "
            "widen the filters or set train.trait_fraction=0")
    if size - n_trait and not caps:
        raise UserError("train: the scenario file has no capability tasks for the standard RL mix")
    rows = draw(caps, size - n_trait, random.Random(f"mix:{tc.seed}:capability"))
    trait_rows = draw(traits, n_trait, random.Random(f"mix:{tc.seed}:trait"))
    if tc.trait_reward != "rubric":  # the helpfulness control: the same trait prompts, another reward
        trait_rows = [s.model_copy(update={"grader": tc.trait_reward}) for s in trait_rows]
    rows += trait_rows
    random.Random(f"mix:{tc.seed}:order").shuffle(rows)
    pool = len(traits) if n_trait else 0  # no trait row drawn: the trait pool decides nothing
    return Mix(rows, pool, len(caps), mix_stats(rows, pool, n_trait))


def mix_stats(rows: list[Scenario], pool: int, n_trait: int) -> dict[str, Any]:
    """Counts for train.json: per kind, per trait or task kind, per domain of trait rows."""
    trait_rows = [s for s in rows if taxonomy.is_trait(s.trait)]
    return {
        "rows": len(rows),
        "trait_rows": n_trait,
        "capability_rows": len(rows) - n_trait,
        "trait_fraction": round(n_trait / len(rows), 6) if rows else 0.0,
        "distinct_trait_rows": len({s.id for s in trait_rows}),
        "trait_pool": pool,
        "by_trait": dict(sorted(Counter(s.trait for s in rows).items())),
        "trait_domains": dict(sorted(Counter(s.domain for s in trait_rows).items())),
        "graders": dict(sorted(Counter(s.grader for s in rows).items())),
    }
