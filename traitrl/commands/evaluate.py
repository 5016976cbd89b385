"""`traitrl eval` and `traitrl compare`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from traitrl.commands.common import ConfigOpt, SetOpt, load_policy, resolve_config
from traitrl.console import console, progress


def eval_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder (Hugging Face format).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results JSON to write.")] = Path("results.json"),
    config: ConfigOpt = None,
    set_: SetOpt = None,
    benchmark: Annotated[list[str] | None, typer.Option("--benchmark", "-b", help="FORMAT:PATH[@sha256=HEX] of a public benchmark file (repeatable).")] = None,
    persona: Annotated[str, typer.Option(help="System-prompt condition: none, known_careful, known_harmful, careful, harmful.")] = "none",
    suite: Annotated[bool, typer.Option(help="Run the organism's held-out suite (turn off to run only --benchmark files).")] = True,
    sensitivity: Annotated[bool, typer.Option(help="Also run the known careful and harmful personas and flag evals whose spread is not significant.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the evaluations and exit.")] = False,
) -> None:
    """Evaluate a model on the held-out suite (and on public benchmark files): per eval the metric,
    n, a bootstrap 95 % CI, the unscored count, and per-item records."""
    from traitrl.evals.registry import EVALS

    if list_:
        table = Table(title=f"{len(EVALS)} evaluations")
        for col in ("id", "family", "format", "domain"):
            table.add_column(col)
        for s in EVALS.values():
            table.add_row(s.id, s.family, s.format, s.domain)
        console.print(table)
        return
    from traitrl.atomic import check_output_file
    from traitrl.evals.importers import load_benchmark

    cfg = resolve_config(config, set_, model)
    check_output_file(out)  # a folder or an unwritable place in --out fails now, not after the generation
    benches = [load_benchmark(b) for b in benchmark or []]  # validate every file before any model work

    from traitrl.evals.benchmarks import judge_grader, run_benchmark
    from traitrl.evals.compare import sensitivity as sensitivity_of
    from traitrl.evals.registry import select
    from traitrl.evals.results import save_results
    from traitrl.evals.runner import evaluate, suite_generations
    policy = load_policy(model, cfg)
    specs = select(cfg.evals.ids or None, cfg.evals.families or None) if suite else []
    t0 = time.perf_counter()
    conditions = [persona] + (["known_careful", "known_harmful"] if sensitivity and suite else [])
    n_prompts = suite_generations(specs, cfg.evals.n_items)
    with progress() as bar:
        results = {}
        for cond in conditions:
            task = bar.add_task(f"suite ({cond})", total=n_prompts)
            results[cond] = evaluate(policy, cfg, str(model), cond, progress=lambda k, t=task: bar.advance(t, k), specs=specs)
        main = results[persona]
        judge = None
        if cfg.judge is not None and any(b.format != "anthropic-mwe" for b in benches):
            from traitrl.graders.judge import LLMJudge

            judge = LLMJudge(cfg.judge)
        for b in benches:
            task = bar.add_task(f"{b.format}:{b.name}", total=b.n_items)
            main.benchmarks.append(run_benchmark(policy, b, judge=judge_grader(judge) if judge else None,
                                                 seed=cfg.evals.sampling.seed, progress=lambda k, t=task: bar.advance(t, k)))
        if judge is not None:
            main = main.model_copy(update={"meta": {**main.meta, "judge": {**cfg.judge.settings(), **judge.stats()}}})
    if sensitivity and suite:
        sens = sensitivity_of(results["known_careful"], results["known_harmful"])
        main = main.with_informative(sens.flags())
    save_results(out, main)
    _print_results(main)
    console.print(f"wrote {out} in {time.perf_counter() - t0:.0f}s")


def _print_results(results) -> None:
    table = Table(title=f"{results.model}")
    for col in ("eval", "n", "score", "95% CI", "unscored", "informative"):
        table.add_column(col, justify="left" if col == "eval" else "right")
    for e in [*results.evals, *results.benchmarks]:
        ci = f"[{e.ci[0]:.2f}, {e.ci[1]:.2f}]" if e.ci else "-"
        value = f"{e.value:.3f}" if e.value is not None else "-"
        inf = {True: "yes", False: "[yellow]no[/yellow]", None: ""}[e.informative]
        table.add_row(e.id, str(e.n), value, ci, str(e.unscored), inf)
    console.print(table)


def compare_cmd(
    baseline: Annotated[Path, typer.Argument(help="Results JSON of the baseline model.")],
    treatment: Annotated[Path, typer.Argument(help="Results JSON of the treatment model.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for compare.json and compare.csv.")] = Path("."),
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Per-eval deltas with paired bootstrap 95 % CIs, verdicts, "improved X of N" and its Holm-corrected variant."""
    from traitrl.atomic import check_output_folder
    from traitrl.evals.compare import compare_command

    check_output_folder(out)
    compare_command(baseline, treatment, out, console, alpha=alpha, seed=seed)
