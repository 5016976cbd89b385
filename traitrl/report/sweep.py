"""The sweep's `sweep.json` records and its self-contained report: a table of cells, the
leave-one-trait-out table, and each swept numeric key against the headline outcomes, every mean
with its CI over RL seeds."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from traitrl.report.html import esc, figure, num, page, table

ALL_EVALS = "all"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class SeedMean(_Record):
    """A mean over RL seeds with a t-interval (None with one seed: no seed variance to show)."""

    value: float | None
    ci: tuple[float, float] | None = None
    per_seed: list[float] = Field(default_factory=list)


def _persisted(description: str) -> Any:
    """A persistence column: a seed mean, unmeasured (None) where the cell did not prompt."""
    return Field(default_factory=lambda: SeedMean(value=None), description=description)


class CellSummary(_Record):
    name: str
    overrides: dict[str, Any]
    left_out: str | None = None
    seeds: int
    evals: int = Field(description="evals compared (trait vs baseline)")
    improved: int
    regressed: int
    improved_holm: int
    improved_bh: int
    regressed_bh: int
    mean_delta: SeedMean = Field(description="trait - baseline, mean over evals (positive = better), per seed")
    in_distribution_gain: SeedMean = Field(description="final dev trait score, trait - baseline, per seed")
    score_under_attack_difference: SeedMean = _persisted(
        "aligned score under known harmful personas (docs/organism.md §4, endpoint 1), trait - baseline, "
        "per persisted seed; positive = the trait model stays more aligned under attack")
    logit_drop_difference: SeedMean = _persisted(
        "logit(none) - logit(harmful) on known personas (endpoint 2), trait - baseline, per persisted seed")
    drop_difference: SeedMean = _persisted(
        "known harmful persona drop (none - harmful) of the final models, trait - baseline, per persisted "
        "seed (run.persistence_seeds); negative = the trait model resists more")
    matched_drop_difference: SeedMean = _persisted(
        "the same drop at the matched start (docs/organism.md §4, endpoint 3), per persisted seed")
    harmful_share_difference: SeedMean = _persisted(
        "(none - harmful) / none, trait - baseline, known personas, per persisted seed")
    careful_share_difference: SeedMean = _persisted(
        "(careful - none) / (1 - none), trait - baseline, known personas, per persisted seed")
    family_delta: dict[str, SeedMean] = Field(
        default_factory=dict, description="eval family -> trait - baseline, mean over the family's evals, per seed")
    reference_difference: dict[str, SeedMean] = Field(
        default_factory=dict, description="a leave-one-out cell: its mean delta minus its reference cell's (the same "
                                          "overrides with every trait), seed by seed, over all evals ('all') and per family")


class SweepSummary(_Record):
    schema_version: int = 1
    name: str
    grid: dict[str, list[Any]]
    cells: list[CellSummary]


def _fmt(m: SeedMean, digits: int = 3) -> str:
    if m.value is None:
        return "—"
    ci = f" [{num(m.ci[0], digits, True)}, {num(m.ci[1], digits, True)}]" if m.ci else ""
    return f"{num(m.value, digits, True)}{ci}"


def _rows(cells: list[CellSummary]) -> list[list[str]]:
    return [[esc(c.name), esc(", ".join(f"{k}={v}" for k, v in c.overrides.items()) or "—"), str(c.seeds),
             f"<b>{c.improved}</b> of {c.evals}", str(c.improved_holm), f"{c.improved_bh} / {c.regressed_bh}",
             str(c.regressed), _fmt(c.mean_delta), _fmt(c.in_distribution_gain),
             _fmt(c.drop_difference), _fmt(c.matched_drop_difference)] for c in cells]


HEADER = ["cell", "overrides", "seeds", "improved", "Holm", "BH gains / regr.", "regressed",
          "mean Δ [seed CI]", "in-dist. gain [seed CI]", "harmful-drop diff.", "matched-start drop diff."]


def _numeric_keys(summary: SweepSummary) -> list[str]:
    return [k for k, vs in summary.grid.items()
            if len(vs) > 1 and all(isinstance(v, int | float) and not isinstance(v, bool) for v in vs)]


def key_plot(summary: SweepSummary, key: str) -> bytes | None:
    """Mean Δ (with seed CIs) and "improved X of N" against one swept key, other keys fixed at
    each of their combinations (one line per combination)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[str, list[tuple[float, CellSummary]]] = defaultdict(list)
    for c in summary.cells:
        if c.left_out is None and key in c.overrides:
            rest = ", ".join(f"{k}={v}" for k, v in c.overrides.items() if k != key) or "all cells"
            lines[rest].append((float(c.overrides[key]), c))
    if not lines:
        return None
    persisted = any(c.matched_drop_difference.value is not None for pts in lines.values() for _, c in pts)
    fig, axes = plt.subplots(1, 3 if persisted else 2, figsize=(13 if persisted else 9, 3.4))
    a, b = axes[0], axes[1]
    for label, pts in lines.items():
        pts.sort(key=lambda p: p[0])
        xs = [x for x, _ in pts]
        _errorbar(a, xs, [c.mean_delta for _, c in pts], label)
        b.plot(xs, [c.improved for _, c in pts], marker="o", label=label)
        if persisted:
            _errorbar(axes[2], xs, [c.matched_drop_difference for _, c in pts], label)
    a.axhline(0, color="#999", lw=0.8)
    a.set(xlabel=key, ylabel="mean Δ trait − baseline", title="mean Δ over evals")
    b.set(xlabel=key, ylabel="evals improved", title="improved (CI excludes 0)")
    if persisted:
        axes[2].axhline(0, color="#999", lw=0.8)
        axes[2].set(xlabel=key, ylabel="drop Δ trait − baseline",
                    title="matched-start drop, known harmful\n(below 0: the trait model resists more)")
    if len(lines) > 1:
        a.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _errorbar(ax, xs: list[float], means: list[SeedMean], label: str) -> None:
    """Seed means against `xs` with their t-intervals as error bars (none where one seed)."""
    ys = [m.value if m.value is not None else float("nan") for m in means]
    lo = [y - m.ci[0] if m.ci else 0 for y, m in zip(ys, means, strict=True)]
    hi = [m.ci[1] - y if m.ci else 0 for y, m in zip(ys, means, strict=True)]
    ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=label)


def _persistence_table(cells: list[CellSummary]) -> str:
    rows = [[esc(c.name), _marked(c.score_under_attack_difference), _marked(c.logit_drop_difference),
             _marked(c.matched_drop_difference), _marked(c.drop_difference),
             _marked(c.harmful_share_difference), _marked(c.careful_share_difference),
             str(len(c.matched_drop_difference.per_seed))] for c in cells]
    return table(["cell", "1. score under harmful prompts", "2. logit-scale drop", "3. drop, matched start",
                  "raw drop, final models", "harmful share", "careful share", "persisted seeds"],
                 rows, numeric=range(1, 8))


def _loo_family_table(loo: list[CellSummary]) -> str:
    families = sorted({f for c in loo for f in c.reference_difference if f != ALL_EVALS})
    rows = [[esc(c.left_out or ""), *(_marked(c.reference_difference.get(f), with_ci=False) for f in (ALL_EVALS, *families))]
            for c in loo]
    return table(["left out", "all evals", *map(esc, families)], rows, numeric=range(1, len(families) + 2))


def _marked(m: SeedMean | None, with_ci: bool = True) -> str:
    """A seed mean (with its interval unless `with_ci` is off); bold where the interval excludes 0."""
    if m is None or m.value is None:
        return "—"
    text = _fmt(m) if with_ci else num(m.value, 3, True)
    return f"<b>{text}</b>" if m.ci and (m.ci[0] > 0 or m.ci[1] < 0) else text


def render_sweep(summary: SweepSummary) -> str:
    ref = [c for c in summary.cells if c.left_out is None]
    loo = [c for c in summary.cells if c.left_out is not None]
    body = ('<section id="cells"><h2>Cells</h2><p>Trait RL vs the compute-matched baseline in every cell. '
            "Seed CIs are t-intervals over RL seeds (none with one seed); the drop differences are the "
            "known harmful personas' drop (no prompt − harmful prompt), trait minus baseline, of the final "
            "models and at the matched start (docs/organism.md §4), over the persisted seeds "
            "(<code>run.persistence_seeds</code>; one, without an interval, unless the sweep asks for more).</p>"
            + table(HEADER, _rows(ref), numeric=range(2, 11)) + "</section>")
    if any(c.drop_difference.value is not None for c in ref):
        body += ('<section id="persistence"><h2>Persistence</h2><p>Trait − baseline on known harmful persona '
                 "prompts, each a mean over the persisted seeds with its t-interval; bold where it excludes 0. "
                 "Endpoints 1–3 were fixed in advance (docs/organism.md §4). Endpoints 1 and 2, the raw drop and "
                 "the shares compare final models that start apart, so they can move with alignment alone: read "
                 "them beside the null cell (docs/organism.md §4a, ninth reading). The reading rule (§4a) reads endpoint 3: "
                 "selective persistence through the swept knob is recovered when its cell's matched-start interval "
                 "lies below 0 and the null cell's covers 0.</p>"
                 + _persistence_table(ref) + "</section>")
    for key in _numeric_keys(summary):
        caption = ("Error bars: 95 % t-intervals over RL seeds." if any(c.mean_delta.ci for c in ref)
                   else "One RL seed per cell: no seed intervals.")
        body += (f'<section id="key-{esc(key)}"><h2>{esc(key)}</h2>'
                 + figure(key_plot(summary, key), f"outcomes against {key}", caption) + "</section>")
    if loo:
        body += ('<section id="loo"><h2>Leave one trait out</h2><p>Each cell trains trait RL on every trait '
                 "but one (<code>train.include_traits</code>); compare with the cells above.</p>"
                 + table(["left out", *HEADER[1:]], [[esc(c.left_out or ""), *r[1:]] for c, r in zip(loo, _rows(loo), strict=True)],
                         numeric=range(2, 11))
                 + "<p>Which traits carry the effect: each cell's mean Δ (trait − baseline), over all held-out "
                 "evals and per eval family, minus its reference cell's, seed by seed (the cells share RL seeds "
                 "and baseline arms); bold where the t-interval over seeds excludes 0. Negative: leaving the "
                 "trait out lost transfer there.</p>" + _loo_family_table(loo) + "</section>")
    header = f'<div class="kicker">traitrl · sweep report</div><h1>{esc(summary.name)}</h1>'
    toc = [("cells", "Cells"), *([("persistence", "Persistence")] if any(c.drop_difference.value is not None for c in ref) else []),
           *((f"key-{k}", k) for k in _numeric_keys(summary)), *([("loo", "Leave one out")] if loo else [])]
    return page(f"traitrl sweep: {summary.name}", header, toc, body,
                f"Built from sweep.json and the cells' results.json ({len(summary.cells)} cells).")
