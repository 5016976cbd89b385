"""`traitrl organism build` and `traitrl organism probe`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from traitrl.commands.common import ConfigOpt, SetOpt, require_model_dir, resolve_config
from traitrl.console import console, progress

app = typer.Typer(help="Build and probe the CPU model organism.", no_args_is_help=True)


@app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the organism (Hugging Face format).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Sample the corpus, train the tokenizer and pretrain the tiny Llama. Keyed by the config
    sections and code it depends on: a second call with the same inputs returns at once."""
    from traitrl.experiments import stages
    from traitrl.experiments.stage import call

    cfg = resolve_config(config, set_)
    t0 = time.perf_counter()
    path = Path(call(stages.organism, cfg, Path("."), dest=str(out)).path)
    info = json.loads((path / "build.json").read_text())
    console.print(f"organism: {path} ({info.get('params', '?'):,} parameters, final loss {info.get('final_loss', float('nan')):.3f}) "
                  f"in {time.perf_counter() - t0:.0f}s")


@app.command("probe")
def probe(
    model: Annotated[Path, typer.Option("--model", "-m", help="Organism or trained model folder.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the probe results as JSON.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    n: Annotated[int | None, typer.Option(help="Prompts per condition (default: evals.probe_items).")] = None,
) -> None:
    """Per evaluation family and training-dialect trait: parse rate and aligned rate with no system
    prompt, under unseen and known harmful and careful personas; the trait scenarios by the pressure
    they carry; plus capability reward. Any model folder (an organism or a trained arm's model)."""
    from traitrl.atomic import write_json
    from traitrl.evals.probe import BAND, CONDITIONS, run_probe

    cfg = resolve_config(config, set_, model)
    from traitrl.models.loader import load_policy

    policy = load_policy(require_model_dir(model), cfg)
    n = n or cfg.evals.probe_items
    with progress() as bar:
        task = bar.add_task("probing", total=len(CONDITIONS) + 1)
        result = run_probe(cfg, policy, n=n, seed=cfg.evals.item_seed, progress=lambda: bar.advance(task))
    table = Table(title=f"organism probe: {model} ({n} eval + {result['n_trait_items']} trait prompts per condition)")
    table.add_column("family / trait")
    for c in CONDITIONS:
        table.add_column(c, justify="right")
    table.add_column("n", justify="right")
    table.add_column("none: 95 % CI, band", justify="right")

    def add(name: str, row: dict) -> None:
        ci = row["none_ci"]
        shown = " ".join(filter(None, (f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "-", row.get("band"))))
        table.add_row(name, *(f"{row[c]:.2f}" if row[c] is not None else "-" for c in CONDITIONS), str(row["n"]), shown)

    for rows, mean, label, count in ((result["families"], result["mean"], "mean (eval dialect)", n),
                                     (result["traits"], result["mean_train"], "mean (training dialect)", result["n_trait_items"])):
        for fam, row in rows.items():
            add(fam, row)
        table.add_row(f"[bold]{label}[/bold]", *(f"[bold]{mean[c]:.2f}[/bold]" for c in CONDITIONS), str(count), "", end_section=True)
    # the training-dialect rows again, by the pressure each carries (no band: it is a per-trait constraint)
    for pressure, row in result["pressures"].items():
        add(f"pressure: {pressure}", row)
    console.print(table)
    m = result["mean"]
    acc = result["capability_accuracy"]
    console.print(f"parse rate: eval dialect {result['parse_rate']:.3f}, training dialect {result['parse_rate_train']:.3f}; "
                  f"capability accuracy {'-' if acc is None else f'{acc:.3f}'} "
                  f"{ {k: None if v is None else round(v, 2) for k, v in result['capability'].items()} } "
                  f"(unscored {result['capability_unscored']})")
    console.print(f"known personas: harmful {100 * (m['known_harmful'] - m['none']):+.1f} pts, careful {100 * (m['known_careful'] - m['none']):+.1f} pts; "
                  f"unseen: careful - harmful {100 * (m['careful'] - m['harmful']):+.1f} pts")
    verdicts = [r["band"] for rows in (result["families"], result["traits"]) for r in rows.values()]
    console.print(f"band {BAND[0]:.0%}-{BAND[1]:.0%} with no prompt: {verdicts.count('in')} in, "
                  f"{verdicts.count('below')} below, {verdicts.count('above')} above, "
                  f"{verdicts.count('unresolved')} unresolved at this n (of {len(verdicts)} families and traits)")
    if json_out:
        write_json(json_out, result)
