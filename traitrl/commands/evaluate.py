"""`traitrl eval` and `traitrl compare`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from traitrl.commands.common import ConfigOpt, SetOpt, require_model_dir, resolve_config
from traitrl.console import console


def eval_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder (Hugging Face format).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results JSON to write.")] = Path("results.json"),
    config: ConfigOpt = None,
    set_: SetOpt = None,
    benchmark: Annotated[list[str] | None, typer.Option("--benchmark", "-b", help="FORMAT:PATH\\[@sha256=HEX] of a public benchmark file, or inspect:TASK_FILE.py\\[@TASK] / inspect:MODULE:TASK of an inspect_ai task (repeatable; default: the config's evals.benchmarks).")] = None,
    persona: Annotated[str, typer.Option(help="System-prompt condition: none, known_careful, known_harmful, careful, harmful.")] = "none",
    suite: Annotated[bool, typer.Option(help="Run the organism's held-out suite (turn off to run only the benchmarks).")] = True,
    sensitivity: Annotated[bool, typer.Option(help="Also run the known careful and harmful personas and flag evals whose spread is not significant.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the evaluations and exit.")] = False,
) -> None:
    """Evaluate a model on the held-out suite (and on benchmarks: --benchmark, else the config's
    evals.benchmarks, files and inspect_ai tasks): per eval the metric, n, a bootstrap 95 % CI, the
    unscored count, and per-item records."""
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
    from traitrl.evals.external import split_benchmarks
    from traitrl.evals.importers import load_benchmark

    cfg = resolve_config(config, set_, model)
    check_output_file(out)  # a folder or an unwritable place in --out fails now, not after the generation
    benchmarks = list(benchmark) if benchmark else list(cfg.evals.benchmarks)
    _, files = split_benchmarks(benchmarks)  # inspect tasks are checked here too
    for spec in files:  # every benchmark file is checked before the model is looked at
        load_benchmark(spec)
    require_model_dir(model)

    from traitrl.evals.compare import sensitivity as sensitivity_of
    from traitrl.evals.results import load_results, save_results
    from traitrl.experiments import stages
    from traitrl.experiments.stage import call

    base = stages.given_model(model, name=str(model))
    t0 = time.perf_counter()
    run = call(stages.evaluate, cfg, Path("."), model=base, dest=str(out), persona=persona,
               benchmarks=benchmarks, suite=suite)
    main = load_results(out)
    if sensitivity and suite:
        steered = {p: load_results(Path(call(stages.evaluate, cfg, Path("."), model=base, dest=str(out.with_suffix(f".{p}.json")),
                                             persona=p).file)) for p in ("known_careful", "known_harmful")}
        main = main.with_informative(sensitivity_of(steered["known_careful"], steered["known_harmful"]).flags())
        save_results(out, main)
    _print_results(main)
    console.print(f"wrote {run.file} in {time.perf_counter() - t0:.0f}s")


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
    baseline: Annotated[str, typer.Argument(help="Results JSON of the baseline model, or one per RL seed, comma-separated: BASE_S0.json,BASE_S1.json,BASE_S2.json.")],
    treatment: Annotated[str, typer.Argument(help="Results JSON of the treatment model, or one per RL seed, comma-separated.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for compare.json and compare.csv.")] = Path("."),
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Per-eval deltas with cluster-bootstrap 95 % CIs (over RL seeds and prompt clusters when each side
    has several seed files, over prompt clusters only with one), sign-flip permutation p-values, verdicts,
    "improved X of N" with Holm and Benjamini-Hochberg counts; regressions reported beside gains."""
    from traitrl.atomic import check_output_folder
    from traitrl.evals.compare import compare_command

    check_output_folder(out)

    def paths(arg: str) -> list[Path]:
        return [Path(p.strip()) for p in arg.split(",") if p.strip()]

    compare_command(paths(baseline), paths(treatment), out, console, alpha=alpha, seed=seed)
