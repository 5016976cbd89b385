"""The arms of the study: named data mixtures, and nothing else.

An arm changes only the fields of `TrainConfig` that decide *which rows* enter the RL mix
(`trait_fraction` and the domain filters). Steps, batch, generations, lengths, learning rate and
seeds come from the shared config, so every arm is compute-matched by construction; `tests/
test_train.py` checks that the GRPO arguments of all arms are identical.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from traitrl.config import TrainConfig

# The only fields an arm may set. `include_traits` is left to the user, so a leave-one-trait-out
# sweep applies to every arm alike.
DATA_FIELDS: tuple[str, ...] = ("trait_fraction", "include_domains", "exclude_domains", "include_traits")

ARMS: dict[str, dict[str, Any]] = {
    # the compute-matched control: the standard RL mix alone
    "baseline": {"trait_fraction": 0.0, "include_domains": [], "exclude_domains": []},
    # the small dose of trait RL, all seven training domains
    "trait": {"include_domains": [], "exclude_domains": []},
    # domain transfer: does health-only trait data improve non-health evaluations?
    "health_only": {"include_domains": ["health"], "exclude_domains": []},
    # ... and does trait data without health and science improve health evaluations?
    "no_health_science": {"include_domains": [], "exclude_domains": ["health", "science"]},
    # the data fields exactly as configured (sweeps over filters and fractions)
    "custom": {},
}

PAPER_ARMS: tuple[str, ...] = ("baseline", "trait", "health_only", "no_health_science")


def arm_config(train: TrainConfig, arm: str | None = None) -> TrainConfig:
    """`train` with the data fields of `arm` (default: `train.arm`) applied; `arm` is recorded."""
    name = arm or train.arm
    if name not in ARMS:
        from traitrl.errors import UserError

        raise UserError(f"--arm {name!r}: unknown arm; allowed: {', '.join(ARMS)}")
    preset = ARMS[name]
    assert set(preset) <= set(DATA_FIELDS), "an arm may change only the data mixture"
    return type(train).model_validate(train.model_dump() | preset | {"arm": name})

CONTROL_ARM = "baseline"
# The comparisons of the paper: (scoreboard key, treatment arm), each against the control.
COMPARISONS: tuple[tuple[str, str], ...] = tuple((f"{a}_vs_{CONTROL_ARM}", a) for a in PAPER_ARMS if a != CONTROL_ARM)
