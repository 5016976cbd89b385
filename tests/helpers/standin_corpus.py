"""Small stand-in pretraining corpora for tests and benches, built from the scenario generator.

- `standin_corpus`, for `traitrl.models`: the record shapes of the real corpus sampler
  (`{"messages": [...]}` conversations and `{"text": ...}` documents), so model tests do not
  depend on the sampler's details.
- `toy_corpus`, for the RL stage: every training scenario twice, answered once with its aligned
  and once with its misaligned moves, one exchange per record. A tiny model pretrained on it for
  a few seconds answers in world sentences (so the grader scores it) and picks either persona
  about half the time (so GRPO groups have reward variance and RL has something to move).

Both are deterministic for a config.
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


def _scenarios(config: Config, per_cell: int, per_kind: int) -> list:
    return trait_scenarios(config, "train", per_cell) + capability_tasks(config, "train", per_kind)


def _reply(world, scenario, side: str, rng: random.Random | None = None) -> str:
    """The world's rendering of the scenario's first `side` ("aligned" / "misaligned") move sequence."""
    return world.language.render([Move.from_dict(d) for d in scenario.world[side][0]], rng)


def toy_corpus(config: Config, per_cell: int = 1, per_kind: int = 20, seed: int = 0) -> list[dict]:
    """Records `{"messages": [...]}` of the train split's first scenarios, each with both replies."""
    world = world_from_config(config)
    rng = random.Random(seed)
    # one move sequence and the first paraphrase: few phrasings, so a tiny model learns them fast
    records = [{"messages": [*s.prompt(), {"role": "assistant", "content": _reply(world, s, side)}]}
               for s in _scenarios(config, per_cell, per_kind) for side in ("aligned", "misaligned")]
    rng.shuffle(records)
    return records


def standin_corpus(config: Config, per_cell: int = 2, per_kind: int = 10, n_documents: int = 20,
                   seed: int = 0) -> list[dict]:
    """Conversations (one to three exchanges, some with a system prompt) answered with the
    world's aligned reply, plus knowledge documents stating known facts."""
    world = world_from_config(config)
    rng = random.Random(seed)
    exchanges = []
    for s in _scenarios(config, per_cell, per_kind):
        reply = _reply(world, s, "aligned", rng)
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
