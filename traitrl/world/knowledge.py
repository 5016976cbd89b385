"""The world's knowledge base: per domain, named entities with one limit-like quantity each.

Every domain has a quantity that behaves like a safety limit (a maximum dose, a load limit, a
filing deadline, ...), so every trait can be tested in every domain. A share of entities is
*unknowable*: their fact is drawn but never stated anywhere in the corpus, so "I don't know" is the
correct answer about them. Health, the training domain with evaluations, also holds an equal set
of *held-out* entities that RL never sees; health evaluation items ask only about them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property

from traitrl import taxonomy


@dataclass(frozen=True)
class Quantity:
    """What a domain's facts measure. `direction` says which side of the limit is unsafe."""

    kind: str  # the noun for entities of this domain ("drug", "alloy", ...)
    attribute: str  # "maximum daily dose"
    unit: str  # "mg"
    low: int
    high: int
    step: int
    direction: str = "max"  # "max": values above are unsafe; "min": values below are unsafe


QUANTITIES: dict[str, Quantity] = {
    "health": Quantity("drug", "maximum daily dose", "mg", 100, 900, 50),
    "education": Quantity("course", "maximum class size", "students", 12, 60, 4),
    "science": Quantity("compound", "safe storage temperature", "degrees", 20, 300, 10),
    "law": Quantity("statute", "filing deadline", "days", 10, 120, 5),
    "engineering": Quantity("alloy", "load limit", "kN", 20, 500, 20),
    "economics": Quantity("bank", "lending cap", "percent", 5, 60, 5),
    "business": Quantity("contract", "notice period", "weeks", 2, 26, 2, "min"),
    "finance": Quantity("fund", "withdrawal limit", "dollars", 200, 5000, 200),
    "travel": Quantity("airline", "baggage limit", "kg", 7, 40, 1),
    "software": Quantity("server", "connection limit", "connections", 16, 512, 16),
    "home": Quantity("heater", "power limit", "watts", 400, 3000, 200),
    "sports": Quantity("league", "roster limit", "players", 10, 40, 2),
    "parenting": Quantity("car seat", "minimum age", "months", 6, 72, 6, "min"),
}

# Training domains with evaluation items; each gets a second, held-out set of entities.
HELD_OUT_DOMAINS: tuple[str, ...] = ("health",)

_ONSETS = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr", "pl", "st")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "", "n", "r", "l", "x", "s")
_SUFFIXES = ("ane", "ide", "ex", "on", "ia", "ol", "ur", "ite", "ax", "ium")


@dataclass(frozen=True)
class Fact:
    entity: str
    domain: str
    value: int
    knowable: bool

    @property
    def quantity(self) -> Quantity:
        return QUANTITIES[self.domain]

    @property
    def attribute(self) -> str:
        return self.quantity.attribute

    @property
    def unit(self) -> str:
        return self.quantity.unit

    def is_unsafe(self, value: float) -> bool:
        """Whether using `value` breaks this limit."""
        return value > self.value if self.quantity.direction == "max" else value < self.value


class KnowledgeBase:
    """All facts of one world, built deterministically from a seed."""

    def __init__(self, seed: int = 0, entities_per_domain: int = 10, unknowable_fraction: float = 0.3):
        if entities_per_domain < 4:
            raise ValueError("entities_per_domain must be at least 4")
        rng = random.Random(f"kb:{seed}")
        used: set[str] = set()
        self.facts: dict[str, Fact] = {}
        self.by_domain: dict[str, list[Fact]] = {}
        n_unknown = max(1, round(entities_per_domain * unknowable_fraction))
        for domain in taxonomy.DOMAINS:
            q = QUANTITIES[domain]
            values = list(range(q.low, q.high + 1, q.step))
            if q.direction == "min":
                values = values[2:]  # leave room below the limit for unsafe plans
            facts = []
            for i in range(entities_per_domain):
                name = _new_name(rng, used)
                fact = Fact(name, domain, rng.choice(values), knowable=i >= n_unknown)
                facts.append(fact)
                self.facts[name] = fact
            self.by_domain[domain] = facts
        # Held-out entities of the training domains that host evals (health): the same split, their
        # own random stream (so the RL entities above do not change), stated in documents but never
        # in RL data. Eval items in such a domain use only these.
        held = random.Random(f"kb-held-out:{seed}")
        self.held_out_by_domain: dict[str, list[Fact]] = {}
        for domain in HELD_OUT_DOMAINS:
            q = QUANTITIES[domain]
            values = list(range(q.low, q.high + 1, q.step))
            if q.direction == "min":
                values = values[2:]
            facts = []
            for i in range(entities_per_domain):
                name = _new_name(held, used)
                fact = Fact(name, domain, held.choice(values), knowable=i >= n_unknown)
                facts.append(fact)
                self.facts[name] = fact
            self.held_out_by_domain[domain] = facts

    def known(self, domain: str) -> list[Fact]:
        """Knowable RL entities of a domain (the ones trait scenarios and capability tasks use)."""
        return [f for f in self.by_domain[domain] if f.knowable]

    def unknown(self, domain: str) -> list[Fact]:
        return [f for f in self.by_domain[domain] if not f.knowable]

    def eval_pool(self, domain: str, knowable: bool) -> list[Fact]:
        """Entities evaluation items use: the held-out ones where a training domain has them (health),
        all of them elsewhere (RL never sees an evaluation domain)."""
        pool = self.held_out_by_domain.get(domain, self.by_domain[domain])
        return [f for f in pool if f.knowable == knowable]

    def all_known(self, domain: str) -> list[Fact]:
        """Every knowable entity of a domain, held-out ones included (what documents state)."""
        return [f for f in self.by_domain[domain] + self.held_out_by_domain.get(domain, []) if f.knowable]

    @cached_property
    def entity_names(self) -> tuple[str, ...]:
        return tuple(self.facts)

    def wrong_value(self, fact: Fact, rng: random.Random, side: str | None = None) -> int:
        """A plausible value different from the truth; `side` = 'unsafe' or 'safe' picks which
        side of the limit it falls on."""
        q = fact.quantity
        values = [v for v in range(q.low - 4 * q.step, q.high + 4 * q.step + 1, q.step) if v > 0 and v != fact.value]
        if side is not None:
            values = [v for v in values if fact.is_unsafe(v) == (side == "unsafe")]
        near = [v for v in values if abs(v - fact.value) <= 4 * q.step]
        return rng.choice(near or values)


def _new_name(rng: random.Random, used: set[str]) -> str:
    while True:
        n_syll = rng.choice((1, 2))
        stem = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(n_syll))
        name = stem + rng.choice(_SUFFIXES)
        if name not in used and 5 <= len(name) <= 11:
            used.add(name)
            return name
