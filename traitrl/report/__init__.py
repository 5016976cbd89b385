"""The run report: `results.json` in, `report.html` + PNG plots + CSVs out, no model involved.

`build_report(run_dir)` reads only `run_dir/results.json` (and the null runs' `run_dir/nulls/
NAME/results.json` when present), so `traitrl report RUN_DIR` rebuilds the report of any run
folder (copied, archived, or from another machine) in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

from traitrl.atomic import atomic_open
from traitrl.report.appendix import appendix_sections
from traitrl.report.environment import collect_environment
from traitrl.report.html import esc, page, write_page
from traitrl.report.names import Names
from traitrl.report.nulls import nulls_section
from traitrl.report.plots import finetuning_plot, forest_plot, prompting_plot, training_curves_plot
from traitrl.report.schema import (
    RUN_RESULTS_SCHEMA_VERSION,
    Environment,
    RunResults,
    eval_scores,
    load_run_results,
    parse_run_results,
    save_run_results,
)
from traitrl.report.sections import TITLES, result_sections
from traitrl.report.tables import write_tables

__all__ = [
    "RUN_RESULTS_SCHEMA_VERSION",
    "Environment",
    "RunResults",
    "build_report",
    "collect_environment",
    "eval_scores",
    "load_run_results",
    "make_figures",
    "parse_run_results",
    "render_html",
    "save_run_results",
]

RESULTS_FILE = "results.json"
REPORT_FILE = "report.html"
PLOTS_DIR = "plots"
NULLS_DIR = "nulls"


def make_figures(res: RunResults) -> dict[str, bytes | None]:
    """Every figure of the report as PNG bytes; None where the run has no data for it."""
    names = Names(res)
    return {
        "scoreboard": forest_plot(res.scoreboard.available(), TITLES),
        "training_curves": training_curves_plot(res.training_curves, names),
        "prompting": prompting_plot(res.persistence.prompting or {}, names),
        "finetuning": finetuning_plot(res.persistence.finetuning, names),
    }


def load_nulls(run_dir: Path) -> dict[str, RunResults]:
    """The null runs of a run folder that have finished (RUN/nulls/NAME/results.json)."""
    return {p.parent.name: load_run_results(p) for p in sorted((run_dir / NULLS_DIR).glob(f"*/{RESULTS_FILE}"))}


def render_html(res: RunResults, figures: dict[str, bytes | None], name: str,
                nulls: dict[str, RunResults] | None = None) -> str:
    """The self-contained report page for `res` (figures embedded as data URIs), with its null
    runs beside the claims when given."""
    sections = result_sections(res, figures)
    sections.insert(2, ("nulls", "Null runs", nulls_section(res, nulls or {})))
    sections += appendix_sections(res)
    meta = res.meta
    facts = []
    if meta is not None:
        if meta.config_hash:
            facts.append(f"config <code>{esc(meta.config_hash)}</code>")
        if meta.seeds:
            facts.append(f"seed{'s' if len(meta.seeds) > 1 else ''} {esc(', '.join(map(str, meta.seeds)))}")
        if meta.created_at:
            facts.append(esc(meta.created_at))
    # the version the run recorded; else the one its environment record lists
    version = (meta.traitrl_version if meta else None) or (
        res.environment.packages.get("traitrl") if res.environment else None)
    if version:
        facts.append(f"traitrl {esc(version)}")
    header = (f'<div class="kicker">traitrl · beneficial-trait RL · run report</div>'
              f"<h1>{esc(name)}</h1><div class=\"meta\">{' · '.join(facts)}</div>")
    footer = (f"Built by <code>traitrl report</code> from {RESULTS_FILE} (schema version "
              f"{res.schema_version}) alone; no model was run.")
    return page(f"traitrl report: {name}", header, [(sid, menu) for sid, menu, _ in sections],
                "".join(html for _, _, html in sections), footer)


def build_report(run_dir: str | os.PathLike[str]) -> Path:
    """Write `report.html`, `plots/*.png` and the CSVs of a run folder; return the report's path.

    A missing or invalid `results.json` is a `UserError` naming the file. Plots the run has no
    data for are removed, so a rebuild never leaves a stale figure beside a newer report.
    """
    run_dir = Path(run_dir)
    res = load_run_results(run_dir / RESULTS_FILE)
    figures = make_figures(res)
    plots = run_dir / PLOTS_DIR
    for key, png in figures.items():
        path = plots / f"{key}.png"
        if png is None:
            path.unlink(missing_ok=True)
            continue
        with atomic_open(path, "wb") as f:
            f.write(png)
    write_tables(res, run_dir)
    name = (res.meta.name if res.meta and res.meta.name else None) or run_dir.resolve().name
    out = run_dir / REPORT_FILE
    write_page(out, render_html(res, figures, name, load_nulls(run_dir)))
    return out
