"""The persistence endpoints table and the null-runs section: each claim beside the run of its
knob at the null, and whether the pipeline recovered the organism's ground truth.

The reading rules are fixed in docs/organism.md §3-4 before any null run was read:
- generalisation: a held-out BH count (improved + regressed) at most `ceil(0.05 N)` is the
  false-positive rate. The null is recovered when the ρ = 0 run stays within it; the effect is
  recovered when the default run's BH improvements exceed it.
- selective persistence: the null is recovered when the τ = 0 run's matched-start drop
  difference and selectivity (harmful-share) difference CIs cover 0; the effect is recovered when
  the default run's matched-start drop difference CI lies below 0 (the trait model drops less).
  The matched start is a pair of RL checkpoints, one per arm; a match at trait step 0 (results
  written before the pair rule) is the pre-RL organism and measures nothing about trait RL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from traitrl.evals.scoreboard import Counts, Scoreboard
from traitrl.report.endpoints import (
    SEED_READS,
    Endpoint,
    MatchedStart,
    PersistenceEndpoints,
    known_differences,
)
from traitrl.report.html import ci, esc, num, section, table
from traitrl.report.schema import RunResults

PERSONA_SETS = ("known", "unseen")
PERSISTENCE_NULLS = (("tau0", "τ = 0"), ("kappa0", "κ = 0"))  # read by the null rule of selective persistence
ENDPOINT_ROWS = (
    ("score_under_attack", "1. score under harmful prompts"),
    ("logit_drop", "2. logit-scale drop"),
    ("raw_drop", "raw drop (none − harmful)"),
    ("harmful_share", "4. harmful drop as a share of the aligned mass"),
    ("careful_share", "4. careful rise as a share of the movable mass"),
)


def _end(e: Endpoint | None, digits: int = 3) -> str:
    if e is None or e.difference is None:
        return "—"
    return f'{num(e.difference, digits, sign=True)} <span class="dim">{ci(e.ci, digits, sign=True)}</span>'


def _pair(e: Endpoint | None, digits: int = 3) -> str:
    if e is None:
        return "—"
    return f"{num(e.reference, digits)} → {num(e.model, digits)}"


def _match(m: MatchedStart) -> str:
    """The matched pair: trait@STEP vs baseline@STEP (older results matched the final baseline)."""
    return f"trait@{m.step} vs " + ("final baseline" if m.baseline_step is None else f"baseline@{m.baseline_step}")


def endpoints_table(e: PersistenceEndpoints) -> str:
    """Every endpoint of docs/organism.md §4, known and unseen personas: baseline → trait, and the
    difference trait − baseline with its 95 % CI (items resampled; first seed's arms)."""
    rows = []
    for key, title in ENDPOINT_ROWS:
        ends = getattr(e, key)
        rows.append([esc(title), *(f"{_pair(ends.get(p))}<br>{_end(ends.get(p))}" for p in PERSONA_SETS)])
    m = e.matched_start
    if m is not None and m.step is not None:
        rows.append([f"3. matched start: {_match(m)}, raw drop "
                     f'<span class="dim">(no-prompt curve score {num(m.trait_curve_score)} vs '
                     f"{num(m.baseline_curve_score)})</span>",
                     *(f"{_pair(m.drop.get(p))}<br>{_end(m.drop.get(p))}" for p in PERSONA_SETS)])
    else:
        rows.append(["3. matched start", *(["no RL checkpoint of both arms has a no-prompt curve score"] * 2)])
    head = ["endpoint", "known personas: baseline → trait<br>Δ [95% CI]", "unseen personas: baseline → trait<br>Δ [95% CI]"]
    return table(head, rows, numeric=(1, 2))


def seed_endpoints_table(by_seed: list[PersistenceEndpoints]) -> str:
    """The endpoints' differences (trait − baseline, known personas) of each persisted seed, and
    their mean with a t-interval over seeds: the interval that includes training variance."""
    from traitrl.evals.stats import t_interval

    rows = []
    for title, read in SEED_READS:
        values = known_differences(by_seed, read)
        known = [v for v in values if v is not None]
        mean = (f"{num(sum(known) / len(known), 3, sign=True)} "
                f'<span class="dim">{ci(t_interval(known), 3, sign=True)}</span>') if known and len(known) == len(values) else "—"
        rows.append([esc(title), *(num(v, 3, sign=True) for v in values), mean])
    head = ["known personas, trait − baseline", *(esc(e.model) for e in by_seed), "mean [t-interval over seeds]"]
    return table(head, rows, numeric=range(1, len(by_seed) + 2))


def _bound(n: int) -> int:
    return math.ceil(0.05 * n)


def _held_out(sb: Scoreboard) -> Counts:
    return sb.groups.get(sb.headline_group, sb) if sb.groups else sb


def _mean_delta(sb: Scoreboard, group: str) -> float | None:
    ds = [r.delta for r in sb.evals if (r.rl_relation or "all") == group and r.delta is not None]
    return sum(ds) / len(ds) if ds else None


def _covers0(e: Endpoint | None) -> bool | None:
    return None if e is None or e.ci is None else e.ci[0] <= 0 <= e.ci[1]


def _below0(e: Endpoint | None) -> bool | None:
    return None if e is None or e.ci is None else e.ci[1] < 0


def _verdict(ok: bool | None) -> str:
    return {True: '<span class="pill improved">as predicted</span>',
            False: '<span class="pill regressed">not as predicted</span>',
            None: '<span class="dim">not measured</span>'}[ok]


def _generalisation_rows(runs: list[tuple[str, RunResults, bool]]) -> list[list[str]]:
    rows = []
    for title, res, is_null in runs:
        sb = res.scoreboard.trait_vs_baseline
        if sb is None:
            rows.append([esc(title), *["—"] * 5])
            continue
        c, bound = _held_out(sb), _bound(_held_out(sb).n)
        ok = (c.bh.improved + c.bh.regressed <= bound) if is_null else (c.bh.improved > bound)
        shared = sb.groups.get("shared")
        rows.append([esc(title), f"<b>{c.improved}</b> of {c.n} (BH {c.bh.improved} ↑ / {c.bh.regressed} ↓; "
                                  f"bound {bound})",
                     num(_mean_delta(sb, sb.headline_group), 3, sign=True),
                     f"{shared.improved} of {shared.n}" if shared else "—",
                     f"{sb.n_seeds_baseline} vs {sb.n_seeds_treatment}", _verdict(ok)])
    return rows


def _persistence_rows(runs: list[tuple[str, RunResults, bool]]) -> list[list[str]]:
    rows = []
    for title, res, is_null in runs:
        e = res.persistence.endpoints
        if e is None:
            rows.append([esc(title), *["—"] * 5])
            continue
        drops = e.matched_start.drop if e.matched_start else {}
        if is_null:
            checks = [_covers0(drops.get(p)) for p in PERSONA_SETS] + [_covers0(e.harmful_share.get(p)) for p in PERSONA_SETS]
        else:
            checks = [_below0(drops.get(p)) for p in PERSONA_SETS]
        step = e.matched_start.step if e.matched_start else None
        # trait@0 is the pre-RL organism: a match there compares the base with the baseline, not trait RL
        ok = None if None in checks or step == 0 else all(checks)
        match = f' <span class="dim">({_match(e.matched_start)})</span>' if step is not None else ""
        rows.append([esc(title) + match,
                     *(_end(drops.get(p)) for p in PERSONA_SETS), *(_end(e.harmful_share.get(p)) for p in PERSONA_SETS),
                     _verdict(ok)])
    return rows


def nulls_section(res: RunResults, nulls: Mapping[str, RunResults]) -> str:
    """The default run's two claims, each beside its null run (RUN/nulls/NAME/results.json)."""
    intro = ("The organism's ground truth is known: generalisation exists because ρ = 1 couples the cells "
             "of a persona, selective persistence because τ = 1 makes the firmness a character shows toward "
             "operator notes (which RL trains on) the firmness it shows toward role prompts (the attack). Each claim is "
             "shown beside the same study with its knob at the null, where the story predicts no effect "
             "(docs/organism.md §3–4; reading rules fixed before the runs). <i>As predicted</i> means the "
             "pipeline recovered the ground truth for that run.")
    title = "Null runs"
    if not nulls:
        return section("nulls", title, '<p class="missing">No null run in this folder: run '
                       "<code>traitrl nulls --run RUN</code> (or <code>make demo-nulls</code>) and rebuild "
                       "the report.</p>", intro)
    body = ""
    if "rho0" in nulls:
        body += ("<h3>Generalisation: the held-out evals (RL never answered them), trait vs baseline</h3>"
                 + table(["run", "held-out improved (BH ↑ / ↓; false-positive bound)", "mean Δ held-out",
                          "shared with RL improved", "seeds", "against the prediction"],
                         _generalisation_rows([("default run", res, False), ("null (ρ = 0)", nulls["rho0"], True)]),
                         numeric=(2,))
                 + '<p class="dim">Prediction: at the default ρ more BH-significant held-out improvements than the '
                   "false-positive bound; at ρ = 0 no more BH-significant changes than the bound.</p>")
    persistence_nulls = [(f"null ({label})", nulls[name]) for name, label in PERSISTENCE_NULLS if name in nulls]
    if persistence_nulls:
        body += ("<h3>Selective persistence: trait − baseline, first seed's arms</h3>"
                 + table(["run", "matched-start drop Δ, known", "matched-start drop Δ, unseen",
                          "harmful-share Δ, known", "harmful-share Δ, unseen", "against the prediction"],
                         _persistence_rows([("default run", res, False), *((t, r, True) for t, r in persistence_nulls)]),
                         numeric=(1, 2, 3, 4))
                 + '<p class="dim">Prediction (docs/organism.md §4a, third story, fixed before its runs): at the '
                   "default τ = 1 the matched-start drop difference is below 0 for both persona sets (the trait "
                   "model drops less from an equal start); at τ = 0 it and the harmful-share difference cover 0. "
                   "κ = 0, where run, is read by the same null rule: the story implies nearly equal matched-start "
                   "drops at every κ.</p>")
    return section("nulls", title, body, intro)
