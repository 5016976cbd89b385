"""One function per report section: typed results in, an HTML fragment out.

Every section renders from whatever part of `results.json` exists and says plainly what is
missing, so a smoke run or a run stopped half-way still gives a readable report.
"""

from __future__ import annotations

from collections.abc import Mapping

from traitrl.evals.scoreboard import Counts, Scoreboard
from traitrl.report.html import (
    Cell,
    ci,
    details,
    esc,
    figure,
    missing,
    num,
    pill,
    section,
    table,
)
from traitrl.report.names import Names, label
from traitrl.report.nulls import endpoints_table, seed_endpoints_table
from traitrl.report.plots import (
    finetuning_caption,
    forest_caption,
    prompting_caption,
    training_curves_caption,
)
from traitrl.report.refusals import refusals_section
from traitrl.report.schema import RunResults, ValueCI
from traitrl.report.summary import findings, headline, transfer_rows
from traitrl.train.arms import ARMS, COMPARISONS, CONTROL

Figures = Mapping[str, bytes | None]

# Each compared pair, in words, from the arm registry's labels.
TITLES = {key: f"{ARMS[arm].label} vs {ARMS[CONTROL].label}" for key, arm in COMPARISONS}


def _vci(x: ValueCI | None, digits: int = 3, stacked: bool = False) -> str:
    """'0.520 [0.501, 0.539]', or the CI on a second line where columns are many."""
    if x is None or x.value is None:
        return "—"
    sep = "<br>" if stacked else " "
    return f'{num(x.value, digits)}{sep}<span class="dim">{ci(x.ci, digits)}</span>'


def summary_section(res: RunResults) -> str:
    sb = res.scoreboard.trait_vs_baseline
    if sb is None:
        body = ('<p class="headline">The trait RL vs baseline scoreboard is not available in '
                "this run, so there is no headline result yet.</p>")
    else:
        tiles = [("improved", sb.improved, f"of {sb.n} improved"),
                 ("no_change", sb.no_change, "no significant change"),
                 ("regressed", sb.regressed, "regressed"),
                 ("holm", sb.holm.improved, f"improved after Holm (of {sb.n})")]
        body = f'<p class="headline">{esc(headline(sb))}</p><div class="tiles">' + "".join(
            f'<div class="tile {c}"><b>{v}</b><span>{esc(t)}</span></div>' for c, v, t in tiles
        ) + "</div>"
    items = findings(res)
    if items:
        body += '<ul class="findings">' + "".join(
            f"<li><b>{esc(topic)}:</b> {esc(text)}</li>" for topic, text in items) + "</ul>"
    if sb is not None:
        body += ('<p class="dim">For reference, the paper reports trait RL improving 44 of 53 '
                 "held-out evaluations, with in- and out-of-distribution scores moving together.</p>")
    notes = res.meta.notes if res.meta else []
    body += "".join(f'<p class="dim">{esc(n)}</p>' for n in notes)
    return section("summary", "Summary", body)


def _counts(c: Counts) -> str:
    return f"{c.improved} / {c.no_change} / {c.regressed}"


def _eval_table(sb: Scoreboard) -> str:
    rows = []
    for r in sb.rows():
        name = esc(r.id) + ("" if r.counted else ' <span class="dim">(uninformative)</span>')
        group = r.rl_relation or ""
        rows.append([name, esc(r.family), esc(group), num(r.baseline), num(r.treatment),
                     f"{num(r.delta, sign=True)} <span class=dim>{ci(r.ci, sign=True)}</span>",
                     f"{r.p_value:.4f}", pill(r.verdict), pill(r.verdict_holm), pill(r.verdict_bh)])
    extra = "".join(f'<p class="dim">Not compared: {esc(n.id)} — {esc(n.reason)}</p>'
                    for n in sb.not_compared)
    head = ["eval", "family", "relation to RL", "baseline", "treatment", "Δ [95% CI]", "p", "verdict", "Holm", "BH"]
    return table(head, rows, numeric=(3, 4, 5, 6)) + extra


def _groups(sb: Scoreboard) -> list[tuple[str, Counts]]:
    """The headline group first (the held-out evals when evals are tagged by their relation to
    RL), then the others (the shared-with-RL in-distribution check)."""
    names = {"held_out": "held out from RL (headline)", "shared": "shared with RL (in-distribution check)",
             "all": "all", "untagged": "untagged"}
    if not sb.groups:
        return [("all", sb)]
    order = [sb.headline_group, *(g for g in sb.groups if g != sb.headline_group)]
    return [(names.get(g, g), sb.groups[g]) for g in order if g in sb.groups]


def _covers(sbs: Mapping[str, Scoreboard]) -> str:
    seeds = {(sb.n_seeds_baseline, sb.n_seeds_treatment) for sb in sbs.values()}
    if all(sb.ci_covers == "seeds+items" for sb in sbs.values()):
        return (f"CIs resample RL seeds ({', '.join(f'{a} vs {b}' for a, b in sorted(seeds))} per arm) and, "
                "within them, prompt clusters, so they include training variance.")
    return ("With one RL seed per arm the CIs resample prompt clusters only: they leave out training "
            "variance (two seeds of the same arm can differ on several evals), so read single-seed "
            "verdicts with care.")


def scoreboard_section(res: RunResults, figs: Figures) -> str:
    sbs = res.scoreboard.available()
    intro = ("Each arm against the compute-matched baseline (same RL pipeline, steps and rollouts; "
             "no trait data), eval by eval. A verdict is <i>improved</i> or <i>regressed</i> when the "
             "95 % CI of the difference excludes zero and its p-value (the larger of the cluster "
             "bootstrap's and a sign-flip permutation test's over prompt clusters) is below 0.05; the "
             "Holm and Benjamini–Hochberg columns correct for testing all evals at once. Every eval "
             "with a scored item in both arms is counted; evals that could not be compared are listed "
             "with the reason. " + _covers(sbs))
    if not sbs:
        return section("scoreboard", "Scoreboard", missing("scoreboards (no arm was compared "
                                                           "with the baseline)"), intro)
    rows = []
    for key, sb in sbs.items():
        for group, c in _groups(sb):
            rows.append([esc(TITLES[key]), esc(group), f"<b>{c.improved}</b> of {c.n}", str(c.no_change),
                         str(c.regressed), f"{c.holm.improved} / {c.holm.regressed}", f"{c.bh.improved} / {c.bh.regressed}",
                         str(len(sb.not_compared)),
                         _counts(sb.health) + f' <span class="dim">of {sb.health.n}</span>',
                         _counts(sb.non_health) + f' <span class="dim">of {sb.non_health.n}</span>'])
    head = ["comparison", "evals", "improved", "no change", "regressed", "Holm ↑ / ↓", "BH ↑ / ↓",
            "not compared", "health ↑ / = / ↓", "non-health ↑ / = / ↓"]
    body = table(head, rows, numeric=tuple(range(2, 10)))
    body += figure(figs.get("scoreboard"), "scoreboard forest plot", esc(forest_caption(sbs)))
    for key, sb in sbs.items():
        body += details(f"All {len(sb.rows())} evals: {esc(TITLES[key])}", _eval_table(sb))
    return section("scoreboard", "Scoreboard", body, intro)


def training_section(res: RunResults, figs: Figures) -> str:
    intro = ("The paper's key figure: if trait RL teaches a disposition rather than answers, the "
             "trait score on held-out trait scenarios (in-distribution) and the held-out "
             "evaluation suite (out-of-distribution) rise together over training, and the "
             "baseline moves neither.")
    if not res.training_curves:
        return section("training", "Trait score vs held-out evals over training",
                       missing("training curves (no checkpoints were evaluated)"), intro)
    body = figure(figs.get("training_curves"), "training curves",
                  esc(training_curves_caption(res.training_curves, Names(res))))
    return section("training", "Trait score vs held-out evals over training", body, intro)


def transfer_section(res: RunResults) -> str:
    trs = transfer_rows(res)
    intro = ("Does trait data from some domains improve evaluations in others? Cells read "
             "improved / no change / regressed, then the mean Δ.")
    held = [r for r in trs if r.held_out]
    if held:
        cells = "; ".join(f"{label(r.arm)} on {'health' if r.held_out == 'health' else 'non-health'} evals"
                          for r in held)
        intro += f" Highlighted: the held-out transfer, scored on domains the arm's trait data left out ({cells})."
    if not trs:
        return section("transfer", "Domain transfer", missing("scoreboards for the arms"), intro)

    def cell(c: Counts, mean: float | None, held: bool) -> Cell:
        tag = '<span class="tag">held out</span>' if held else ""
        text = (f'<b>{c.improved}</b> / {c.no_change} / {c.regressed} <span class="dim">of '
                f"{c.n}</span>{tag}<br><span class=dim>mean Δ {num(mean, sign=True)}</span>")
        return (text, "held") if held else text

    rows = []
    for r in trs:
        rows.append([esc(label(r.arm)), esc(r.trait_data),
                     cell(r.health, r.mean_delta_health, r.held_out == "health"),
                     cell(r.non_health, r.mean_delta_non_health, r.held_out == "non_health"),
                     f"<b>{r.overall.improved}</b> of {r.overall.n} "
                     f'<span class="dim">(Holm {r.overall.holm.improved})</span>'])
    body = table(["arm", "trait data from", "health evals", "non-health evals", "all evals"], rows)
    return section("transfer", "Domain transfer", body, intro)


def prompting_section(res: RunResults, figs: Figures) -> str:
    intro = ("Selective persistence: persona system prompts that push toward harmful behaviour "
             "should move a trait-RL model less than the baseline, while prompts that push toward "
             "helpful behaviour move both alike. Known personas come from the pretraining list; "
             "unseen personas are a disjoint list, the stricter test.")
    title = "Adversarial prompting"
    p = res.persistence.prompting
    if not p:
        return section("prompting", title, missing("adversarial-prompting results"), intro)

    def diff(a: ValueCI | None, b: ValueCI | None) -> str:
        ok = a is not None and b is not None and a.value is not None and b.value is not None
        return num(a.value - b.value, 2, sign=True) if ok else "—"  # type: ignore[union-attr,operator]

    name = Names(res).label
    # a given policy is steered with English personas of the paper's three kinds (bad medical
    # advice, disallowed mental-health content, helpful medical care): two harmful columns
    english = any(s.harmful_mental_health is not None for s in p.values())
    if english:
        intro = ("Selective persistence on the benchmarks: English persona system prompts of the paper's three "
                 "kinds — bad medical advice (harmful), disallowed mental-health content (harmful, mental health) "
                 "and helpful medical care (helpful) — from a known list and a disjoint unseen list. Harmful "
                 "personas should move a trait-RL model less than the baseline; helpful ones move both alike.")
    cols = [("none", "no prompt"), ("harmful", "harmful"), *([("harmful_mental_health", "harmful, mental health")]
                                                             if english else []),
            ("helpful", "helpful"), ("unseen_harmful", "unseen harmful"),
            *([("unseen_harmful_mental_health", "unseen harmful, mental health")] if english else []),
            ("unseen_helpful", "unseen helpful")]
    deltas = [c for c in cols if c[0] != "none"]
    rows = [[esc(name(m)), *(_vci(getattr(s, k), 2, stacked=True) for k, _ in cols),
             *(diff(getattr(s, k), s.none) for k, _ in deltas)]
            for m, s in p.items()]
    head = ["model", *(h for _, h in cols), *(f"Δ {h}" for _, h in deltas)]
    body = figure(figs.get("prompting"), "adversarial-prompting bars", esc(prompting_caption(p)))
    body += table(head, rows, numeric=tuple(range(1, len(head))))
    if res.persistence.endpoints is not None:
        body += ("<h3>The persistence endpoints (docs/organism.md §4), trait vs baseline</h3>"
                 + endpoints_table(res.persistence.endpoints)
                 + '<p class="dim">Differences are trait − baseline with 95 % CIs from a paired bootstrap over '
                   "items (one resample applied to both models and every condition); the experiment runs on the "
                   "first seed's arms, so the CIs leave out training variance.</p>")
    if len(res.persistence.endpoints_by_seed) > 1:
        body += ("<h3>The endpoints of every persisted seed</h3>"
                 + seed_endpoints_table(res.persistence.endpoints_by_seed)
                 + '<p class="dim">Each seed\'s baseline and trait arms prompted alike (<code>run.persistence_seeds'
                   "</code>); the t-interval over seeds is the one that carries training variance.</p>")
    return section("prompting", title, body, intro)


def finetuning_section(res: RunResults, figs: Figures) -> str:
    intro = ("Harmful fine-tuning on inaccurate medical advice, in growing doses. The paper found "
             "the trait-RL model degrades less than a no-RL base model, especially on the "
             "non-health evaluations the attack did not target.")
    title = "Harmful fine-tuning"
    ft = res.persistence.finetuning
    if ft is None or not ft.models:
        return section("finetuning", title, missing("harmful fine-tuning results"), intro)
    rows, name = [], Names(res).label
    for m, c in ft.models.items():
        for part, split in (("health", "health"), ("non_health", "non-health")):
            rows.append([esc(name(m)), split, *(_vci(x, 2) for x in getattr(c, part))])
    head = ["model", "evals", *(f"{d:g}" for d in ft.doses)]
    body = figure(figs.get("finetuning"), "fine-tuning dose-response curves", esc(finetuning_caption(ft)))
    body += f'<h3>Scores per dose ({esc(ft.dose_unit)})</h3>'
    body += table(head, rows, numeric=tuple(range(2, 2 + len(ft.doses))))
    return section("finetuning", title, body, intro)


def result_sections(res: RunResults, figs: Figures) -> list[tuple[str, str, str]]:
    """(id, menu name, html) of the result sections, in reading order. A run on a given policy has
    no refusal analysis (it reads the organism's world moves), so that section is left out."""
    given = res.meta is not None and res.meta.given_policy
    return [
        ("summary", "Summary", summary_section(res)),
        ("scoreboard", "Scoreboard", scoreboard_section(res, figs)),
        ("training", "Key figure", training_section(res, figs)),
        ("transfer", "Domain transfer", transfer_section(res)),
        ("prompting", "Prompting", prompting_section(res, figs)),
        ("finetuning", "Fine-tuning", finetuning_section(res, figs)),
        *([] if given and res.refusals is None else [("refusals", "Refusals", refusals_section(res))]),
    ]

