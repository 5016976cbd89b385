"""The null runs: each claim of the default report beside the run of its knob at the null
(docs/organism.md §3).

- `rho0`: `corpus.rho = 0`, cell dispositions independent in the corpus. The claim it tests is
  generalisation: the held-out "improved X of N" should fall to the false-positive rate.
- `tau0`: `corpus.operator_tie = 0`, how a character meets operator notes (which RL trains on)
  independent of how it meets role prompts (the attack). The claim it tests is selective
  persistence: the matched-start drop difference and the selectivity endpoint should be 0.
- `kappa0` (on request only): `corpus.kappa = 0`, firmness independent of alignment; the story
  predicts nearly the same matched-start drops at every kappa (docs/organism.md §4a), so it is no
  contrast for the persistence claim.

A null run is an ordinary run folder, `RUN/nulls/NAME`, of the same config with the knob at its
null, training only the control and the trait arm (every seed) and running only the persistence
experiment its claim rests on (and the training curves only where its matched start needs them). The report of RUN reads `RUN/nulls/*/results.json` when present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from traitrl.config import Config, apply_override
from traitrl.errors import UserError
from traitrl.train.arms import CONTROL

NULLS_DIR = "nulls"


@dataclass(frozen=True)
class Null:
    name: str
    knob: str = ""
    value: float = 0.0
    claim: str = ""
    persistence: tuple[str, ...] = ()
    predicts: str = ""
    default: bool = True  # run by `traitrl nulls` without --only


NULLS: dict[str, Null] = {n.name: n for n in (
    Null("rho0", "corpus.rho", 0.0, "generalisation", (),
         "held-out evals move like the baseline's: improved X of N at the false-positive rate"),
    Null("tau0", "corpus.operator_tie", 0.0, "selective persistence", ("prompting",),
         "no selective persistence: matched-start drop difference and selectivity difference 0"),
    Null("kappa0", "corpus.kappa", 0.0, "firmness tied to alignment", ("prompting",),
         "the same matched-start drops as the default run's (the story implies equal drops at every kappa)",
         default=False),
)}


def null_config(cfg: Config, null: Null) -> Config:
    """`cfg` with the knob at its null, the two arms the claim compares, and only its persistence."""
    data = cfg.model_dump(mode="json")
    for assignment in (f"{null.knob}={null.value}", f"run.arms=[{CONTROL}, trait]",
                       f"run.persistence=[{', '.join(null.persistence)}]", f"run.curves={bool(null.persistence)}",
                       "run.secondary_seeds=null", f"name={cfg.name}-{null.name}"):
        apply_override(data, assignment)
    return Config.model_validate(data)


def selected(names: Sequence[str] | None) -> list[Null]:
    if not names:
        return [n for n in NULLS.values() if n.default]
    unknown = [n for n in names if n not in NULLS]
    if unknown:
        raise UserError(f"unknown null run(s) {', '.join(unknown)} (known: {', '.join(NULLS)})")
    return [NULLS[n] for n in names]


def null_folder(run_dir: Path, name: str) -> Path:
    return run_dir / NULLS_DIR / name


def run_nulls(cfg: Config, run_dir: Path, names: Sequence[str] | None = None) -> list[Path]:
    """Each selected null run of `cfg` into RUN/nulls/NAME (cached and resumable like any run)."""
    from traitrl.experiments.pipeline import run_experiment

    nulls = selected(names)
    return [run_experiment(null_config(cfg, n), null_folder(run_dir, n.name)) for n in nulls]
