"""The model-organism world: knowledge base, phrasebook, scenario builders, rendering and parsing."""

from __future__ import annotations

from functools import lru_cache

from traitrl.world.episodes import EpisodeBuilder
from traitrl.world.knowledge import QUANTITIES, Fact, KnowledgeBase
from traitrl.world.language import Language, Move, Parsed


class World:
    """One world: everything that is true in it, and the language its assistants speak."""

    def __init__(self, seed: int = 0, entities_per_domain: int = 10, unknowable_fraction: float = 0.3):
        self.seed = seed
        self.kb = KnowledgeBase(seed, entities_per_domain, unknowable_fraction)
        self.language = Language(self.kb)
        self.episodes = EpisodeBuilder(self.kb, self.language)

    def parse(self, text: str) -> Parsed:
        return self.language.parse(text)


@lru_cache(maxsize=8)
def get_world(seed: int = 0, entities_per_domain: int = 10, unknowable_fraction: float = 0.3) -> World:
    """Worlds are deterministic in their arguments, so one instance per setting is shared."""
    return World(seed, entities_per_domain, unknowable_fraction)


__all__ = ["QUANTITIES", "Fact", "KnowledgeBase", "Language", "Move", "Parsed", "World", "get_world"]
