"""The paper's figures for one run, as PNG bytes (matplotlib, Agg, no pyplot state).

Each function takes typed sections of `results.json` and returns PNG bytes, or None when the
run has no data for that figure, so the report can say "not available" instead of crashing.
Figures are drawn on `matplotlib.figure.Figure` directly (rendered by Agg): no pyplot, so no
global state or backend switch in the caller's process, and the PNG carries no timestamp, so
rebuilding a report gives identical files.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from traitrl.evals.scoreboard import EvalComparison, Scoreboard
from traitrl.report.names import Names, arm_colour, label
from traitrl.report.schema import Finetuning, PromptingScores, TrainingCurve, ValueCI

__all__ = ["VERDICT_COLOURS", "arm_colour", "drawn_curves", "finetuning_caption", "finetuning_has_ci",
           "finetuning_plot", "forest_caption", "forest_marks", "forest_plot", "has_ci", "label",
           "prompting_caption", "prompting_has_ci", "prompting_panels", "prompting_plot",
           "scored_pairs", "training_curves_caption", "training_curves_plot"]

VERDICT_COLOURS = {"improved": "#2e7d32", "regressed": "#c62828", "no_change": "#8a8a8a"}
_HEALTH_BAND = "#fdf0e6"
_STYLE = {
    "font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold", "axes.labelsize": 10,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.color": "#e6e6e6", "grid.linewidth": 0.8, "axes.axisbelow": True,
    "legend.frameon": False, "font.family": "DejaVu Sans",
}


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


def has_ci(points: Iterable[ValueCI | None]) -> bool:
    """Whether any of `points` carries a CI: only then does a figure draw (and caption) one."""
    return any(p is not None and p.value is not None and p.ci is not None for p in points)


# ---- scoreboard forest plot ----


def forest_marks(scoreboards: Mapping[str, Scoreboard]) -> set[str]:
    """What the forest plot shows, for its legend and caption: the verdicts of counted rows,
    'uninformative' if a row is not counted, 'health' if a row is a health eval."""
    rows = [r for sb in scoreboards.values() for r in sb.rows()]
    marks = {r.verdict for r in rows if r.counted}
    marks |= {"uninformative"} if any(not r.counted for r in rows) else set()
    return marks | ({"health"} if any(r.health for r in rows) else set())


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
    marks = forest_marks(scoreboards)
    with _figure(3.0 + 3.2 * len(scoreboards), max(2.6, 1.3 + 0.2 * y)) as fig:
        axes = fig.subplots(1, len(scoreboards), sharey=True, sharex=True, squeeze=False)[0]
        for ax, (key, sb) in zip(axes, scoreboards.items(), strict=True):
            _forest_panel(ax, sb, ypos, rows)
            ax.set_title(titles.get(key, key), fontsize=10, pad=16)
            ax.text(0.5, 1.005, f"{sb.improved} improved · {sb.no_change} no change · "
                    f"{sb.regressed} regressed (of {sb.n})", transform=ax.transAxes,
                    ha="center", va="bottom", fontsize=8.5, color="#444444")
        ax0 = axes[0]
        ax0.set_yticks([ypos[e] for e, _, _ in rows])
        ax0.set_yticklabels([e.split(".", 1)[-1] if "." in e else e for e, _, _ in rows], fontsize=7.5)
        for fam, y0 in fam_start.items():
            ax0.annotate(fam.replace("_", " "), xy=(0, y0 - 0.55), xycoords=("axes fraction", "data"),
                         xytext=(-4, 0), textcoords="offset points", ha="right", va="bottom",
                         fontsize=8.5, fontweight="bold", color="#333333", annotation_clip=False)
        ax0.set_ylim(y - 0.4, -1.4)
        # symmetric about 0, so the direction of every delta reads at a glance (and a run whose
        # deltas are all 0 still gets a readable axis)
        reach = max(abs(v) for sb in scoreboards.values() for r in sb.rows() for v in (*r.ci, r.delta))
        ax0.set_xlim(-max(1.08 * reach, 0.05), max(1.08 * reach, 0.05))
        handles = [Line2D([], [], marker="o", ls="-", color=c, label=v.replace("_", " "))
                   for v, c in VERDICT_COLOURS.items() if v in marks]
        if "uninformative" in marks:
            handles.append(Line2D([], [], marker="o", ls="-", color="#bbbbbb", mfc="white",
                                  label="uninformative (not counted)"))
        if "health" in marks:
            handles.append(Patch(color=_HEALTH_BAND, label="health eval"))
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


_MARK_WORDS = {"improved": "green: improved", "regressed": "red: regressed",
               "no_change": "grey: no significant change", "uninformative": "hollow: uninformative (not counted)"}


def forest_caption(scoreboards: Mapping[str, Scoreboard]) -> str:
    """The forest plot's caption: only the marks the plot shows."""
    marks = forest_marks(scoreboards)
    keys = [w for m, w in _MARK_WORDS.items() if m in marks]
    text = "Per-eval difference from the baseline with 95 % CIs, grouped by eval family. "
    text += ", ".join(keys).capitalize() + "."
    return text + (" Shaded rows are health evals." if "health" in marks else "")


# ---- the key figure: in-distribution trait score vs out-of-distribution over training ----


def _series(xs: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in xs], float)


def drawn_curves(curves: Mapping[str, TrainingCurve]) -> dict[str, TrainingCurve]:
    """The curves the figure draws: those with at least one scored checkpoint."""
    return {k: c for k, c in curves.items() if c.steps and not (
        np.isnan(_series(c.in_distribution_trait_score)).all()
        and np.isnan(_series(c.out_of_distribution_score)).all())}


def _band(ax: Axes, steps: np.ndarray, cis: list | None, col: str) -> None:
    if cis and any(ci is not None for ci in cis):
        lo = [ci[0] if ci else np.nan for ci in cis]
        hi = [ci[1] if ci else np.nan for ci in cis]
        ax.fill_between(steps, lo, hi, color=col, alpha=0.12, lw=0)


def training_curves_plot(curves: Mapping[str, TrainingCurve], names: Names | None = None) -> bytes | None:
    """Left: both scores over training per arm (solid: in-distribution trait score, dashed:
    out-of-distribution aggregate; shaded 95 % CIs only where the run recorded them). Right: one
    against the other, checkpoint by checkpoint — if trait RL generalizes, the trait arms move up
    and to the right together. Every seed of an arm is a line in the arm's colour."""
    curves = drawn_curves(curves)
    if not curves:
        return None
    arm_of = names.arm if names else (lambda k: k)
    pairs = scored_pairs(curves)
    with _figure(11.5 if pairs else 7.0, 4.7) as fig:
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.25, 1]) if pairs else (fig.subplots(), None)
        series = {"in": False, "ood": False}
        for key, c in curves.items():
            col, steps = arm_colour(arm_of(key)), np.asarray(c.steps, float)
            ind, ood = _series(c.in_distribution_trait_score), _series(c.out_of_distribution_score)
            series["in"] |= not np.isnan(ind).all()
            series["ood"] |= not np.isnan(ood).all()
            ax1.plot(steps, ind, "-", color=col, lw=2)
            ax1.plot(steps, ood, "--", color=col, lw=1.6)
            _band(ax1, steps, c.in_distribution_ci, col)
            _band(ax1, steps, c.out_of_distribution_ci, col)
            ok = ~(np.isnan(ind) | np.isnan(ood))
            if ax2 is not None and ok.any():
                ax2.plot(ind[ok], ood[ok], "-o", color=col, ms=3.5, lw=1.4, alpha=0.9)
                ax2.plot(ind[ok][-1], ood[ok][-1], "o", color=col, ms=8, mec="white", mew=1.2)
        ax1.set_xlabel("optimizer step")
        ticks = sorted({x for c in curves.values() for x in c.steps})
        if len(ticks) <= 12:  # few checkpoints: tick exactly where they were evaluated
            ax1.set_xticks(ticks)
        else:
            ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax1.set_ylabel("score")
        ax1.set_title("Scores over training")
        style = []
        if series["in"]:
            style.append(Line2D([], [], color="#555555", lw=2, label="in-distribution trait score"))
        if series["ood"]:
            style.append(Line2D([], [], color="#555555", lw=1.6, ls="--", label="out-of-distribution evals"))
        if any(c.has_ci() for c in curves.values()):
            style.append(Patch(color="#555555", alpha=0.12, label="95 % CI"))
        ax1.legend(handles=style, loc="upper left", fontsize=8.5)
        if ax2 is not None:
            ax2.set_xlabel("in-distribution trait score")
            aggregates = {c.out_of_distribution_aggregate for c in curves.values()}
            ax2.set_ylabel(aggregates.pop() if len(aggregates) == 1 else "out-of-distribution score", fontsize=9)
            ax2.set_title("Out-of-distribution vs in-distribution", pad=16)
            r = _pearson(pairs)
            text = "large dot: final checkpoint"
            if r is not None:
                text = f"Pearson r = {r:.2f} over {len(pairs)} checkpoints of all arms · " + text
            ax2.text(0.5, 1.005, text, transform=ax2.transAxes, ha="center", va="bottom",
                     fontsize=8.5, color="#444")
        arms = list(dict.fromkeys(arm_of(k) for k in curves))
        handles = [Line2D([], [], color=arm_colour(a), lw=2.2, label=label(a)) for a in arms]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9)
        return _png(fig)


def scored_pairs(curves: Mapping[str, TrainingCurve]) -> list[tuple[float, float]]:
    """(in-distribution, out-of-distribution) of every checkpoint scored on both."""
    return [(i, o) for c in curves.values()
            for i, o in zip(c.in_distribution_trait_score, c.out_of_distribution_score, strict=True)
            if i is not None and o is not None]


def training_curves_caption(curves: Mapping[str, TrainingCurve], names: Names | None = None) -> str:
    """The training figure's caption: what is drawn, and bands only when the run has CIs."""
    curves = drawn_curves(curves)
    arm_of = names.arm if names else (lambda k: k)
    left = []
    if any(v is not None for c in curves.values() for v in c.in_distribution_trait_score):
        left.append("solid lines are the in-distribution trait score (held-out trait scenarios)")
    if any(v is not None for c in curves.values() for v in c.out_of_distribution_score):
        aggregates = {c.out_of_distribution_aggregate for c in curves.values()}
        what = f": {aggregates.pop()}" if len(aggregates) == 1 else ""
        left.append(f"dashed lines the out-of-distribution aggregate{what}")
    if any(c.has_ci() for c in curves.values()):
        left.append("shaded bands 95 % CIs")
    arms = [arm_of(k) for k in curves]
    if len(set(arms)) < len(arms):
        left.append("one line per seed, in its arm's colour")
    text = "; ".join(left) + "." if left else ""
    if scored_pairs(curves):
        return f"Left: {text} Right: the same checkpoints with one score against the other."
    return text[:1].upper() + text[1:] + " No checkpoint has both scores, so they are not plotted against each other."


def _pearson(pairs: list[tuple[float, float]]) -> float | None:
    """Correlation of in- and out-of-distribution scores over every arm's checkpoints: the
    paper's 'moved in the same direction', as one number."""
    if len(pairs) < 3:
        return None
    x, y = np.asarray(pairs, float).T
    if x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


# ---- persistence ----

_CONDITIONS = (("none", "no system prompt", "#9e9e9e"), ("harmful", "harmful persona", "#c44e52"),
               ("helpful", "helpful persona", "#4c9a6a"))


def _key(cond: str, unseen: bool) -> str:
    return f"unseen_{cond}" if unseen and cond != "none" else cond


def _scored(x: ValueCI | None) -> bool:
    return x is not None and x.value is not None


def prompting_panels(prompting: Mapping[str, PromptingScores]) -> list[bool]:
    """Which persona sets have any steered score: False = known personas, True = unseen ones."""
    return [unseen for unseen in (False, True)
            if any(_scored(getattr(s, _key(c, unseen))) for s in prompting.values()
                   for c in ("harmful", "helpful"))]


def prompting_has_ci(prompting: Mapping[str, PromptingScores]) -> bool:
    return has_ci(getattr(s, k) for s in prompting.values() for k in PromptingScores.model_fields)


def prompting_caption(prompting: Mapping[str, PromptingScores]) -> str:
    panels = prompting_panels(prompting)
    text = "Mean score over the held-out evals with no system prompt and under persona steering"
    if prompting_has_ci(prompting):
        text += "; error bars are 95 % CIs"
    if panels == [False]:
        text += "; unseen personas were not scored in this run"
    elif panels == [True]:
        text += "; known personas were not scored in this run"
    missing = not all(_scored(getattr(s, _key(c, u))) for s in prompting.values() for u in panels
                      for c, _, _ in _CONDITIONS)
    return text + ("; n/a: not scored." if missing else ".")


def prompting_plot(prompting: Mapping[str, PromptingScores], names: Names | None = None) -> bytes | None:
    """Grouped bars per model: no prompt, harmful-persona and helpful-persona steering, for the
    known personas and (right) the unseen ones, each panel only if the run scored it; error bars
    are 95 % CIs where recorded. Selective persistence shows as a shorter harmful drop for trait
    RL with an equal helpful gain."""
    panels = prompting_panels(prompting or {})
    if not panels:
        return None
    models = list(prompting)
    name = names.label if names else label
    with _figure(5.9 * len(panels), 4.2) as fig:
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        for ax, unseen in zip(axes, panels, strict=True):
            width = 0.8 / len(_CONDITIONS)
            for j, (cond, cname, col) in enumerate(_CONDITIONS):
                val, lo, hi = _ci_err([getattr(prompting[m], _key(cond, unseen)) for m in models])
                x = np.arange(len(models)) + (j - 1) * width
                ax.bar(x, np.nan_to_num(val), width * 0.92, color=col, label=cname)
                ok = ~(np.isnan(val) | np.isnan(lo) | np.isnan(hi))
                if ok.any():
                    ax.errorbar(x[ok], val[ok], yerr=np.vstack([val - lo, hi - val])[:, ok], fmt="none",
                                capsize=2.5, lw=1, ecolor="#333")
                for xi, v in zip(x, val, strict=True):
                    inside = not np.isnan(v) and v > 0.06  # else the number sits above the bar
                    ax.text(xi, 0.01 if inside else np.nan_to_num(v) + 0.01, "n/a" if np.isnan(v) else f"{v:.2f}",
                            ha="center", va="bottom", fontsize=7.5, color="white" if inside else "#333",
                            fontweight="bold")
            ax.set_xticks(np.arange(len(models)), [name(m) for m in models])
            ax.set_title("unseen personas (held out)" if unseen else "known personas (pretraining list)")
            ax.grid(axis="x", visible=False)
        axes[0].set_ylabel("mean score over held-out evals")
        axes[0].legend(loc="upper left", fontsize=8.5, ncol=3)
        axes[0].set_ylim(0, 1.08)
        return _png(fig)


def finetuning_has_ci(ft: Finetuning | None) -> bool:
    return ft is not None and has_ci(x for c in ft.models.values() for x in (*c.health, *c.non_health))


def finetuning_caption(ft: Finetuning) -> str:
    text = f"Mean score after each dose ({ft.dose_unit})"
    return text + ("; bands are 95 % CIs." if finetuning_has_ci(ft) else ".")


def finetuning_plot(ft: Finetuning | None, names: Names | None = None) -> bytes | None:
    """Dose-response curves under harmful (bad medical advice) fine-tuning: health evals on the
    left, non-health on the right, one line per model, with a 95 % CI band where recorded. A
    model whose alignment persists degrades less, above all on the evals the attack did not
    target."""
    if ft is None or not ft.doses or not ft.models:
        return None
    doses = np.asarray(ft.doses, float)
    name = names.label if names else label
    colour = names.colour if names else arm_colour
    with _figure(11.5, 4.0) as fig:
        axes = fig.subplots(1, 2, sharey=True)
        for ax, part, title in zip(axes, ("health", "non_health"),
                                   ("health evals (attacked domain)", "non-health evals"), strict=True):
            for m, curve in ft.models.items():
                val, lo, hi = _ci_err(getattr(curve, part))
                col = colour(m)
                ax.plot(doses, val, "-o", color=col, lw=2, ms=4, label=name(m))
                if not np.isnan(lo).all():
                    ax.fill_between(doses, lo, hi, color=col, alpha=0.14, lw=0)
            ax.set_title(title)
            ax.set_xlabel(f"harmful fine-tuning dose ({ft.dose_unit})")
        axes[0].set_ylabel("mean score")
        axes[0].legend(loc="lower left", fontsize=8.5)
        return _png(fig)
