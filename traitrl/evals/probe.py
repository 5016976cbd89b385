"""`traitrl organism probe`: does the organism parse, sit in the middle, and follow persona prompts?

Per evaluation family: the parse rate and the aligned rate with no system prompt, under unseen
(evaluation-list) harmful and careful personas, and under known (training-list) ones; plus the
capability reward on fresh capability tasks. Items are reserved evaluation items, so the probe
never asks the organism anything it saw verbatim in pretraining. Answers are generated and graded
by `answer_and_grade`, the path the eval suite and dev scoring take.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from traitrl import taxonomy
from traitrl.config import Config
from traitrl.evals.answers import Answers, answer_and_grade
from traitrl.graders.world import WorldGrader
from traitrl.scenarios.record import Scenario
from traitrl.world import get_world, personas
from traitrl.world.corpus import with_system
from traitrl.world.evalitems import VARIANTS, EvalItemBuilder

CONDITIONS = ("none", "harmful", "careful", "known_harmful", "known_careful")

def probe_items(config: Config, n: int, seed: int = 0) -> list[Scenario]:
    """`n` reserved evaluation items spread evenly over families, then variants and all domains."""
    w = config.world
    world = get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)
    builder = EvalItemBuilder(world.kb, world.language)
    families = [f for f in taxonomy.EVAL_FAMILIES if any(k[0] == f for k in VARIANTS)]
    variants = {f: sorted(v for fam, v in VARIANTS if fam == f) for f in families}
    rng = random.Random(f"probe:{seed}")
    items = []
    for i in range(n):
        # balanced over families first (the acceptance is per family), then variants and domains
        family = families[i % len(families)]
        round_ = i // len(families)
        variant = variants[family][round_ % len(variants[family])]
        domain = taxonomy.DOMAINS[round_ % len(taxonomy.DOMAINS)]
        items.append(builder.reserved_item(family, variant, domain, rng, f"probe-{i:05d}", want=True))
    return items


def capability_items(config: Config, n: int, seed: int = 0) -> list[Scenario]:
    w = config.world
    world = get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)
    rng = random.Random(f"probe-capability:{seed}")
    return [world.episodes.capability(taxonomy.CAPABILITY_KINDS[i % 3], taxonomy.TRAIN_DOMAINS[i % 7], rng, f"cap-{i}", "dev")
            for i in range(n)]


def run_probe(config: Config, policy: Answers, n: int = 520, seed: int = 0,
              progress: Callable[[], None] | None = None) -> dict:
    """Probe `policy` (a loaded `Policy`). Means are over scored answers only; beside each the
    share the grader could not score (`unscored`, `capability_unscored`), never folded in as 0."""
    w = config.world
    grader = WorldGrader(get_world(w.seed, w.entities_per_domain, w.unknowable_fraction))
    items = probe_items(config, n, seed)
    rng = random.Random(f"probe-personas:{seed}")
    lists = {"none": (None,), **personas.PERSONA_LISTS}
    out: dict = {"families": {}, "n_items": n}
    stats: dict[str, dict[str, list[float | None]]] = defaultdict(lambda: defaultdict(list))
    parsed = []
    for cond in CONDITIONS:
        tasks = [(with_system(s.prompt(), rng.choice(lists[cond])), s.rubric) for s in items]
        # one generation call per condition (chunk=None), as the probe has always sampled
        for s, answer in zip(items, answer_and_grade(policy, tasks, grader, chunk=None), strict=True):
            parsed.append(answer.value is not None)
            stats[s.trait][cond].append(answer.value)
        if progress:
            progress()
    for family in taxonomy.EVAL_FAMILIES:
        if family not in stats:
            continue
        row: dict = {c: _mean(stats[family][c]) for c in CONDITIONS}
        row["n"] = sum(1 for s in items if s.trait == family)
        row["unscored"] = {c: _unscored(stats[family][c]) for c in CONDITIONS}
        out["families"][family] = row
    out["mean"] = {c: float(np.mean([r[c] for r in out["families"].values() if r[c] is not None])) for c in CONDITIONS}
    out["parse_rate"] = float(np.mean(parsed))
    caps = capability_items(config, max(60, n // 4), seed)
    by_kind: dict[str, list[float | None]] = defaultdict(list)
    for s, answer in zip(caps, answer_and_grade(policy, [(s.prompt(), s.rubric) for s in caps], grader, chunk=None),
                         strict=True):
        by_kind[s.trait].append(answer.value)
    out["capability"] = {k: _mean(v) for k, v in by_kind.items()}
    out["capability_unscored"] = {k: _unscored(v) for k, v in by_kind.items()}
    scored_kinds = [v for v in out["capability"].values() if v is not None]
    out["capability_accuracy"] = float(np.mean(scored_kinds)) if scored_kinds else None
    if progress:
        progress()
    return out


def _mean(values: list[float | None]) -> float | None:
    """Mean over the scored values (None when none was scored)."""
    scored = [v for v in values if v is not None]
    return float(np.mean(scored)) if scored else None


def _unscored(values: list[float | None]) -> float | None:
    """Share of answers the grader could not score."""
    return sum(v is None for v in values) / len(values) if values else None
