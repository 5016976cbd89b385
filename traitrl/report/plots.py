"""The paper's figures for one run, as PNG bytes (matplotlib, Agg, no pyplot state).

Each function takes typed sections of `results.json` and returns PNG bytes, or None when the
run has no data for that figure, so the report can say "not available" instead of crashing.
Figures are drawn on `matplotlib.figure.Figure` directly (rendered by Agg): no pyplot, so no
global state or backend switch in the caller's process, and the PNG carries no timestamp, so
rebuilding a report gives identical files.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from traitrl.evals.scoreboard import EvalComparison, Scoreboard
from traitrl.report.schema import Finetuning, PromptingScores, TrainingCurve, ValueCI

VERDICT_COLOURS = {"improved": "#2e7d32", "regressed": "#c62828", "no_change": "#8a8a8a"}
_ARM_COLOURS = {"base": "#222222", "baseline": "#8a8a8a", "trait": "#1b6ca8",
                "health_only": "#e08a00", "no_health_science": "#7b4ea3"}  # fmt: skip
_EXTRA_COLOURS = ["#17becf", "#bcbd22", "#8c564b", "#e377c2"]
_HEALTH_BAND = "#fdf0e6"
_STYLE = {
    "font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold", "axes.labelsize": 10,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.color": "#e6e6e6", "grid.linewidth": 0.8, "axes.axisbelow": True,
    "legend.frameon": False, "font.family": "DejaVu Sans",
}  # fmt: skip


def arm_colour(name: str) -> str:
    """A stable colour per model/arm, the same in every figure of the report."""
    if name in _ARM_COLOURS:
        return _ARM_COLOURS[name]
    return _EXTRA_COLOURS[sum(map(ord, name)) % len(_EXTRA_COLOURS)]


def label(name: str) -> str:
    """'no_health_science' -> 'no health/science' etc.: arm names as people say them."""
    return {"no_health_science": "no health/science", "health_only": "health only",
            "trait": "trait RL", "base": "base (no RL)"}.get(name, name.replace("_", " "))  # fmt: skip


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    with matplotlib.rc_context(_STYLE):
        yield Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, facecolor="white")
    return buf.getvalue()


def _ci_err(points: Sequence[ValueCI | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """values, lower and upper CI bounds as float arrays (NaN where missing)."""
    val = np.array([p.value if p and p.value is not None else np.nan for p in points], float)
    lo = np.array([p.ci[0] if p and p.ci else np.nan for p in points], float)
    hi = np.array([p.ci[1] if p and p.ci else np.nan for p in points], float)
    return val, lo, hi


# ---- scoreboard forest plot ----


def _forest_rows(scoreboards: Mapping[str, Scoreboard]) -> list[tuple[str, str, bool]]:
    """(eval id, family, health) in family order, union over the scoreboards."""
    seen: dict[str, tuple[str, bool]] = {}
    for sb in scoreboards.values():
        for r in sb.rows():
            seen.setdefault(r.id, (r.family, r.health))
    families = list(dict.fromkeys(f for f, _ in seen.values()))
    return [(eid, f, h) for fam in families for eid, (f, h) in seen.items() if f == fam]


def forest_plot(scoreboards: Mapping[str, Scoreboard], titles: Mapping[str, str]) -> bytes | None:
    """Per-eval deltas with 95 % CIs, one panel per comparison sharing the eval axis, coloured by
    verdict and grouped by family; health evals sit on shaded rows (the domain-transfer split)."""
    if not scoreboards or not any(sb.rows() for sb in scoreboards.values()):
        return None
    rows = _forest_rows(scoreboards)
    ypos, y, fam_start, prev = {}, 0.0, {}, None
    for eid, fam, _ in rows:
        if fam != prev:
            y += 0.8 if prev is not None else 0.0
            fam_start[fam], prev = y, fam
        ypos[eid], y = y, y + 1
    with _figure(3.0 + 3.2 * len(scoreboards), 1.3 + 0.2 * y) as fig:
        axes = fig.subplots(1, len(scoreboards), sharey=True, sharex=True, squeeze=False)[0]
        for ax, (key, sb) in zip(axes, scoreboards.items(), strict=True):
            _forest_panel(ax, sb, ypos, rows)
            ax.set_title(titles.get(key, key), fontsize=10, pad=16)
            ax.text(0.5, 1.005, f"{sb.improved} improved · {sb.no_change} no change · "
                    f"{sb.regressed} regressed (of {sb.n})", transform=ax.transAxes,
                    ha="center", va="bottom", fontsize=8.5, color="#444444")  # fmt: skip
        ax0 = axes[0]
        ax0.set_yticks([ypos[e] for e, _, _ in rows])
        ax0.set_yticklabels([e.split(".", 1)[-1] if "." in e else e for e, _, _ in rows], fontsize=7.5)
        for fam, y0 in fam_start.items():
            ax0.annotate(fam.replace("_", " "), xy=(0, y0 - 0.55), xycoords=("axes fraction", "data"),
                         xytext=(-4, 0), textcoords="offset points", ha="right", va="bottom",
                         fontsize=8.5, fontweight="bold", color="#333333", annotation_clip=False)  # fmt: skip
        ax0.set_ylim(y - 0.4, -1.4)
        handles = [Line2D([], [], marker="o", ls="-", color=c, label=v.replace("_", " "))
                   for v, c in VERDICT_COLOURS.items()]  # fmt: skip
        handles += [Line2D([], [], marker="o", ls="-", color="#bbbbbb", mfc="white", label="uninformative (not counted)"),
                    Patch(color=_HEALTH_BAND, label="health eval")]  # fmt: skip
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8.5)
        return _png(fig)


def _forest_panel(ax: Axes, sb: Scoreboard, ypos: dict[str, float], rows: list) -> None:
    for eid, _, health in rows:
        if health:
            ax.axhspan(ypos[eid] - 0.5, ypos[eid] + 0.5, color=_HEALTH_BAND, lw=0, zorder=0)
    ax.axvline(0, color="#444444", lw=0.9, zorder=1)
    by_id: dict[str, EvalComparison] = {r.id: r for r in sb.rows()}
    for eid, r in by_id.items():
        c = VERDICT_COLOURS[r.verdict] if r.counted else "#bbbbbb"
        y = ypos[eid]
        ax.plot(r.ci, (y, y), color=c, lw=1.6, solid_capstyle="butt", zorder=2)
        ax.plot(r.delta, y, "o", ms=4.2, color=c, mfc=c if r.counted else "white", zorder=3)
    ax.set_xlabel("Δ score vs baseline (95% CI)\n→ better")
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)


# ---- the key figure: in-distribution trait score vs out-of-distribution over training ----


def training_curves_plot(curves: Mapping[str, TrainingCurve]) -> bytes | None:
    """Left: both scores over training per arm (solid: in-distribution trait score, dashed:
    out-of-distribution aggregate). Right: one against the other, checkpoint by checkpoint —
    if trait RL generalizes, the trait arms move up and to the right together."""
    curves = {k: c for k, c in curves.items() if c.steps}
    if not curves:
        return None
    with _figure(11.5, 4.7) as fig:
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.25, 1])
        for arm, c in curves.items():
            col, steps = arm_colour(arm), np.asarray(c.steps, float)
            ind = np.array([np.nan if v is None else v for v in c.in_distribution_trait_score], float)
            ood = np.array([np.nan if v is None else v for v in c.out_of_distribution_score], float)
            ax1.plot(steps, ind, "-", color=col, lw=2)
            ax1.plot(steps, ood, "--", color=col, lw=1.6)
            for cis in (c.in_distribution_ci, c.out_of_distribution_ci):
                if cis and any(ci is not None for ci in cis):
                    lo = [ci[0] if ci else np.nan for ci in cis]
                    hi = [ci[1] if ci else np.nan for ci in cis]
                    ax1.fill_between(steps, lo, hi, color=col, alpha=0.12, lw=0)
            ok = ~(np.isnan(ind) | np.isnan(ood))
            ax2.plot(ind[ok], ood[ok], "-o", color=col, ms=3.5, lw=1.4, alpha=0.9)
            if ok.any():
                ax2.plot(ind[ok][-1], ood[ok][-1], "o", color=col, ms=8, mec="white", mew=1.2)
        ax1.set_xlabel("optimizer step")
        ax1.set_ylabel("score")
        ax1.set_title("Scores over training")
        style = [Line2D([], [], color="#555555", lw=2, label="in-distribution trait score"),
                 Line2D([], [], color="#555555", lw=1.6, ls="--", label="out-of-distribution evals")]  # fmt: skip
        ax1.legend(handles=style, loc="upper left", fontsize=8.5)
        ax2.set_xlabel("in-distribution trait score")
        ax2.set_ylabel(next(iter(curves.values())).out_of_distribution_aggregate, fontsize=9)
        ax2.set_title("Out-of-distribution vs in-distribution")
        r = _pearson(curves)
        if r is not None:
            ax2.text(0.03, 0.97, f"Pearson r = {r:.2f} over all checkpoints\nlarge dot: final "
                     "checkpoint", transform=ax2.transAxes, va="top", fontsize=8.5, color="#444")  # fmt: skip
        arms = [Line2D([], [], color=arm_colour(a), lw=2.2, label=label(a)) for a in curves]
        fig.legend(handles=arms, loc="outside lower center", ncol=len(arms), fontsize=9)
        return _png(fig)


def _pearson(curves: Mapping[str, TrainingCurve]) -> float | None:
    """Correlation of in- and out-of-distribution scores over every arm's checkpoints: the
    paper's 'moved in the same direction', as one number."""
    pairs = [(i, o) for c in curves.values()
             for i, o in zip(c.in_distribution_trait_score, c.out_of_distribution_score, strict=True)
             if i is not None and o is not None]  # fmt: skip
    if len(pairs) < 3:
        return None
    x, y = np.asarray(pairs, float).T
    if x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


# ---- persistence ----

_CONDITIONS = (("none", "no system prompt", "#9e9e9e"), ("harmful", "harmful persona", "#c44e52"),
               ("helpful", "helpful persona", "#4c9a6a"))  # fmt: skip


def prompting_plot(prompting: Mapping[str, PromptingScores]) -> bytes | None:
    """Grouped bars per model: no prompt, harmful-persona and helpful-persona steering, for the
    known personas and (right) the unseen ones; error bars are 95 % CIs. Selective persistence
    shows as a shorter harmful drop for trait RL with an equal helpful gain."""
    if not prompting or all(not any(s.model_dump().values()) for s in prompting.values()):
        return None
    models = list(prompting)
    with _figure(11.5, 4.2) as fig:
        axes = fig.subplots(1, 2, sharey=True)
        for ax, unseen in zip(axes, (False, True), strict=True):
            width = 0.8 / len(_CONDITIONS)
            for j, (cond, name, col) in enumerate(_CONDITIONS):
                key = f"unseen_{cond}" if unseen and cond != "none" else cond
                pts = [getattr(prompting[m], key) for m in models]
                val, lo, hi = _ci_err(pts)
                x = np.arange(len(models)) + (j - 1) * width
                err = np.vstack([val - lo, hi - val])
                ax.bar(x, np.nan_to_num(val), width * 0.92, color=col, label=name,
                       yerr=np.nan_to_num(err), capsize=2.5, error_kw={"lw": 1, "ecolor": "#333"})  # fmt: skip
                for xi, v in zip(x, val, strict=True):
                    if not np.isnan(v):
                        ax.text(xi, 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=7.5,
                                color="white", fontweight="bold")  # fmt: skip
            ax.set_xticks(np.arange(len(models)), [label(m) for m in models])
            ax.set_title("unseen personas (held out)" if unseen else "known personas (pretraining list)")
            ax.grid(axis="x", visible=False)
        axes[0].set_ylabel("mean score over held-out evals")
        axes[0].legend(loc="upper left", fontsize=8.5, ncol=3)
        axes[0].set_ylim(0, 1.08)
        return _png(fig)


def finetuning_plot(ft: Finetuning | None) -> bytes | None:
    """Dose-response curves under harmful (bad medical advice) fine-tuning: health evals on the
    left, non-health on the right, one line per model with a 95 % CI band. A model whose
    alignment persists degrades less, above all on the evals the attack did not target."""
    if ft is None or not ft.doses or not ft.models:
        return None
    doses = np.asarray(ft.doses, float)
    with _figure(11.5, 4.0) as fig:
        axes = fig.subplots(1, 2, sharey=True)
        for ax, part, title in zip(axes, ("health", "non_health"),
                                   ("health evals (attacked domain)", "non-health evals"), strict=True):  # fmt: skip
            for m, curve in ft.models.items():
                val, lo, hi = _ci_err(getattr(curve, part))
                col = arm_colour(m)
                ax.plot(doses, val, "-o", color=col, lw=2, ms=4, label=label(m))
                ax.fill_between(doses, lo, hi, color=col, alpha=0.14, lw=0)
            ax.set_title(title)
            ax.set_xlabel(f"harmful fine-tuning dose ({ft.dose_unit})")
        axes[0].set_ylabel("mean score")
        axes[0].legend(loc="lower left", fontsize=8.5)
        return _png(fig)
