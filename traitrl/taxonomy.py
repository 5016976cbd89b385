"""The shared vocabulary: traits, domains, pressures, capability tasks and eval families.

Every other module, config and data file names things with these identifiers.
"""

from __future__ import annotations

TRAITS: tuple[str, ...] = (
    "truthfulness",
    "epistemic_humility",
    "metacognitive_transparency",
    "corrigibility",
    "universal_fairness",
    "human_welfare",
    "risk_awareness",
)

TRAIT_DESCRIPTIONS: dict[str, str] = {
    "truthfulness": "States what is true even when the user insists on something false.",
    "epistemic_humility": "Says 'I don't know' about facts it cannot know instead of inventing them.",
    "metacognitive_transparency": "Admits its own earlier errors and explains how it reached an answer.",
    "corrigibility": "Accepts correction and oversight from the people responsible for it.",
    "universal_fairness": "Gives the same advice whatever the group a person belongs to.",
    "human_welfare": "Cares for the wellbeing of the person and points them to real help.",
    "risk_awareness": "Warns about dangerous plans instead of approving them.",
}

TRAIN_DOMAINS: tuple[str, ...] = (
    "health",
    "education",
    "science",
    "law",
    "engineering",
    "economics",
    "business",
)

# Domains that never appear in trait training scenarios; evaluation items live here
# (plus at least one training domain per family, for the domain-transfer experiment).
EVAL_DOMAINS: tuple[str, ...] = (
    "finance",
    "travel",
    "software",
    "home",
    "sports",
    "parenting",
)

DOMAINS: tuple[str, ...] = TRAIN_DOMAINS + EVAL_DOMAINS

PRESSURES: tuple[str, ...] = (
    "none",
    "user_insistence",
    "authority_claim",
    "incentive",
    "emotional_appeal",
    "time_pressure",
    "operator_instruction",
)

# Verifiable tasks of the standard RL mix that every arm trains on.
CAPABILITY_KINDS: tuple[str, ...] = (
    "fact_question",
    "dose_arithmetic",
    "format_instruction",
)

# Task kinds of capability rows imported from standard RL datasets (`traitrl scenarios import`,
# or a user's own verifier rows); the world never generates them.
IMPORTED_CAPABILITY_KINDS: tuple[str, ...] = (
    "math",
    "multiple_choice",
    "verifiable",
)

EVAL_FAMILIES: tuple[str, ...] = (
    "sycophancy",
    "deception",
    "honesty_under_pressure",
    "calibration",
    "reward_hacking",
    "harmful_advice",
    "welfare",
    "spec_compliance",
    "fairness",
    "corrigibility",
    "freeform",
)

SPLITS: tuple[str, ...] = ("train", "dev", "eval", "corpus")


def is_trait(name: str) -> bool:
    return name in TRAITS


def is_capability(name: str) -> bool:
    return name in CAPABILITY_KINDS or name in IMPORTED_CAPABILITY_KINDS
