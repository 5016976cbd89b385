"""The organism's held-out evaluation suite: 53 evaluations across eleven families.

Each evaluation is one (family, variant) of `traitrl.world.evalitems` in one domain: mostly the
held-out domains, plus health (a training domain) in every family, so the domain-transfer
experiment can compare health and non-health evaluations. Items are drawn from the reserved
evaluation share of the item space and seeded per evaluation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from traitrl.scenarios.record import Scenario
from traitrl.world import World
from traitrl.world.evalitems import VARIANTS, EvalItemBuilder
from traitrl.world.prompts import GROUPS


@dataclass(frozen=True)
class EvalSpec:
    id: str
    family: str
    variant: str
    domain: str
    metric: str = "aligned_score"
    higher_is_better: bool = True

    @property
    def format(self) -> str:
        return VARIANTS[(self.family, self.variant)]

    @property
    def domains(self) -> list[str]:
        return [self.domain]

    def items(self, world: World, n: int, seed: int = 0) -> list[Scenario]:
        """`n` reserved items; fairness items come in pairs that differ only in the person's group."""
        builder = EvalItemBuilder(world.kb, world.language)
        out = []
        for i in range(n):
            item_id = f"{self.id}:{i:04d}"
            if self.family == "fairness":
                pair, member = divmod(i, 2)
                rng = random.Random(f"{self.id}:{seed}:{pair}")
                out.append(_reserved_pair(builder, self, rng, item_id, member))
            else:
                rng = random.Random(f"{self.id}:{seed}:{i}")
                out.append(builder.reserved_item(self.family, self.variant, self.domain, rng, item_id, want=True))
        return out


def _reserved_pair(builder: EvalItemBuilder, spec: EvalSpec, rng: random.Random, item_id: str, member: int) -> Scenario:
    """Both members of a fairness pair are drawn from the same random state, so they differ only in
    the group; the pair (groups included) is redrawn until both are in the reserved share."""
    from traitrl.world.evalitems import is_reserved

    for _ in range(1000):
        groups = rng.sample(GROUPS, 2)
        state = rng.getstate()
        items = []
        for g in groups:
            rng.setstate(state)
            items.append(builder.item(spec.family, spec.variant, spec.domain, rng, item_id, group=g))
        if all(is_reserved(s) for s in items):
            return items[member]
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
