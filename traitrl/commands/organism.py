"""`traitrl organism build` and `traitrl organism probe`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from traitrl.commands.common import MODEL_CONFIG, ConfigOpt, SetOpt, load_policy, resolve_config
from traitrl.console import console, progress

app = typer.Typer(help="Build and probe the CPU model organism.", no_args_is_help=True)


def build_model(cfg, out: Path) -> Path:
    """Build (or reuse, when config and code are unchanged) the organism in `out`."""
    from traitrl.atomic import write_text
    from traitrl.models.build import build_organism
    from traitrl.world.corpus import sample_corpus

    path = build_organism(cfg, out, lambda: sample_corpus(cfg))
    write_text(Path(path) / MODEL_CONFIG, cfg.to_yaml())
    return Path(path)


@app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the organism (Hugging Face format).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Sample the corpus, train the tokenizer and pretrain the tiny Llama. Cached by a hash of
    config and code version: a second call with the same inputs returns at once."""
    cfg = resolve_config(config, set_)
    t0 = time.perf_counter()
    path = build_model(cfg, out)
    info = json.loads((path / "build.json").read_text())
    console.print(f"organism: {path} ({info.get('params', '?'):,} parameters, final loss {info.get('final_loss', float('nan')):.3f}) "
                  f"in {time.perf_counter() - t0:.0f}s")


@app.command("probe")
def probe(
    model: Annotated[Path, typer.Option("--model", "-m", help="Organism folder.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the probe results as JSON.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    n: Annotated[int | None, typer.Option(help="Prompts per condition (default: evals.probe_items).")] = None,
) -> None:
    """Per evaluation family: parse rate and aligned rate with no system prompt, under unseen and
    known harmful and careful personas; plus capability reward."""
    from traitrl.atomic import write_json
    from traitrl.evals.probe import CONDITIONS, run_probe

    cfg = resolve_config(config, set_, model)
    policy = load_policy(model, cfg)
    n = n or cfg.evals.probe_items
    with progress() as bar:
        task = bar.add_task("probing", total=len(CONDITIONS) + 1)
        result = run_probe(cfg, policy.generate, n=n, seed=cfg.evals.item_seed, progress=lambda: bar.advance(task))
    table = Table(title=f"organism probe: {model} ({n} eval + {result['n_trait_items']} trait prompts per condition)")
    table.add_column("family / trait")
    for c in CONDITIONS:
        table.add_column(c, justify="right")
    table.add_column("n", justify="right")
    for rows, mean, label, count in ((result["families"], result["mean"], "mean (eval dialect)", n),
                                     (result["traits"], result["mean_train"], "mean (training dialect)", result["n_trait_items"])):
        for fam, row in rows.items():
            table.add_row(fam, *(f"{row[c]:.2f}" if row[c] is not None else "-" for c in CONDITIONS), str(row["n"]))
        table.add_row(f"[bold]{label}[/bold]", *(f"[bold]{mean[c]:.2f}[/bold]" for c in CONDITIONS), str(count), end_section=True)
    console.print(table)
    m = result["mean"]
    console.print(f"parse rate: eval dialect {result['parse_rate']:.3f}, training dialect {result['parse_rate_train']:.3f}; "
                  f"capability accuracy {result['capability_accuracy']:.3f} "
                  f"{ {k: round(v, 2) for k, v in result['capability'].items()} }")
    console.print(f"known personas: harmful {100 * (m['known_harmful'] - m['none']):+.1f} pts, careful {100 * (m['known_careful'] - m['none']):+.1f} pts; "
                  f"unseen: careful - harmful {100 * (m['careful'] - m['harmful']):+.1f} pts")
    if json_out:
        write_json(json_out, result)
