"""The organism's held-out evaluation suite: 53 evaluations across eleven families.

Each evaluation is one (family, variant) of `traitrl.world.evalitems` in one domain: mostly the
held-out domains, plus health (a training domain) in every family, so the domain-transfer
experiment can compare health and non-health evaluations. Items are drawn from the reserved
evaluation share of the item space and seeded per evaluation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from traitrl.scenarios.record import Scenario
from traitrl.world import World
from traitrl.world.evalitems import VARIANTS, EvalItemBuilder, prompt_core
from traitrl.world.prompts import GROUPS


@dataclass(frozen=True)
class EvalSpec:
    id: str
    family: str
    variant: str
    domain: str
    metric: str = "aligned_score"
    higher_is_better: bool = True
    # "held_out": RL never answered it and no RL reward pays for its moves (the headline count);
    # "shared": a shared-behaviour eval kept as an in-distribution check, reported apart.
    rl_relation: Literal["held_out", "shared"] = "held_out"

    @property
    def format(self) -> str:
        return VARIANTS[(self.family, self.variant)]

    @property
    def domains(self) -> list[str]:
        return [self.domain]

    def items(self, world: World, n: int, seed: int = 0) -> list[Scenario]:
        """`n` reserved items; fairness items come in pairs that differ only in the person's group.

        Item i depends only on the seed and the items before it (so `items(n)` starts with
        `items(m)` for m < n). An item whose core repeats an earlier one is redrawn a bounded
        number of times, then one whose whole prompt is new is accepted."""
        builder = EvalItemBuilder(world.kb, world.language)
        out: list[Scenario] = []
        cores: set[str] = set()
        prompts: set[str] = set()
        if self.family == "fairness":
            for pair in range((n + 1) // 2):
                rng = random.Random(f"{self.id}:{seed}:{pair}")
                members = _distinct(lambda r: _reserved_pair(builder, self, r, self.id, None), rng, cores, prompts)
                for member, s in enumerate(members):
                    if 2 * pair + member < n:
                        out.append(s.model_copy(update={"id": f"{self.id}:{2 * pair + member:04d}"}))
            return out
        for i in range(n):
            rng = random.Random(f"{self.id}:{seed}:{i}")
            item_id = f"{self.id}:{i:04d}"
            def draw(r: random.Random, item_id: str = item_id) -> tuple[Scenario]:
                return (builder.reserved_item(self.family, self.variant, self.domain, r, item_id, want=True),)

            out.append(_distinct(draw, rng, cores, prompts)[0])
        return out


def _distinct(draw, rng: random.Random, cores: set[str], prompts: set[str], core_tries: int = 40,
              prompt_tries: int = 80) -> tuple[Scenario, ...]:
    """Draw until every drawn item's core is new (or, after `core_tries`, its whole prompt); record them."""
    result: tuple[Scenario, ...] = ()
    for attempt in range(core_tries + prompt_tries):
        result = tuple(draw(rng))
        if all(prompt_core(s.messages) not in cores for s in result):
            break
        if attempt >= core_tries and all(str(s.prompt()) not in prompts for s in result):
            break
    for s in result:
        cores.add(prompt_core(s.messages))
        prompts.add(str(s.prompt()))
    return result


def _reserved_pair(builder: EvalItemBuilder, spec: EvalSpec, rng: random.Random, item_id: str, member: int | None):
    """Both members of a fairness pair are drawn from the same random state, so they differ only in
    the group; the pair (groups included) is redrawn until both are in the reserved share. `member`
    None returns both."""
    from traitrl.world.evalitems import is_reserved

    for _ in range(1000):
        groups = rng.sample(GROUPS, 2)
        state = rng.getstate()
        items = []
        for g in groups:
            rng.setstate(state)
            items.append(builder.item(spec.family, spec.variant, spec.domain, rng, item_id, group=g))
        if all(is_reserved(s) for s in items):
            return tuple(items) if member is None else items[member]
    raise RuntimeError(f"no reserved fairness pair for {spec.id}")


_PLAN: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("sycophancy", "opinion", ("finance", "travel", "health")),
    ("sycophancy", "pushback", ("software", "home", "health")),
    ("sycophancy", "plan_feedback", ("sports", "health")),
    ("sycophancy", "mc", ("parenting",)),
    ("deception", "hide_limit", ("finance", "home", "health")),
    ("deception", "hide_error", ("software", "health")),
    ("deception", "yes_no", ("travel",)),
    ("honesty_under_pressure", "mask", ("finance", "sports", "parenting", "health")),
    ("calibration", "unknowable", ("travel", "software", "home", "health")),
    ("calibration", "mc", ("finance",)),
    ("reward_hacking", "checker", ("software", "health")),
    ("reward_hacking", "false_success", ("home", "health")),
    ("reward_hacking", "yes_no", ("sports",)),
    ("harmful_advice", "bypass", ("home", "parenting", "travel", "sports", "health")),
    ("welfare", "distress", ("parenting", "finance", "sports", "health")),
    ("spec_compliance", "restricted", ("software", "finance", "travel", "health")),
    ("fairness", "paired", ("finance", "travel", "software", "health")),
    ("corrigibility", "correction", ("software", "health")),
    ("corrigibility", "shutdown", ("home",)),
    ("corrigibility", "yes_no", ("parenting",)),
    ("freeform", "wish", ("travel", "health")),
    ("freeform", "yes_no", ("home",)),
)

EVALS: dict[str, EvalSpec] = {
    f"{family}.{variant}.{domain}": EvalSpec(f"{family}.{variant}.{domain}", family, variant, domain)
    for family, variant, domains in _PLAN
    for domain in domains
}


def select(ids: list[str] | None = None, families: list[str] | None = None) -> list[EvalSpec]:
    specs = list(EVALS.values())
    if ids:
        unknown = [i for i in ids if i not in EVALS]
        if unknown:
            from traitrl.errors import UserError

            raise UserError(f"unknown eval ids {unknown}; see `traitrl eval --list`")
        specs = [EVALS[i] for i in ids]
    if families:
        specs = [s for s in specs if s.family in families]
    return specs
