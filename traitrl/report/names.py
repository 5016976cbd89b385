"""How the report names and colours a model: arm, seed, and the words people use for them.

`results.json` keys arms (and their training curves) by any string: `trait` in a one-seed run,
something like `trait@s1` once arms are recorded per seed. The report never parses a key: the
arm and seed come from `ArmStats.arm` / `ArmStats.seed` when the run records them, and the key
itself is the arm's name otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable

from traitrl.report.schema import RunResults

_ARM_COLOURS = {"base": "#222222", "baseline": "#8a8a8a", "trait": "#1b6ca8",
                "health_only": "#e08a00", "no_health_science": "#7b4ea3"}
_EXTRA_COLOURS = ["#17becf", "#bcbd22", "#8c564b", "#e377c2"]
_WORDS = {"no_health_science": "no health/science", "health_only": "health only",
          "trait": "trait RL", "base": "base (no RL)"}


def arm_colour(name: str) -> str:
    """A stable colour per arm (all seeds of an arm share it), the same in every figure."""
    if name in _ARM_COLOURS:
        return _ARM_COLOURS[name]
    return _EXTRA_COLOURS[sum(map(ord, name)) % len(_EXTRA_COLOURS)]


def label(name: str) -> str:
    """'no_health_science' -> 'no health/science' etc.: arm names as people say them."""
    return _WORDS.get(name, name.replace("_", " "))


class Names:
    """Arm, seed and display name of every model key of one run."""

    def __init__(self, res: RunResults) -> None:
        self._res = res
        keys = [*res.arms, *res.training_curves]
        per_arm: dict[str, set[str]] = {}
        for k in keys:
            per_arm.setdefault(self.arm(k), set()).add(k)
        # a seed is worth naming where an arm has several entries, or the run had several seeds
        self._name_seed = len(res.meta.seeds) > 1 if res.meta else False
        self._multi = {a for a, ks in per_arm.items() if len(ks) > 1}

    def arm(self, key: str) -> str:
        stats = self._res.arms.get(key)
        return stats.arm if stats is not None and stats.arm is not None else key

    def seed(self, key: str) -> int | None:
        stats = self._res.arms.get(key)
        return None if stats is None else stats.seed

    def keys_of(self, arm: str, keys: Iterable[str]) -> list[str]:
        """The keys among `keys` that belong to `arm` (one per seed), in their order."""
        return [k for k in keys if self.arm(k) == arm]

    def label(self, key: str) -> str:
        """'trait RL', or 'trait RL · seed 1' where the seed tells entries apart."""
        arm, seed = self.arm(key), self.seed(key)
        text = label(arm)
        if seed is not None and (self._name_seed or arm in self._multi):
            text += f" · seed {seed}"
        elif arm != key and arm in self._multi:
            text += f" ({key})"  # several entries of one arm, no seed recorded: the key tells them apart
        return text

    def colour(self, key: str) -> str:
        return arm_colour(self.arm(key))

    def arms(self) -> list[str]:
        """Distinct arm names, in first-seen order."""
        return list(dict.fromkeys(self.arm(k) for k in self._res.arms))

    def seeds(self) -> list[int]:
        """Distinct recorded seeds of the arms, sorted; else the run's `meta.seeds`."""
        recorded = sorted({s for k in self._res.arms if (s := self.seed(k)) is not None})
        return recorded or (list(self._res.meta.seeds) if self._res.meta else [])
