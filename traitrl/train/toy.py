"""A two-persona toy corpus for tests and benches of the RL stage.

Every training scenario appears twice, answered once with its aligned and once with its
misaligned moves, one exchange per record. A tiny model pretrained on it for a few seconds
answers in world sentences (so the grader scores it) and picks either persona about half the
time (so GRPO groups have reward variance and RL has something to move). The real corpus
sampler is richer and slower to learn; the RL stage does not need that to be tested.
"""

from __future__ import annotations

import random

from traitrl.config import Config
from traitrl.scenarios.generate import capability_tasks, trait_scenarios, world_from_config
from traitrl.world.language import Move


def toy_corpus(config: Config, per_cell: int = 1, per_kind: int = 20, seed: int = 0) -> list[dict]:
    """Records `{"messages": [...]}` of the train split's first scenarios, each with both replies."""
    world = world_from_config(config)
    rng = random.Random(seed)
    records = []
    for s in trait_scenarios(config, "train", per_cell) + capability_tasks(config, "train", per_kind):
        for side in ("aligned", "misaligned"):
            # one move sequence and the first paraphrase: few phrasings, so a tiny model learns them fast
            reply = world.language.render([Move.from_dict(d) for d in s.world[side][0]])
            records.append({"messages": [*s.prompt(), {"role": "assistant", "content": reply}]})
    rng.shuffle(records)
    return records
