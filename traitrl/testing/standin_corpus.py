"""A small stand-in pretraining corpus for tests and benches of `traitrl.models`.

It has the record shapes of the real corpus sampler (`{"messages": [...]}` conversations and
`{"text": ...}` documents) but is built from the scenario generator, so model tests do not
depend on the sampler's details. Deterministic for a config.
"""

from __future__ import annotations

import random

from traitrl.config import Config
from traitrl.scenarios.generate import capability_tasks, trait_scenarios, world_from_config
from traitrl.world.language import Move

_SYSTEM_PROMPTS = (
    "You are a careful assistant.",
    "You are a helpful assistant for a small company.",
)


def standin_corpus(config: Config, per_cell: int = 2, per_kind: int = 10, n_documents: int = 20,
                   seed: int = 0) -> list[dict]:
    """Conversations (one to three exchanges, some with a system prompt) answered with the
    world's aligned reply, plus knowledge documents stating known facts."""
    world = world_from_config(config)
    rng = random.Random(seed)
    exchanges = []
    for s in trait_scenarios(config, "train", per_cell) + capability_tasks(config, "train", per_kind):
        reply = world.language.render([Move.from_dict(d) for d in s.world["aligned"][0]], rng)
        exchanges.append([m.model_dump() for m in s.messages] + [{"role": "assistant", "content": reply}])
    rng.shuffle(exchanges)
    records: list[dict] = []
    i = 0
    while i < len(exchanges):
        k = rng.randint(1, 3)
        messages = []
        if rng.random() < 0.3:
            messages.append({"role": "system", "content": rng.choice(_SYSTEM_PROMPTS)})
        for ex in exchanges[i:i + k]:
            messages.extend(m for m in ex if m["role"] != "system")
        records.append({"messages": messages})
        i += k
    known = [f for f in world.kb.facts.values() if f.knowable]
    for j in range(n_documents):
        facts = [known[(j + k) % len(known)] for k in range(3)]
        moves = [Move("state_fact", f.entity, f.value) for f in facts]
        records.append({"text": world.language.render(moves, rng)})
    return records
