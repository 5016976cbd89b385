"""The report's words: the headline, the plain-language findings, the domain-transfer rows.

Kept apart from the HTML so the sentences are plain strings a test can check against numbers
computed from `results.json`, and so the same text could go to a terminal or a README.
"""

from __future__ import annotations

from dataclasses import dataclass

from traitrl.evals.scoreboard import Counts, Scoreboard
from traitrl.report.plots import label
from traitrl.report.schema import COMPARISONS, ArmStats, RunResults, ValueCI

# What each arm's trait data covers when results.json does not list the domains.
_DEFAULT_TRAIT_DATA = {"trait": "all domains", "health_only": "health only",
                       "no_health_science": "all but health and science"}  # fmt: skip


def headline(sb: Scoreboard) -> str:
    """The paper's headline sentence for the trait arm vs the compute-matched baseline."""
    return (
        f"Trait RL improved {sb.improved} of {sb.n} held-out evaluations versus the "
        f"compute-matched baseline (Holm: {sb.holm.improved} of {sb.n}), "
        f"regressed {sb.regressed}."
    )


def _of(c: Counts) -> str:
    return f"{c.improved} of {c.n}"


def _v(x: ValueCI | None) -> float | None:
    return None if x is None else x.value


@dataclass(frozen=True)
class TransferRow:
    """One arm's scoreboard split into health and non-health evals; `held_out` names the split
    whose domains the arm's trait data did not contain (the transfer the paper tests)."""

    key: str
    arm: str
    trait_data: str
    health: Counts
    non_health: Counts
    overall: Counts
    mean_delta_health: float | None
    mean_delta_non_health: float | None
    held_out: str | None


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def trait_data(arm: str, stats: ArmStats | None) -> str:
    if stats is not None and stats.trait_domains is not None:
        return ", ".join(stats.trait_domains) if stats.trait_domains else "none"
    return _DEFAULT_TRAIT_DATA.get(arm, "—")


def transfer_rows(res: RunResults) -> list[TransferRow]:
    rows = []
    for key, arm in COMPARISONS:
        sb = getattr(res.scoreboard, key)
        if sb is None:
            continue
        held = {"health_only": "non_health", "no_health_science": "health"}.get(arm)
        rows.append(TransferRow(
            key=key, arm=arm, trait_data=trait_data(arm, res.arms.get(arm)),
            health=sb.health, non_health=sb.non_health, overall=sb,
            mean_delta_health=_mean([r.delta for r in sb.evals if r.health]),
            mean_delta_non_health=_mean([r.delta for r in sb.evals if not r.health]),
            held_out=held,
        ))  # fmt: skip
    return rows


def _transfer_sentences(res: RunResults) -> list[str]:
    sc = res.scoreboard
    out = []
    if sc.health_only_vs_baseline is not None:
        nh = sc.health_only_vs_baseline.non_health
        out.append(f"trait data from health only still improved {_of(nh)} non-health evaluations "
                   f"(regressed {nh.regressed}).")  # fmt: skip
    if sc.no_health_science_vs_baseline is not None:
        h = sc.no_health_science_vs_baseline.health
        out.append(f"trait data without health or science still improved {_of(h)} health "
                   f"evaluations (regressed {h.regressed}).")  # fmt: skip
    return out


def _curve_sentence(res: RunResults) -> str | None:
    def ends(arm: str) -> tuple[float, float, float, float] | None:
        c = res.training_curves.get(arm)
        if c is None:
            return None
        pairs = [(i, o) for i, o in zip(c.in_distribution_trait_score, c.out_of_distribution_score,
                                        strict=True) if i is not None and o is not None]  # fmt: skip
        return (*pairs[0], *pairs[-1]) if len(pairs) >= 2 else None

    t = ends("trait")
    if t is None:
        return None
    s = (f"over training, the trait arm's in-distribution trait score went from {t[0]:.2f} to "
         f"{t[2]:.2f} and its out-of-distribution aggregate from {t[1]:.2f} to {t[3]:.2f}")  # fmt: skip
    b = ends("baseline")
    if b is not None:
        s += f" (baseline: {b[0]:.2f} → {b[2]:.2f} and {b[1]:.2f} → {b[3]:.2f})"
    return s + "."


def _prompting_sentences(res: RunResults) -> list[str]:
    """'Known personas: harmful steering moved baseline -0.27, trait RL -0.08; ...'."""
    p = res.persistence.prompting or {}
    out = []
    for prefix, which in (("", "Known"), ("unseen_", "Unseen")):
        moves: dict[str, list[str]] = {"harmful": [], "helpful": []}
        for m, s in p.items():
            none = _v(s.none)
            for cond, parts in moves.items():
                v = _v(getattr(s, prefix + cond))
                if none is not None and v is not None:
                    parts.append(f"{label(m)} {v - none:+.2f}")
        clauses = [f"{cond} steering moved {', '.join(parts)}" for cond, parts in moves.items() if parts]
        if clauses:
            out.append(f"{which.lower()} personas: " + "; ".join(clauses) + ".")
    return out


def _finetuning_sentence(res: RunResults) -> str | None:
    ft = res.persistence.finetuning
    if ft is None or len(ft.doses) < 2 or not ft.models:
        return None
    parts = []
    for m, c in ft.models.items():
        drops = []
        for name, series in (("health", c.health), ("non-health", c.non_health)):
            first, last = _v(series[0]), _v(series[-1])
            if first is not None and last is not None:
                drops.append(f"{name} {last - first:+.2f}")
        if drops:
            parts.append(f"{label(m)} {', '.join(drops)}")
    if not parts:
        return None
    dose = f"{ft.doses[-1]:g} {ft.dose_unit}"
    return f"after the largest dose ({dose}) scores changed by: " + "; ".join(parts) + "."


def _compute_sentence(res: RunResults) -> str | None:
    toks = {a: s.generated_tokens for a, s in res.arms.items() if s.generated_tokens}
    steps = {s.optimizer_steps for s in res.arms.values() if s.optimizer_steps is not None}
    if len(toks) < 2:
        return None
    spread = (max(toks.values()) - min(toks.values())) / max(toks.values())
    step_text = f"{steps.pop()} optimizer steps each" if len(steps) == 1 else "different step counts"
    return (f"the {len(res.arms)} arms ran {step_text} and their generated "
            f"tokens differ by at most {100 * spread:.2f} %.")  # fmt: skip


def findings(res: RunResults) -> list[tuple[str, str]]:
    """(topic, sentence) in plain language under the headline, one per result the run has."""
    out: list[tuple[str, str]] = []
    sb = res.scoreboard.trait_vs_baseline
    if sb is not None:
        out.append(("Health split", f"health evaluations improved {_of(sb.health)} (regressed "
                    f"{sb.health.regressed}); non-health improved {_of(sb.non_health)} "
                    f"(regressed {sb.non_health.regressed})."))  # fmt: skip
        if sb.uninformative:
            out.append(("Not counted", f"{len(sb.uninformative)} more evaluation(s) showed no "
                        "signal for these models (careful and harmful personas scored alike)."))  # fmt: skip
    out += [("Domain transfer", s) for s in _transfer_sentences(res)]
    out += [("Generalization", s) for s in (_curve_sentence(res),) if s]
    out += [("Adversarial prompting", s) for s in _prompting_sentences(res)]
    out += [("Harmful fine-tuning", s) for s in (_finetuning_sentence(res),) if s]
    out += [("Compute", s) for s in (_compute_sentence(res),) if s]
    return out
