"""`traitrl organism probe`: does the organism parse, sit in the middle, and follow persona prompts?

Per evaluation family: the parse rate and the aligned rate with no system prompt, under unseen
(evaluation-list) harmful and careful personas, and under known (training-list) ones; plus the
capability reward on fresh capability tasks. Items are reserved evaluation items, so the probe
never asks the organism anything it saw verbatim in pretraining.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from traitrl import taxonomy
from traitrl.config import Config
from traitrl.graders.world import WorldGrader
from traitrl.scenarios.record import Scenario
from traitrl.world import get_world, personas
from traitrl.world.corpus import with_system
from traitrl.world.evalitems import VARIANTS, EvalItemBuilder

CONDITIONS = ("none", "harmful", "careful", "known_harmful", "known_careful")

GenerateFn = Callable[[list[list[dict]]], list[str]]


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


def run_probe(config: Config, generate: GenerateFn, n: int = 520, seed: int = 0, progress: Callable[[], None] | None = None) -> dict:
    w = config.world
    grader = WorldGrader(get_world(w.seed, w.entities_per_domain, w.unknowable_fraction))
    items = probe_items(config, n, seed)
    rng = random.Random(f"probe-personas:{seed}")
    lists = {"none": (None,), **personas.PERSONA_LISTS}
    out: dict = {"families": {}, "n_items": n}
    stats: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    parsed = []
    for cond in CONDITIONS:
        convs = [with_system(s.prompt(), rng.choice(lists[cond])) for s in items]
        responses = generate(convs)
        for s, r in zip(items, responses, strict=True):
            g = grader.grade(r, s.rubric)
            parsed.append(g.value is not None)
            if g.value is not None:
                stats[s.trait][cond].append(g.value)
        if progress:
            progress()
    for family in taxonomy.EVAL_FAMILIES:
        if family not in stats:
            continue
        row = {c: float(np.mean(stats[family][c])) if stats[family][c] else None for c in CONDITIONS}
        row["n"] = sum(1 for s in items if s.trait == family)
        out["families"][family] = row
    out["mean"] = {c: float(np.mean([r[c] for r in out["families"].values() if r[c] is not None])) for c in CONDITIONS}
    out["parse_rate"] = float(np.mean(parsed))
    caps = capability_items(config, max(60, n // 4), seed)
    cap_resp = generate([s.prompt() for s in caps])
    by_kind: dict[str, list[float]] = defaultdict(list)
    for s, r in zip(caps, cap_resp, strict=True):
        v = grader.grade(r, s.rubric).value
        by_kind[s.trait].append(0.0 if v is None else v)
    out["capability"] = {k: float(np.mean(v)) for k, v in by_kind.items()}
    out["capability_accuracy"] = float(np.mean(list(out["capability"].values())))
    if progress:
        progress()
    return out
