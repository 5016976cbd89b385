"""The world's language: render moves to text and parse text back into moves.

Parsing turns each sentence into a *skeleton* (entities, attributes and numbers replaced by
slots) and looks the skeleton up in a table built from the phrasebook. One regex pass and one dict
lookup per sentence keeps the grader fast enough to run inside every RL step.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

from traitrl.world.knowledge import QUANTITIES, KnowledgeBase
from traitrl.world.phrasebook import MOVES

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Move:
    """One move of a response, with the entity and value its sentence names (if any)."""

    name: str
    entity: str | None = None
    value: float | None = None

    def to_dict(self) -> dict:
        d: dict = {"move": self.name}
        if self.entity is not None:
            d["entity"] = self.entity
        if self.value is not None:
            d["value"] = self.value
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Move:
        return cls(d["move"], d.get("entity"), d.get("value"))


@dataclass(frozen=True)
class Parsed:
    moves: tuple[Move, ...]
    n_sentences: int
    unrecognized: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """A response is parseable when most of its sentences are world sentences."""
        return bool(self.moves) and len(self.unrecognized) * 2 <= self.n_sentences


def format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class Language:
    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        units = sorted({q.unit.lower() for q in QUANTITIES.values()}, key=len, reverse=True)
        attrs = sorted({q.attribute.lower() for q in QUANTITIES.values()}, key=len, reverse=True)
        entities = sorted(kb.entity_names, key=len, reverse=True)
        self._slot_re = re.compile(
            r"(?P<v>\d+(?:\.\d+)?)(?: (?:" + "|".join(map(re.escape, units)) + r"))?\b"
            r"|\b(?P<a>" + "|".join(map(re.escape, attrs)) + r")\b"
            r"|\b(?P<e>" + "|".join(map(re.escape, entities)) + r")\b"
        )
        self._table: dict[str, str] = {}
        for move, phrases in MOVES.items():
            for phrase in phrases:
                skeleton = phrase.replace("{n}", "{v}").lower()
                if self._table.setdefault(skeleton, move) != move:
                    raise ValueError(f"phrase {phrase!r} is ambiguous between two moves")
        self.parse = lru_cache(maxsize=65536)(self._parse)

    # -- rendering ---------------------------------------------------------------------------
    def sentence(self, move: Move, phrase_index: int) -> str:
        phrases = MOVES[move.name]
        phrase = phrases[phrase_index % len(phrases)]
        slots = {}
        if move.entity is not None:
            fact = self.kb.facts[move.entity]
            slots = {"e": move.entity, "a": fact.attribute}
        if move.value is not None:
            slots["n"] = format_value(move.value)
            unit = self.kb.facts[move.entity].unit if move.entity else ""
            slots["v"] = f"{slots['n']} {unit}".strip()
        text = phrase.format(**slots)
        return text[0].upper() + text[1:]

    def render(self, moves: tuple[Move, ...] | list[Move], rng: random.Random | None = None) -> str:
        """Render a move sequence, drawing one paraphrase per move (the first when rng is None)."""
        return " ".join(
            self.sentence(m, rng.randrange(len(MOVES[m.name])) if rng else 0) for m in moves
        )

    def all_renderings(self, moves: tuple[Move, ...] | list[Move]) -> list[str]:
        """Every paraphrase of a move sequence, cycling paraphrases in lockstep across moves."""
        width = max(len(MOVES[m.name]) for m in moves)
        return [" ".join(self.sentence(m, i) for m in moves) for i in range(width)]

    # -- parsing -----------------------------------------------------------------------------
    def sentences(self, text: str) -> list[str]:
        return [s for s in _SENTENCE_END.split(_SPACES.sub(" ", text).strip()) if s]

    def skeleton(self, sentence: str) -> tuple[str, dict[str, str]]:
        """A sentence's template: lower-cased, entities, attributes and numbers masked as slots;
        and the first value found for each slot."""
        found: dict[str, str] = {}
        parts: list[str] = []
        pos = 0
        lowered = sentence.lower()
        for m in self._slot_re.finditer(lowered):
            kind = m.lastgroup
            found.setdefault(kind, m.group(kind))
            parts.append(lowered[pos:m.start()])
            parts.append("{" + kind + "}")
            pos = m.end()
        parts.append(lowered[pos:])
        return "".join(parts), found

    def _parse(self, text: str) -> Parsed:
        moves: list[Move] = []
        unrecognized: list[str] = []
        sentences = self.sentences(text)
        for sentence in sentences:
            skeleton, found = self.skeleton(sentence)
            move = self._table.get(skeleton)
            if move is None:
                unrecognized.append(sentence)
                continue
            value = float(found["v"]) if "v" in found else None
            moves.append(Move(move, found.get("e"), value))
        return Parsed(tuple(moves), len(sentences), tuple(unrecognized))
