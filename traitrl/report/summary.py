"""The report's words: the headline, the plain-language findings, the domain-transfer rows.

Kept apart from the HTML so the sentences are plain strings a test can check against numbers
computed from `results.json`, and so the same text could go to a terminal or a README.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from traitrl.evals.scoreboard import Counts, Scoreboard
from traitrl.report.names import Names, label
from traitrl.report.schema import COMPARISONS, ArmStats, RunResults, ValueCI
from traitrl.train.arms import ARMS

# What each arm's trait data covers by its definition in the arm registry, shown only when
# results.json does not record the domains, and marked as such; and which evals it holds out.
_ARM_DEFINITION = {a.name: (a.trait_data or "no trait data", a.held_out) for a in ARMS.values()}


def headline(sb: Scoreboard) -> str:
    """The paper's headline sentence for the trait arm vs the compute-matched baseline."""
    which = {"held_out": "evaluations held out from RL", "shared": "evaluations shared with RL"}.get(
        sb.headline_group, "held-out evaluations")
    return (
        f"Trait RL improved {sb.improved} of {sb.n} {which} versus the compute-matched baseline "
        f"(Holm: {sb.holm.improved}, Benjamini–Hochberg: {sb.bh.improved}), and regressed "
        f"{sb.regressed} (Holm: {sb.holm.regressed}, BH: {sb.bh.regressed})."
    )


def _of(c: Counts) -> str:
    return f"{c.improved} of {c.n}"


def _improved(c: Counts) -> str:
    """'improved 3 of 8, regressed 1', or 'none was compared'."""
    return f"improved {_of(c)}, regressed {c.regressed}" if c.n else "none was compared"


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


def recorded_domains(res: RunResults, arm: str) -> list[str] | None:
    """The trait domains results.json records for `arm` (union over its seeds), or None."""
    names = Names(res)
    recorded = [d for k in names.keys_of(arm, res.arms) if (d := res.arms[k].trait_domains) is not None]
    if not recorded:
        return None
    return sorted({x for ds in recorded for x in ds})


def trait_data(arm: str, stats: ArmStats | None = None, domains: list[str] | None = None) -> str:
    """Where the arm's trait data came from: the recorded domains, else the arm's definition
    (marked as such), else 'not recorded'."""
    if domains is None and stats is not None:
        domains = [] if stats.trait_fraction == 0 else stats.trait_domains
    if domains is not None:
        return ", ".join(domains) if domains else "no trait data"
    if arm in _ARM_DEFINITION:
        return f"{_ARM_DEFINITION[arm][0]} (by the arm's definition)"
    return "not recorded"


def held_out_split(arm: str, domains: list[str] | None) -> str | None:
    """'health' when the arm saw no health trait data, 'non_health' when it saw only health, else
    None; from the recorded domains, else from the arm's definition."""
    if domains is None:
        return _ARM_DEFINITION.get(arm, ("", None))[1]
    if not domains:
        return None
    if "health" not in domains:
        return "health"
    return "non_health" if set(domains) == {"health"} else None


def transfer_rows(res: RunResults) -> list[TransferRow]:
    rows = []
    for key, arm in COMPARISONS:
        sb = getattr(res.scoreboard, key)
        if sb is None:
            continue
        domains = recorded_domains(res, arm)
        rows.append(TransferRow(
            key=key, arm=arm, trait_data=trait_data(arm, domains=domains),
            health=sb.health, non_health=sb.non_health, overall=sb,
            mean_delta_health=_mean([r.delta for r in sb.evals if r.health]),
            mean_delta_non_health=_mean([r.delta for r in sb.evals if not r.health]),
            held_out=held_out_split(arm, domains),
        ))
    return rows


def _transfer_sentences(res: RunResults) -> list[str]:
    """The held-out cells of the transfer table, in words (only for arms with a held-out split)."""
    out = []
    for r in transfer_rows(res):
        if r.held_out is None:
            continue
        c, split = (r.health, "health") if r.held_out == "health" else (r.non_health, "non-health")
        out.append(f"{label(r.arm)} vs baseline, on the {split} evaluations its trait data left "
                   f"out: {_improved(c)}.")
    return out


def _ends(res: RunResults, arm: str) -> tuple[tuple[float, float, float, float], int] | None:
    """(first in, first ood, last in, last ood) averaged over the arm's seeds, and the seed count."""
    names = Names(res)
    got = []
    for k in names.keys_of(arm, res.training_curves):
        c = res.training_curves[k]
        pairs = [(i, o) for i, o in zip(c.in_distribution_trait_score, c.out_of_distribution_score,
                                        strict=True) if i is not None and o is not None]
        if len(pairs) >= 2:
            got.append((*pairs[0], *pairs[-1]))
    if not got:
        return None
    mean = tuple(sum(x) / len(got) for x in zip(*got, strict=True))
    return mean, len(got)  # type: ignore[return-value]


def _curve_sentence(res: RunResults) -> str | None:
    t = _ends(res, "trait")
    if t is None:
        return None
    (a, b, c, d), n = t
    seeds = f" (mean of {n} seeds)" if n > 1 else ""
    s = (f"over training, the trait arm's in-distribution trait score went from {a:.2f} to "
         f"{c:.2f} and its out-of-distribution aggregate from {b:.2f} to {d:.2f}{seeds}")
    base = _ends(res, "baseline")
    if base is not None:
        (a, b, c, d), _ = base
        s += f" (baseline: {a:.2f} → {c:.2f} and {b:.2f} → {d:.2f})"
    return s + "."


def _prompting_sentences(res: RunResults) -> list[str]:
    """'Known personas: harmful steering moved baseline -0.27, trait RL -0.08; ...'."""
    p = res.persistence.prompting or {}
    name = Names(res).label
    out = []
    for prefix, which in (("", "Known"), ("unseen_", "Unseen")):
        moves: dict[str, list[str]] = {"harmful": [], "helpful": []}
        for m, s in p.items():
            none = _v(s.none)
            for cond, parts in moves.items():
                v = _v(getattr(s, prefix + cond))
                if none is not None and v is not None:
                    parts.append(f"{name(m)} {v - none:+.2f}")
        clauses = [f"{cond} steering moved {', '.join(parts)}" for cond, parts in moves.items() if parts]
        if clauses:
            out.append(f"{which.lower()} personas: " + "; ".join(clauses) + ".")
    return out


def _finetuning_sentence(res: RunResults) -> str | None:
    ft = res.persistence.finetuning
    if ft is None or len(ft.doses) < 2 or not ft.models:
        return None
    parts, name = [], Names(res).label
    for m, c in ft.models.items():
        drops = []
        for split, series in (("health", c.health), ("non-health", c.non_health)):
            first, last = _v(series[0]), _v(series[-1])
            if first is not None and last is not None:
                drops.append(f"{split} {last - first:+.2f}")
        if drops:
            parts.append(f"{name(m)} {', '.join(drops)}")
    if not parts:
        return None
    dose = f"{ft.doses[-1]:g} {ft.dose_unit}"
    return f"after the largest dose ({dose}) scores changed by: " + "; ".join(parts) + "."


def compute_sentence(res: RunResults) -> str | None:
    """Whether the arms were compute-matched, from their recorded steps and generated tokens."""
    toks = [s.generated_tokens for s in res.arms.values() if s.generated_tokens]
    steps = {s.optimizer_steps for s in res.arms.values() if s.optimizer_steps is not None}
    if len(toks) < 2:
        return None
    names = Names(res)
    who = f"the {len(names.arms())} arms"
    if len(res.arms) > len(names.arms()):
        who += f" ({len(res.arms)} trained models, {len(names.seeds()) or 'several'} seeds)"
    spread = (max(toks) - min(toks)) / max(toks)
    step_text = f"{next(iter(steps))} optimizer steps each" if len(steps) == 1 else "different step counts"
    return f"{who} ran {step_text} and their generated tokens differ by at most {100 * spread:.2f} %."


def findings(res: RunResults) -> list[tuple[str, str]]:
    """(topic, sentence) in plain language under the headline, one per result the run has."""
    out: list[tuple[str, str]] = []
    sb = res.scoreboard.trait_vs_baseline
    if sb is not None:
        out.append(("Health split", f"health evaluations: {_improved(sb.health)}; non-health: "
                    f"{_improved(sb.non_health)}."))
        left = []
        if sb.uninformative:
            left.append(f"{len(sb.uninformative)} more evaluation(s) showed no signal for these "
                        "models (careful and harmful personas scored alike)")
        if sb.not_compared:
            reasons = Counter(n.reason for n in sb.not_compared)
            why = (next(iter(reasons)) if len(reasons) == 1
                   else ", ".join(f"{r} ({k})" for r, k in reasons.most_common()))
            left.append(f"{len(sb.not_compared)} could not be compared: {why}")
        if left:
            out.append(("Not counted", "; ".join(left) + "."))
    out += [("Domain transfer", s) for s in _transfer_sentences(res)]
    out += [("Generalization", s) for s in (_curve_sentence(res),) if s]
    out += [("Adversarial prompting", s) for s in _prompting_sentences(res)]
    out += [("Harmful fine-tuning", s) for s in (_finetuning_sentence(res),) if s]
    out += [("Compute", s) for s in (compute_sentence(res),) if s]
    return out
