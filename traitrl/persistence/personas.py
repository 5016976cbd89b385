"""English persona prompts that steer a given policy (`persistence.prompting.persona_dir`).

The organism is steered with its world's own persona prompts; a real model is steered with
English system prompts of the paper's three kinds: a bad-medical-advice persona, one that elicits
disallowed mental-health content, and a helpful, careful medical persona (the steerability
control). A persona folder holds two files, `known.yaml` (personas of the kind a model meets in
pretraining and red-teaming data) and `unseen.yaml` (a disjoint list of the same kinds, the stricter
test), each mapping every kind to a list of prompts; `configs/personas/` ships one.

Each condition of the prompting experiment is (list, kind); an item's prompt is fixed by its id,
so conditions and models pair item by item.
"""

from __future__ import annotations

import random
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from traitrl.errors import UserError, describe_validation
from traitrl.inputs import load_yaml, read_text

PERSONA_SCHEMA_VERSION = 1
KINDS: tuple[str, ...] = ("bad_medical_advice", "disallowed_mental_health", "helpful_medical_care")
LISTS: tuple[str, ...] = ("known", "unseen")

# Condition names in results.json (`persistence.prompting`) -> (list, kind). The harmful and helpful
# names match the organism's conditions, so the report's bars read the same; the mental-health kind
# adds its own two.
CONDITIONS: dict[str, tuple[str, str] | None] = {
    "none": None,
    "harmful": ("known", "bad_medical_advice"),
    "harmful_mental_health": ("known", "disallowed_mental_health"),
    "helpful": ("known", "helpful_medical_care"),
    "unseen_harmful": ("unseen", "bad_medical_advice"),
    "unseen_harmful_mental_health": ("unseen", "disallowed_mental_health"),
    "unseen_helpful": ("unseen", "helpful_medical_care"),
}
# Persona set -> (harmful condition, helpful condition): a drop and a gain per set.
PERSONA_SETS: dict[str, tuple[str, str]] = {
    "known": ("harmful", "helpful"),
    "known_mental_health": ("harmful_mental_health", "helpful"),
    "unseen": ("unseen_harmful", "unseen_helpful"),
    "unseen_mental_health": ("unseen_harmful_mental_health", "unseen_helpful"),
}


class PersonaList(BaseModel):
    """One persona file: every kind with at least one prompt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = PERSONA_SCHEMA_VERSION
    bad_medical_advice: tuple[str, ...] = Field(min_length=1)
    disallowed_mental_health: tuple[str, ...] = Field(min_length=1)
    helpful_medical_care: tuple[str, ...] = Field(min_length=1)

    def prompts(self, kind: str) -> tuple[str, ...]:
        return getattr(self, kind)


class Personas(BaseModel):
    """The known and unseen lists of a persona folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    known: PersonaList
    unseen: PersonaList

    def prompts(self, condition: str) -> tuple[str, ...]:
        """The prompts of a condition (none: no prompt)."""
        where = CONDITIONS[condition]
        return () if where is None else getattr(self, where[0]).prompts(where[1])

    def prompt_for(self, condition: str, item_id: str) -> str | None:
        """The persona prompt an item gets under a condition: fixed per item, so runs pair up."""
        prompts = self.prompts(condition)
        if not prompts:
            return None
        return random.Random(f"persona:{condition}:{item_id}").choice(list(prompts))


def load_personas(folder: str | Path) -> Personas:
    """Read `known.yaml` and `unseen.yaml` of `folder`; every problem is a UserError naming the file.
    The lists must be disjoint: an unseen prompt that is also known tests nothing stricter."""
    folder = Path(folder)
    lists = {}
    for name in LISTS:
        path = folder / f"{name}.yaml"
        if not path.is_file():
            raise UserError(f"{folder}: no {name}.yaml (persona prompts of the kinds {', '.join(KINDS)})")
        data = load_yaml(read_text(path, "persona file"), str(path))
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a mapping of {', '.join(KINDS)} to lists of prompts")
        try:
            lists[name] = PersonaList.model_validate(data)
        except ValidationError as e:
            raise UserError(f"{path}: invalid persona file:\n{describe_validation(e)}") from None
        if lists[name].schema_version != PERSONA_SCHEMA_VERSION:
            raise UserError(f"{path}: schema_version {lists[name].schema_version}; this traitrl reads "
                            f"{PERSONA_SCHEMA_VERSION}")
    shared = {p for k in KINDS for p in lists["known"].prompts(k)} & {p for k in KINDS for p in lists["unseen"].prompts(k)}
    if shared:
        raise UserError(f"{folder}: {len(shared)} prompt(s) are in both known.yaml and unseen.yaml; the unseen "
                        f"list must be disjoint (e.g. {sorted(shared)[0][:60]!r})")
    return Personas(**lists)


def with_persona(conversation: list[dict[str, str]], prompt: str | None) -> list[dict[str, str]]:
    """The conversation with a persona system prompt: put first, before any system message the
    item has of its own (kept, after a blank line)."""
    if prompt is None:
        return conversation
    if conversation and conversation[0]["role"] == "system":
        return [{"role": "system", "content": f"{prompt}\n\n{conversation[0]['content']}"}, *conversation[1:]]
    return [{"role": "system", "content": prompt}, *conversation]
