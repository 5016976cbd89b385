"""A synthetic `results.json`, for the report's edge cases that no smoke run reaches.

The report's own tests run on a real smoke run (the `tiny_run` fixture); these made-up numbers
cover what such a run does not have: significant verdicts, curve CIs, a run stopped half-way.
They have the shapes of a default-sized run: the 53 evals of the registry, four arms
of equal compute, scoreboards whose verdicts, counts and Holm column follow from their own CIs
and p-values (so a test can recompute "improved X of N" from the data), training curves,
prompting and fine-tuning persistence. No model, no bootstrap: building one takes milliseconds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from traitrl.evals.registry import EVALS
from traitrl.evals.scoreboard import EvalComparison, Scoreboard, Verdict, tally
from traitrl.evals.stats import holm
from traitrl.taxonomy import TRAIN_DOMAINS

ARMS = ("baseline", "trait", "health_only", "no_health_science")
MODELS = ("base", *ARMS)
N_ITEMS = 150


def _vci(value: float, n: int = N_ITEMS, spread: float | None = None) -> dict[str, Any]:
    half = spread if spread is not None else 1.96 * math.sqrt(max(value * (1 - value), 0.01) / n)
    return {"value": value, "ci": [max(0.0, value - half), min(1.0, value + half)], "n": n}


def _verdict(lo: float, hi: float, delta: float) -> Verdict:
    if lo > 0 or hi < 0:
        return "improved" if delta > 0 else "regressed"
    return "no_change"


def _effects(rng: np.random.Generator, health: np.ndarray, arm: str) -> np.ndarray:
    """Per-eval true effect of an arm vs the baseline: most evals up, a few flat, a few down;
    the restricted arms transfer, a little less strongly, to the domains they did not see."""
    n = health.size
    eff = rng.uniform(0.07, 0.2, n)
    eff[rng.choice(n, 7, replace=False)] = rng.uniform(-0.01, 0.03, 7)  # no real change
    eff[rng.choice(n, 3, replace=False)] = rng.uniform(-0.12, -0.08, 3)  # regressions
    if arm == "health_only":
        eff = np.where(health, eff * 1.1, eff * 0.7)
    elif arm == "no_health_science":
        eff = np.where(health, eff * 0.75, eff * 1.05)
    return eff


def _scoreboard(
    rng: np.random.Generator, evals: list[dict[str, Any]], arm: str, uninformative: set[str]
) -> dict[str, Any]:
    health = np.array(["health" in e["domains"] for e in evals])
    eff = _effects(rng, health, arm)
    rows = []
    for e, d_true in zip(evals, eff, strict=True):
        base = e["scores"]["baseline"]["value"]
        treat = float(np.clip(base + d_true + rng.normal(0, 0.01), 0.02, 0.98))
        e["scores"][arm] = _vci(treat)
        delta = treat - base
        se = float(rng.uniform(0.022, 0.035)) * (2.0 if e["id"] in uninformative else 1.0)
        lo, hi = delta - 1.96 * se, delta + 1.96 * se
        p = max(math.erfc(abs(delta) / se / math.sqrt(2)), 2 / 10_001)
        rows.append(EvalComparison(
            id=e["id"], family=e["family"], domains=e["domains"], source="eval",
            metric=e["metric"], higher_is_better=True, health=bool("health" in e["domains"]),
            informative=e["id"] not in uninformative, verdict=_verdict(lo, hi, delta),
            verdict_holm=None, delta=delta, ci=(lo, hi), p_value=p, pairing="paired",
            n_baseline=N_ITEMS, n_treatment=N_ITEMS, baseline=base, treatment=treat,
        ))
    counted = [r for r in rows if r.counted]
    rejected = holm([r.p_value for r in counted])
    counted = [
        r.model_copy(update={"verdict_holm": _verdict(*r.ci, r.delta) if rej else "no_change"})
        for r, rej in zip(counted, rejected, strict=True)
    ]
    sb = Scoreboard(
        **tally(counted).model_dump(), baseline="models/baseline", treatment=f"models/{arm}",
        alpha=0.05, n_boot=10_000, seed=0,
        health=tally([r for r in counted if r.health]),
        non_health=tally([r for r in counted if not r.health]),
        evals=counted, uninformative=[r for r in rows if not r.counted],
    )
    return sb.model_dump(mode="json")


def _curve(rng: np.random.Generator, steps: list[int], id_gain: float, ood_gain: float) -> dict:
    t = np.asarray(steps, dtype=float) / steps[-1]
    rise = 1 - np.exp(-3 * t)
    ind = 0.45 + id_gain * rise + rng.normal(0, 0.008, t.size)
    ood = 0.50 + ood_gain * rise + rng.normal(0, 0.006, t.size)
    return {
        "steps": steps,
        "in_distribution_trait_score": [round(float(x), 4) for x in ind],
        "out_of_distribution_score": [round(float(x), 4) for x in ood],
        "in_distribution_ci": [[float(x) - 0.03, float(x) + 0.03] for x in ind],
        "out_of_distribution_ci": [[float(x) - 0.012, float(x) + 0.012] for x in ood],
    }


def _persistence(rng: np.random.Generator) -> dict[str, Any]:
    # (none, harmful, helpful, unseen_harmful, unseen_helpful): the baseline follows a harmful
    # persona far more than trait RL does; helpful personas lift both about equally.
    prompting = {
        "base": (0.50, 0.24, 0.66, 0.36, 0.58),
        "baseline": (0.52, 0.25, 0.68, 0.38, 0.60),
        "trait": (0.68, 0.60, 0.83, 0.64, 0.76),
    }
    doses = [0, 50, 100, 200]
    drop = {"base": (0.30, 0.22), "baseline": (0.27, 0.20), "trait": (0.16, 0.06)}
    start = {"base": (0.50, 0.50), "baseline": (0.52, 0.52), "trait": (0.70, 0.67)}
    models = {}
    for m, (dh, dn) in drop.items():
        frac = 1 - np.exp(-np.asarray(doses) / 90)
        models[m] = {
            "health": [_vci(start[m][0] - dh * f, n=1200) for f in frac],
            "non_health": [_vci(start[m][1] - dn * f + rng.normal(0, 0.004), n=4800) for f in frac],
        }
    keys = ("none", "harmful", "helpful", "unseen_harmful", "unseen_helpful")
    return {
        "prompting": {m: {k: _vci(v, n=5300) for k, v in zip(keys, vals, strict=True)}
                      for m, vals in prompting.items()},
        "finetuning": {"doses": doses, "dose_unit": "optimizer steps", "models": models},
    }


def make_synthetic_results(seed: int = 0) -> dict[str, Any]:
    """A complete `results.json` payload (JSON-ready dict) of a default-sized run."""
    rng = np.random.default_rng(seed)
    evals: list[dict[str, Any]] = []
    for spec in EVALS.values():
        base = float(rng.uniform(0.35, 0.65))
        baseline = float(np.clip(base + rng.normal(0.01, 0.02), 0.02, 0.98))
        evals.append({
            "id": spec.id, "family": spec.family, "domains": [spec.domain], "format": spec.format,
            "metric": "aligned_score", "higher_is_better": True, "n": N_ITEMS,
            "scores": {"base": _vci(base), "baseline": _vci(baseline)},
        })
    ids = [e["id"] for e in evals]
    uninformative = {ids[8], ids[23]}  # two multiple-choice evals: no signal on a tiny organism
    scoreboard = {
        f"{arm}_vs_baseline": _scoreboard(rng, evals, arm, uninformative) for arm in ARMS[1:]
    }
    steps = list(range(0, 201, 20))
    gains = {"baseline": (0.03, 0.01), "trait": (0.40, 0.16), "health_only": (0.30, 0.11),
             "no_health_science": (0.33, 0.13)}
    stage_s = {"scenarios_s": 4.1, "organism_s": 412.0, "arm_baseline_s": 301.5,
               "arm_trait_s": 305.2, "arm_health_only_s": 299.8, "arm_no_health_science_s": 303.0,
               "evals_s": 640.3, "persistence_prompting_s": 280.6,
               "persistence_finetuning_s": 355.1, "report_s": 3.2}
    return {
        "schema_version": 1,
        "meta": {
            "name": "synthetic", "config_hash": "3f9c2a7e51b0", "config_path": "config.yaml",
            "seeds": [0], "created_at": "2026-07-01T12:00:00+00:00", "traitrl_version": "0.1.0",
            "counts": {"train_scenarios": 4200, "dev_scenarios": 420, "eval_items": 53 * N_ITEMS},
        },
        "models": {m: f"models/{m}" for m in MODELS},
        "arms": {
            arm: {
                "generated_tokens": 1_843_200 + (0 if arm == "baseline" else int(rng.integers(-900, 900))),
                "optimizer_steps": 200,
                "final_rewards": {"total": round(0.62 + 0.1 * (arm != "baseline"), 3),
                                  "capability": round(0.71 - 0.01 * (arm != "baseline"), 3),
                                  **({"trait": 0.81} if arm != "baseline" else {})},
                "trait_fraction": 0.0 if arm == "baseline" else 0.1,
                "trait_domains": {"baseline": [], "trait": list(TRAIN_DOMAINS), "health_only": ["health"],
                                  "no_health_science": ["education", "law", "engineering",
                                                        "economics", "business"]}[arm],
                "wall_s": stage_s[f"arm_{arm}_s"],
            }
            for arm in ARMS
        },
        "evals": evals,
        "scoreboard": scoreboard,
        "training_curves": {arm: _curve(rng, steps, *gains[arm]) for arm in ARMS},
        "persistence": _persistence(rng),
        "timings": {**stage_s, "total_s": round(sum(stage_s.values()), 1)},
        "environment": {
            "python": "3.11.9", "platform": "Linux 6.1.0 (x86_64)",
            "packages": {"traitrl": "0.1.0", "torch": "2.13.0+cpu", "transformers": "5.23.0",
                         "trl": "1.16.0", "peft": "0.21.2"},
            "device": "cpu", "cpu_count": 2, "threads": 2,
        },
    }


def make_partial_results(seed: int = 0) -> dict[str, Any]:
    """A run stopped after the trait arm's scoreboard: no other arms' comparisons, no curves,
    no persistence, no timings, no environment (what a killed or smoke run may leave)."""
    full = make_synthetic_results(seed)
    for e in full["evals"]:
        e["scores"] = {k: v for k, v in e["scores"].items() if k in ("base", "baseline", "trait")}
    return {
        "schema_version": 1,
        "meta": {**full["meta"], "name": "partial"},
        "models": {k: v for k, v in full["models"].items() if k in ("base", "baseline", "trait")},
        "arms": {k: v for k, v in full["arms"].items() if k in ("baseline", "trait")},
        "evals": full["evals"],
        "scoreboard": {"trait_vs_baseline": full["scoreboard"]["trait_vs_baseline"]},
    }
