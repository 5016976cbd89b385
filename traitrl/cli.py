"""The `traitrl` command."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from traitrl import taxonomy
from traitrl.commands.common import ConfigOpt, SetOpt, resolve_config
from traitrl.console import console, err_console, progress
from traitrl.errors import UserError

app = typer.Typer(
    name="traitrl",
    help="Beneficial-trait RL: train with a small dose of trait RL, measure whether alignment generalizes and persists.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
scenarios_app = typer.Typer(help="Generate and validate trait scenario files.", no_args_is_help=True)
grader_app = typer.Typer(help="Inspect the deterministic world grader.", no_args_is_help=True)
config_app = typer.Typer(help="Show and check experiment configs.", no_args_is_help=True)
app.add_typer(scenarios_app, name="scenarios")
app.add_typer(grader_app, name="grader")
app.add_typer(config_app, name="config")

from traitrl.commands import evaluate as _evaluate  # noqa: E402
from traitrl.commands import organism as _organism  # noqa: E402
from traitrl.commands import persist as _persist  # noqa: E402
from traitrl.commands import report as _report  # noqa: E402
from traitrl.commands import train as _train  # noqa: E402

app.add_typer(_organism.app, name="organism")
app.add_typer(_persist.app, name="persist")
app.command("train")(_train.train_command)
app.command("eval")(_evaluate.eval_command)
app.command("compare")(_evaluate.compare_cmd)
app.command("report")(_report.report_command)

# -- config ----------------------------------------------------------------------------------
@config_app.command("show")
def config_show(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Print the resolved config (file + overrides + defaults) as YAML."""
    console.print(resolve_config(config, set_).to_yaml(), end="", markup=False, highlight=False)


# -- scenarios -------------------------------------------------------------------------------
@scenarios_app.command("generate")
def scenarios_generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write train.jsonl and dev.jsonl into.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Write train.jsonl (trait scenarios + capability tasks) and dev.jsonl from the world."""
    from traitrl.atomic import check_output_folder
    from traitrl.experiments import stages
    from traitrl.experiments.stage import call
    from traitrl.scenarios.generate import counts_table
    from traitrl.scenarios.io import read_scenarios

    cfg = resolve_config(config, set_)
    check_output_folder(out)
    t0 = time.perf_counter()
    with err_console.status("generating scenarios"):
        result = call(stages.scenarios, cfg, Path("."), dest=str(out))
    rows, cols, counts = counts_table(read_scenarios(out / "train.jsonl"))
    table = Table(title=f"train.jsonl: {result.counts['train']} rows (dev.jsonl: {result.counts['dev']})")
    table.add_column("trait / task")
    for c in cols:
        table.add_column(c, justify="right")
    table.add_column("total", justify="right", style="bold")
    for r in rows:
        vals = [counts[(r, c)] for c in cols]
        table.add_row(r, *map(str, vals), str(sum(vals)))
    console.print(table)
    console.print(f"wrote {out / 'train.jsonl'} and {out / 'dev.jsonl'} in {time.perf_counter() - t0:.1f}s")


@scenarios_app.command("generate-llm")
def scenarios_generate_llm(
    out: Annotated[Path, typer.Option("--out", "-o", help="Scenario JSONL file to write.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    per_cell: Annotated[int, typer.Option(help="Scenarios per trait x domain x pressure cell.")] = 1,
    limit: Annotated[int | None, typer.Option(help="Stop after this many requests (for a trial run).")] = None,
) -> None:
    """Ask the configured LLM (the `judge:` endpoint) for realistic multi-turn trait scenarios with
    rubrics over the trait x domain x pressure grid; validate, de-duplicate, write JSONL. The
    completion-token limit and the other generator settings are scenarios.llm's (max_tokens 2048)."""
    from traitrl.atomic import check_output_file
    from traitrl.config import LLMScenarioOptions
    from traitrl.scenarios.llm_generator import generate_llm_scenarios

    cfg = resolve_config(config, set_)
    if cfg.judge is None:
        raise UserError("scenarios generate-llm needs a `judge:` section (base_url, model, api_key_env) in the config")
    check_output_file(out)
    sc = cfg.scenarios
    llm = sc.llm or LLMScenarioOptions()  # the generator's settings (max_tokens, max_turns, ...) from the config
    report = generate_llm_scenarios(cfg.judge, out, traits=tuple(sc.traits), domains=tuple(sc.domains),
                                    pressures=tuple(p for p in sc.pressures if p != "none"), per_cell=per_cell,
                                    limit=limit, seed=sc.seed, max_turns=llm.max_turns,
                                    max_tokens=llm.max_tokens, temperature=llm.temperature,
                                    dedup_threshold=llm.dedup_threshold, show_progress=True)
    console.print(report.to_dict())


@scenarios_app.command("assemble")
def scenarios_assemble(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write train.jsonl, dev.jsonl and manifest.json into.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """A given policy's scenarios from the config's sources (scenarios.files, scenarios.capability,
    scenarios.llm): one row per prompt (the first listed source wins), a dev split by a hash of each
    row's id, written together with a manifest of each source's sha256 and rows."""
    from traitrl.experiments import stages
    from traitrl.experiments.stage import call
    from traitrl.scenarios.assemble import check_assembly_folder, read_manifest
    from traitrl.scenarios.sources import has_sources

    cfg = resolve_config(config, set_)
    if not has_sources(cfg):
        raise UserError("scenarios assemble: the config names no sources; set scenarios.files, scenarios.capability "
                        "or scenarios.llm")
    check_assembly_folder(out)
    inputs = stages.assembly_inputs(cfg)  # every file read and its pin checked before the generator is asked
    call(stages.assemble_scenarios, cfg, Path("."), dest=str(out), **inputs)  # the generator shows its progress
    _print_assembly(out, read_manifest(out))


def _print_assembly(out: Path, manifest) -> None:
    from collections import Counter

    from traitrl.scenarios.io import read_scenarios

    kinds: dict[str, Counter] = {}
    for split in ("train", "dev"):
        for s in read_scenarios(out / f"{split}.jsonl"):
            kinds.setdefault(s.trait, Counter())[split] += 1
    table = Table(title=f"{out}: {manifest.counts['train']} train rows, {manifest.counts['dev']} dev rows")
    for col in ("trait / task", "train", "dev", "total"):
        table.add_column(col, justify="left" if col == "trait / task" else "right")
    for kind in sorted(kinds, key=lambda k: (taxonomy.is_capability(k), k)):
        c = kinds[kind]
        table.add_row(kind, str(c["train"]), str(c["dev"]), str(c.total()))
    console.print(table)
    sources = Table(title="sources (the first listed wins a duplicate prompt)")
    for col in ("source", "sha256", "split", "rows", "kept", "train", "dev"):
        sources.add_column(col, justify="left" if col in ("source", "sha256", "split") else "right",
                           overflow="fold")
    for s in manifest.sources:
        sources.add_row(s.name, (s.sha256 or "-")[:12], s.split, str(s.rows), str(s.kept), str(s.train), str(s.dev))
    console.print(sources)
    for d in manifest.duplicates[:5]:
        console.print(f"duplicate: {d.id} ({d.source}) dropped, kept {d.kept_id} ({d.kept_source})", highlight=False)
    if len(manifest.duplicates) > 5:
        console.print(f"... {len(manifest.duplicates) - 5} more duplicates in {out / 'manifest.json'}")
    console.print(f"wrote {out / 'train.jsonl'}, {out / 'dev.jsonl'} and {out / 'manifest.json'}", highlight=False)


@scenarios_app.command("validate")
def scenarios_validate(file: Annotated[Path, typer.Argument(help="Scenario JSONL file.")]) -> None:
    """Check every line of a scenario file; the first problem is reported as FILE:LINE: field: problem."""
    from collections import Counter

    from traitrl.scenarios.io import read_scenarios

    scenarios = read_scenarios(file)
    by_split = Counter(s.split for s in scenarios)
    graders = Counter(s.grader for s in scenarios)
    console.print(f"[green]ok[/green] {file}: {len(scenarios)} scenarios; splits {dict(by_split)}; graders {dict(graders)}")


@scenarios_app.command("import")
def scenarios_import(
    format_: Annotated[str, typer.Option("--format", help="Source format: gsm8k (question, answer with '#### N') or math (problem, solution with \\boxed{}).")],
    file: Annotated[Path, typer.Option("--file", help="The dataset's JSONL file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Scenario JSONL file to write.")],
    sha256: Annotated[str | None, typer.Option(help="Refuse the file unless its sha256 is this (pin a download).")] = None,
    split: Annotated[str, typer.Option(help="Split of the rows: train or dev.")] = "train",
    domain: Annotated[str, typer.Option(help="Domain recorded on the rows.")] = "education",
    instruction: Annotated[str, typer.Option(help="Text appended to every question, e.g. how to state the answer.")] = "",
    limit: Annotated[int | None, typer.Option(help="Import at most this many rows.")] = None,
) -> None:
    """Turn a standard RL dataset into capability rows graded by the numeric verifier."""
    from traitrl.atomic import check_output_file
    from traitrl.scenarios.importers import import_rows
    from traitrl.scenarios.io import write_scenarios

    check_output_file(out)
    imported = import_rows(format_, file, sha256=sha256, split=split, domain=domain, instruction=instruction,
                           limit=limit)
    write_scenarios(out, imported.rows)
    console.print(f"[green]ok[/green] {out}: {len(imported.rows)} {format_} rows (grader numeric) from {file}, "
                  f"sha256 {imported.sha256}")


# -- grader ----------------------------------------------------------------------------------
@grader_app.command("check")
def grader_check(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    n: Annotated[int, typer.Option(help="Scenarios per trait x domain cell.")] = 10,
) -> None:
    """Grade the world's own aligned, misaligned and stuffed responses in every trait x domain
    cell and print the confusion table. Exits 1 if any cell fails."""
    from traitrl.scenarios.generate import world_from_config

    cells = run_grader_check(world_from_config(resolve_config(config, set_)), n)
    if not all(c.ok for c in cells):
        raise typer.Exit(1)


def run_grader_check(world, n: int):
    from collections import Counter

    from traitrl.graders.selfcheck import BUCKETS, check_world

    total = len(taxonomy.TRAITS) * len(taxonomy.DOMAINS)
    with progress() as bar:
        task = bar.add_task("grading reference responses", total=total)
        cells = check_world(world, n=n, progress=lambda: bar.advance(task))
    table = Table(title=f"world grader on its own reference responses ({n} scenarios per trait x domain, every paraphrase)")
    for col in ("trait", "cells ok", "min aligned", "max misaligned", "max stuffed"):
        table.add_column(col, justify="left" if col == "trait" else "right")
    for t in taxonomy.TRAITS:
        cs = [c for c in cells if c.trait == t]
        ok = sum(c.ok for c in cs)
        table.add_row(t, f"[{'green' if ok == len(cs) else 'red'}]{ok}/{len(cs)}[/]",
                      f"{min(c.aligned_min for c in cs):.2f}", f"{max(c.misaligned_max for c in cs):.2f}",
                      f"{max(c.stuffed_max for c in cs):.2f}")
    console.print(table)
    confusion = sum((c.confusion for c in cells), Counter())
    matrix = Table(title="confusion: response kind x graded score")
    matrix.add_column("response")
    for b in BUCKETS:
        matrix.add_column(b, justify="right")
    for kind in ("aligned", "misaligned", "stuffed"):
        matrix.add_row(kind, *(str(confusion[(kind, b)]) for b in BUCKETS))
    console.print(matrix)
    bad = [c for c in cells if not c.ok]
    console.print(f"{len(cells) - len(bad)} of {len(cells)} cells pass (aligned >= 0.9, misaligned <= 0.2, stuffed <= 0.2)")
    for c in bad[:5]:
        console.print(f"[red]{c.trait} x {c.domain}[/red]: {c.failures[:2]}")
    return cells


# -- run ---------------------------------------------------------------------------------------
@app.command("run")
def run(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (runs/NAME).")] = Path("runs/default"),
    config: ConfigOpt = None,
    set_: SetOpt = None,
    seeds: Annotated[int | None, typer.Option(help="RL seeds per arm (default: run.seeds of the config); the scoreboards take them as replicates.")] = None,
    backend: Annotated[str | None, typer.Option(help="Where independent stages run: local (a process pool, the default) or ray (run.backend).")] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes (0 = one per core, 1 = one stage at a time; run.workers).")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join with --backend ray (default: a local Ray instance).")] = None,
) -> None:
    """The paper end to end: scenarios -> organism -> compute-matched RL arms -> held-out suite ->
    scoreboards -> persistence -> results.json and report.html. Every stage is cached; rerun the
    same command to resume after an interruption."""
    from traitrl.config import load_config
    from traitrl.experiments.pipeline import run_experiment

    if seeds is not None and seeds < 1:
        raise UserError("--seeds must be at least 1")
    extra = [f"run.{k}={v}" for k, v in (("seeds", seeds), ("backend", backend), ("workers", workers),
                                         ("ray_address", ray_address)) if v is not None]
    run_experiment(load_config(config, [*(set_ or []), *extra], check_paths=True), out)


@app.command("nulls")
def nulls(
    run_dir: Annotated[Path, typer.Option("--run", "-r", help="The run folder whose claims the null runs test (its config.yaml is used).")] = Path("runs/default"),
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this null (rho0, tau0; kappa0 on request); repeatable.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes (0 = one per core; run.workers).")] = None,
) -> None:
    """The null runs beside the default report's claims: corpus.rho = 0 (generalisation) and
    corpus.operator_tie = 0 (selective persistence), each the same study with the knob at its null,
    baseline and trait arms only, into RUN/nulls/NAME. Rebuilds RUN/report.html, which sets
    each claim beside its null."""
    from traitrl.config import load_config
    from traitrl.experiments.nulls import run_nulls, selected

    selected(only)  # an unknown name fails before any work
    cfg_file = run_dir / "config.yaml"
    if not cfg_file.is_file():
        raise UserError(f"{cfg_file}: not found; run `traitrl run --out {run_dir}` first (the null runs reuse its config)")
    overrides = [f"run.workers={workers}"] if workers is not None else []
    paths = run_nulls(load_config(cfg_file, overrides), run_dir, only)
    if (run_dir / "results.json").is_file():
        from traitrl.report import build_report

        console.print(f"rebuilt {build_report(run_dir)}")
    console.print("null runs: " + ", ".join(str(p) for p in paths))


@app.command("sweep")
def sweep(
    config: Annotated[Path, typer.Option("--config", "-c", help="Sweep file (e.g. configs/sweeps/smoke.yaml).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Sweep folder: cells/NAME run folders, sweep.json, report.html.")],
    set_: SetOpt = None,
    reuse: Annotated[list[Path] | None, typer.Option("--reuse", help="A finished run or sweep folder whose stages with the same key (organism, baseline arms, their evaluations) are adopted, hard-linked, instead of rerun; repeatable.")] = None,
) -> None:
    """A grid of runs over config keys (trait fraction, corpus.rho, seeds, leave-one-trait-out):
    every cell a cached, resumable run; cells with the same corpus share one organism. Writes
    sweep.json and report.html with each cell's "improved X of N", mean delta with seed CIs,
    in-distribution gain and persistence endpoint."""
    from traitrl.experiments.sweep import run_sweep

    path = run_sweep(config, out, set_, reuse or ())
    console.print(f"wrote {path} and {out / 'report.html'}")


def main() -> None:
    """Entry point: user errors print one message and exit 2, without a traceback."""
    import signal

    # SIGTERM (a scheduler, `kill`) unwinds like Ctrl-C, so temporary files and folders are removed
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        app()
    except UserError as e:
        from rich.markup import escape

        from traitrl.errors import redact

        # the last guard for secrets: whatever a message quotes, a key-like value never reaches the terminal
        err_console.print(f"[red]error:[/red] {escape(redact(str(e)))}", highlight=False, markup=True)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
