"""`traitrl report RUN_DIR`: rebuild a run's report from its folder alone."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from traitrl.console import console
from traitrl.errors import UserError


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="Run folder holding results.json (runs/NAME).")],
) -> None:
    """Rebuild report.html, plots/*.png and the CSVs from RUN_DIR/results.json, without running
    a model."""
    from traitrl.report import build_report
    from traitrl.report.schema import load_run_results
    from traitrl.report.summary import headline

    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: run folder not found")
    t0 = time.perf_counter()
    out = build_report(run_dir)
    sb = load_run_results(run_dir / "results.json").scoreboard.trait_vs_baseline
    if sb is not None:
        console.print(f"[bold]{headline(sb)}[/bold]", highlight=False)
    console.print(f"wrote {out} (plots in {run_dir / 'plots'}) in {time.perf_counter() - t0:.1f}s",
                  highlight=False)
