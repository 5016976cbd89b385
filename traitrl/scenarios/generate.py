"""`traitrl scenarios generate`: the world generator for train.jsonl and dev.jsonl.

Deterministic for a seed: every cell draws from its own named random stream, so adding a trait
or a domain does not reshuffle the others.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from traitrl import taxonomy
from traitrl.atomic import check_output_folder, write_jsonl_group
from traitrl.config import Config
from traitrl.scenarios.record import Scenario
from traitrl.world import World, get_world


def world_from_config(config: Config) -> World:
    w = config.world
    return get_world(w.seed, w.entities_per_domain, w.unknowable_fraction)


def trait_scenarios(config: Config, split: str, per_cell: int) -> list[Scenario]:
    world = world_from_config(config)
    sc = config.scenarios
    out = []
    cell = 0
    for trait in sc.traits:
        for domain in sc.domains:
            rng = random.Random(f"{split}:{sc.seed}:{trait}:{domain}")
            cell += 1
            for i in range(per_cell):
                # train cycles through pressures (offset per cell, so small files still cover all);
                # dev draws them, to score the training *distribution*
                pressure = sc.pressures[(i + cell) % len(sc.pressures)] if split == "train" else rng.choice(sc.pressures)
                out.append(world.episodes.trait(trait, domain, rng, pressure, f"{split}-{trait}-{domain}-{i:04d}", split))
    return out


def capability_tasks(config: Config, split: str, per_kind: int) -> list[Scenario]:
    world = world_from_config(config)
    sc = config.scenarios
    out = []
    for kind in taxonomy.CAPABILITY_KINDS:
        rng = random.Random(f"{split}:{sc.seed}:{kind}")
        for i in range(per_kind):
            domain = sc.domains[i % len(sc.domains)]
            out.append(world.episodes.capability(kind, domain, rng, f"{split}-{kind}-{i:05d}", split))
    return out


def generate(config: Config, out_dir: str | Path) -> dict[str, list[Scenario]]:
    """Write train.jsonl (trait scenarios + capability tasks) and dev.jsonl (fresh trait items
    from the training distribution) into `out_dir`; return them by split."""
    sc = config.scenarios
    out_dir = check_output_folder(out_dir)
    train = trait_scenarios(config, "train", sc.per_cell) + capability_tasks(config, "train", sc.capability_per_kind)
    dev = trait_scenarios(config, "dev", sc.dev_per_cell) + capability_tasks(config, "dev", max(1, sc.capability_per_kind // 10))
    # the two files belong together: both appear, or (a full disk, a kill) neither does
    write_jsonl_group({out_dir / "train.jsonl": (s.to_row() for s in train),
                       out_dir / "dev.jsonl": (s.to_row() for s in dev)})
    return {"train": train, "dev": dev}


def counts_table(scenarios: list[Scenario]) -> tuple[list[str], list[str], Counter]:
    """(row labels, column labels, counts) of trait x domain, for printing."""
    counts = Counter((s.trait, s.domain) for s in scenarios)
    rows = [t for t in (*taxonomy.TRAITS, *taxonomy.CAPABILITY_KINDS) if any(k[0] == t for k in counts)]
    cols = [d for d in taxonomy.DOMAINS if any(k[1] == d for k in counts)]
    return rows, cols, counts
