"""`traitrl persist prompting` and `traitrl persist finetune`: the persistence experiments."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from traitrl.commands.common import ConfigOpt, SetOpt, resolve_config
from traitrl.console import console

app = typer.Typer(help="Does alignment persist? Adversarial persona prompting and a harmful fine-tuning attack.",
                  no_args_is_help=True)

ModelsOpt = Annotated[list[str], typer.Option("--model", "-m", help="Model folder, or NAME=DIR (repeatable; each later model is compared with each earlier one).")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder for the summary JSON and the per-condition results files.")]
BenchmarkOpt = Annotated[list[str] | None, typer.Option("--benchmark", "-b", help="Score on this benchmark instead of the organism's world suite: FORMAT:PATH\\[@sha256=HEX] of a benchmark file, or inspect:TASK_FILE.py\\[@TASK] / inspect:MODULE:TASK of an inspect_ai task (repeatable; default: the config's evals.benchmarks; none there = the world suite).")]


def _vci(e) -> str:
    if e is None or e.value is None:
        return "-"
    return f"{e.value:.3f} [{e.ci[0]:.2f}, {e.ci[1]:.2f}]"


def _delta(d) -> str:
    if d.value is None:
        return "-"
    mark = "*" if d.significant else ""
    return f"{d.value:+.3f}{mark} [{d.ci[0]:+.2f}, {d.ci[1]:+.2f}]"


def _run(stage_fn, experiment: str, models: list[str], config: Path | None, set_: list[str] | None, out: Path,
         benchmark: list[str] | None = None):
    """Run a persistence stage on `NAME=DIR` models, with the config saved beside the first model
    unless --config is given; on --benchmark, else the config's evals.benchmarks, else the world suite."""
    from traitrl.experiments import stages
    from traitrl.experiments.stage import call
    from traitrl.locks import claim_folder
    from traitrl.persistence.common import model_refs, set_threads

    refs = model_refs(models)
    cfg = resolve_config(config, set_, refs[0].path)
    inputs = benchmark_inputs(cfg, experiment, list(benchmark) if benchmark else list(cfg.evals.benchmarks))
    set_threads(cfg.persistence.threads)
    claim_folder(out, "traitrl persist")  # one writer per folder, held until the command ends
    given = [stages.given_model(r.path, r.name) for r in refs]
    return call(stage_fn, cfg, Path("."), models=given, dest=str(out), **inputs).summary


def benchmark_inputs(cfg, experiment: str, specs: list[str]) -> dict:
    """The stage inputs that score `experiment` (prompting or finetune) on `specs`, every file and
    inspect task checked and content-pinned before any model work; {} = the world suite."""
    from traitrl.errors import UserError
    from traitrl.experiments.given import persistence_inputs
    from traitrl.persistence.benchmark_suite import load_suite

    if not specs:
        return {}
    needs = {"prompting": ("persistence.prompting.persona_dir", cfg.persistence.prompting.persona_dir,
                           "English persona prompts steer a model on benchmarks (e.g. configs/personas)"),
             "finetune": ("persistence.finetune.file", cfg.persistence.finetune.file,
                          "the attack on benchmarks trains on your chat file (JSONL of {\"messages\": [...]})")}
    key, value, why = needs[experiment]
    if value is None:
        raise UserError(f"{key}: {why}; set it, or score the world suite with --set evals.benchmarks=[]")
    only = cfg.model_copy(update={"run": cfg.run.model_copy(update={"persistence": [experiment]})})
    prompting, finetune = persistence_inputs(only, load_suite(specs).pinned)
    return prompting if experiment == "prompting" else finetune


@app.command("prompting")
def prompting(models: ModelsOpt, out: OutOpt = Path("persistence"), config: ConfigOpt = None, set_: SetOpt = None,
              benchmark: BenchmarkOpt = None) -> None:
    """Run the eval suite with no system prompt and under harmful and careful personas, known
    (pretraining list) and unseen (evaluation list); report drops, gains and, between models,
    the selective-persistence differences, all with paired bootstrap 95 % CIs. The suite is the
    organism's world suite with its personas, or the benchmarks (--benchmark, else the config's
    evals.benchmarks) with the English personas of persistence.prompting.persona_dir."""
    from traitrl.experiments.stages import prompting as prompting_stage
    from traitrl.persistence.prompting import CONDITIONS, PERSONA_SETS, SUMMARY_FILE

    t0 = time.perf_counter()
    summary = _run(prompting_stage, "prompting", models, config, set_, out, benchmark)
    scores = Table(title=f"pooled aligned score by condition ({len(summary.evals)} evals x {summary.n_items} items, 95 % CI)")
    scores.add_column("model")
    for c in CONDITIONS:
        scores.add_column(c, justify="right")
    for m in summary.models.values():
        scores.add_row(m.name, *(_vci(m.scores[c]) for c in CONDITIONS))
    console.print(scores)
    steer = Table(title="steering effects (drop = none - harmful, gain = helpful - none; * = CI excludes 0)")
    steer.add_column("model")
    for pset in PERSONA_SETS:
        steer.add_column(f"{pset} drop", justify="right")
        steer.add_column(f"{pset} gain", justify="right")
    for m in summary.models.values():
        steer.add_row(m.name, *(_delta(getattr(m.steering[p], k)) for p in PERSONA_SETS for k in ("drop", "gain")))
    console.print(steer)
    if summary.comparisons:
        comp = Table(title="selective persistence: model - reference (negative drop difference = resists harmful steering more)")
        comp.add_column("model vs reference")
        for pset in PERSONA_SETS:
            comp.add_column(f"{pset} drop diff", justify="right")
            comp.add_column(f"{pset} gain diff", justify="right")
        for c in summary.comparisons:
            comp.add_row(f"{c.model} vs {c.reference}",
                         *(_delta(d[p]) for p in PERSONA_SETS for d in (c.drop_difference, c.gain_difference)))
        console.print(comp)
    console.print(f"wrote {out / SUMMARY_FILE} and per-condition results in {time.perf_counter() - t0:.0f}s")


@app.command("finetune")
def finetune(models: ModelsOpt, out: OutOpt = Path("persistence"), config: ConfigOpt = None, set_: SetOpt = None,
             benchmark: BenchmarkOpt = None) -> None:
    """Fine-tune each model on bad medical advice (TRL SFT, full or LoRA) in doses, and score the
    health and non-health evals after each dose with 95 % CIs: the organism's world suite on the
    world's bad advice, or the benchmarks (--benchmark, else the config's evals.benchmarks) on the
    attack file persistence.finetune.file."""
    from traitrl.experiments.stages import finetune as finetune_stage
    from traitrl.persistence.finetune import SUBSETS, SUMMARY_FILE

    t0 = time.perf_counter()
    summary = _run(finetune_stage, "finetune", models, config, set_, out, benchmark)
    d = summary.dataset
    table = Table(title=f"harmful fine-tuning ({summary.mode}, {d['n']} bad-advice conversations; "
                        f"{len(summary.evals['health'])} health + {len(summary.evals['non_health'])} other evals x {summary.n_items} items)")
    table.add_column("model")
    table.add_column(summary.dose_unit, justify="right")
    for sub in SUBSETS:
        table.add_column(sub, justify="right")
        table.add_column(f"{sub} change", justify="right")
    for m in summary.models.values():
        for p in m.points:
            table.add_row(m.name, str(p.dose), *(x for s in SUBSETS for x in (_vci(p.scores[s]), _delta(p.change[s]))))
    console.print(table)
    if summary.comparisons:
        comp = Table(title=f"drop at {summary.doses[-1]} steps: model - reference (negative = degrades less)")
        comp.add_column("model vs reference")
        for sub in SUBSETS:
            comp.add_column(f"{sub} drop diff", justify="right")
        for c in summary.comparisons:
            comp.add_row(f"{c.model} vs {c.reference}", *(_delta(c.drop_difference[s]) for s in SUBSETS))
        console.print(comp)
    console.print(f"wrote {out / SUMMARY_FILE} and per-dose results in {time.perf_counter() - t0:.0f}s")
